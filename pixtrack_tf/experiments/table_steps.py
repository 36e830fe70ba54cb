"""The four steps of a ``reproduce`` table, each callable on its own with a
:class:`~pixtrack_tf.experiments.reproduce.Request`:

1. :func:`train_folds`: Sec. 5.1's iterative procedure and the FCN baseline for each fold, resumed
   from what its run folder holds (nothing for reference trackers, a finished ``--run`` or a SavedModel);
2. :func:`track_methods`: every method on the test clips of each length (the protocol of Sec. 5.2,
   raw results in ``OUT/raw/fold<k>/<method>``) and, with ``davis_measures``, on whole sequences
   (``OUT/raw_full``); clips already tracked are kept;
3. :func:`evaluate_methods`: Eq. 3 IoU at each threshold, pixel ROC, ROI measures, DAVIS J and F, from
   the raw results alone;
4. :func:`write_report`: ``table<N>.md`` / ``.json`` with the paper's rows, the claims and the figures.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from pixtrack_tf.experiments.claims import evaluate_claims, format_claims
from pixtrack_tf.experiments.report import THRESHOLDS, format_davis, format_markdown, format_roi
from pixtrack_tf.experiments.reproduce import METHODS_BY_NAME, REFERENCES


def _needs(req) -> tuple[bool, bool, tuple]:
    """(any trained model needed, the FCN needed, which Sec. 5.1 models the methods use)."""
    keys = set(req.method_keys.values())
    need_fcn = any("fcn" in v for v in keys)
    uses_local = {"t2-convlstm-gtroi", "t3-1stage", "t3-2stage"} & keys
    need = ("local", "global") if "t3-2stage" in keys else ("local",) if uses_local else ()
    need_models = bool(keys - set(REFERENCES.values()) - {"plus"}) and not req.saved
    return need_models, need_fcn, need


def _fcn_dir(req):
    return Path(req.fcn) / "fcn" if (req.run and req.fcn) else None  # else RUN/fcn


def train_fold(cfg, train_seqs, run_dir: Path, data_desc, need_fcn=True, force=False, progress=True):
    """Sec. 5.1's procedure (and the FCN baseline) into ``run_dir``, resuming what is there."""
    from pixtrack_tf.training.iterative import train_stage
    from pixtrack_tf.training.loop import prepare_run_dir

    prepare_run_dir(run_dir, cfg, resume=True, force=force, data=data_desc)
    train_stage(cfg, train_seqs, run_dir, "iterative", progress=progress)
    if need_fcn:
        train_stage(cfg, train_seqs, run_dir, "fcn", progress=progress)


def train_folds(req, timings: dict | None = None) -> list[Path]:
    """Step 1: the run folder of each fold, trained here where ``req.run`` names none (``OUT/runs/fold<k>``)."""
    from pixtrack_tf.config import load_config
    from pixtrack_tf.runs import find_weights

    timings = {} if timings is None else timings
    need_models, need_fcn, _ = _needs(req)
    fcn_dir = _fcn_dir(req)
    run_dirs = []
    for k, (train_seqs, _) in enumerate(req.folds):
        run_dir = Path(req.run) if req.run else req.out / "runs" / f"fold{k}"
        t0 = time.perf_counter()
        if not need_models:
            pass  # reference trackers only (or a SavedModel): nothing to train
        elif req.run is None:
            desc = {**req.desc, "fold": k, "train": [s.name for s in train_seqs]}
            train_fold(req.cfg, train_seqs, run_dir, desc, need_fcn, req.force, req.progress)
        elif fcn_dir and need_fcn and not (fcn_dir / "model.weights.h5").exists():
            raise FileNotFoundError(
                f"{req.fcn}: no fcn/model.weights.h5 (train it with pixtrack train --stage fcn --out {req.fcn})"
            )
        elif need_fcn and not fcn_dir and "fcn" not in find_weights(run_dir):
            from pixtrack_tf.training.iterative import train_stage

            train_stage(load_config(run_dir / "config.yaml"), train_seqs, run_dir, "fcn", progress=req.progress)
        timings[f"fold{k}_train_s"] = time.perf_counter() - t0
        run_dirs.append(run_dir)
    return run_dirs


def make_factories(table, cfg, lm, gm, fcn, plus=None):
    from pixtrack_tf.tracking import GroundTruthRoiTracker, OneStageTracker, TwoStageTracker

    cache = {}

    def built(key, build):  # one tracker per method, built once
        if key not in cache:
            cache[key] = build()
        return cache[key]

    def gt_factory(key, model):
        def make(seq, clip):
            tr = built(key, lambda: GroundTruthRoiTracker(model, cfg))
            tr.set_ground_truth([seq.mask(i) for i in clip.indices])
            return tr

        return make

    def fixed(key, build):
        return lambda seq, clip: built(key, build)

    from pixtrack_tf.tracking.reference import reference_tracker

    refs = {v: fixed(v, lambda v=v: reference_tracker(v[len("ref-") :], cfg)) for v in REFERENCES.values()}
    if table == 2:
        return {"t2-convlstm-gtroi": gt_factory("lstm", lm), "t2-fcn-gtroi": gt_factory("fcn", fcn), **refs}
    return {
        "t3-2stage": fixed("2s", lambda: TwoStageTracker(lm, gm, cfg)),
        "t3-1stage": fixed("1s", lambda: OneStageTracker(lm, cfg)),
        "t3-fcn": fixed("fcn1s", lambda: OneStageTracker(fcn, cfg)),
        "plus": fixed("plus", lambda: _plus_tracker(cfg, plus)),
        **refs,
    }


def _plus_tracker(cfg, model):
    from pixtrack_tf.tracking.plus import SinglePlusTracker

    if model is None:
        raise FileNotFoundError("pixtrack+ needs a run folder (--run) with a trained plus/ model (train --stage plus)")
    return SinglePlusTracker(cfg, model)


def fold_factories(req, run_dir: Path):
    """(config, {method: tracker factory}) of one fold: its trained models (``req.run``'s config with
    ``req.overrides``), the SavedModel of ``req.run``, or the reference trackers alone."""
    from pixtrack_tf.runs import load_fold_models

    need_models, _, need = _needs(req)
    if need_models:
        overrides = req.overrides if req.run else ()
        cfg, lm, gm, fcn = load_fold_models(run_dir, overrides, need, _fcn_dir(req))
    else:
        cfg, lm, gm, fcn = req.cfg, None, None, None
    plus = None
    if "plus" in req.method_keys.values():
        from pixtrack_tf.runs import load_plus

        cfg, plus = load_plus(run_dir, req.overrides)
    factories = make_factories(req.table, cfg, lm, gm, fcn, plus)
    if req.saved:
        from pixtrack_tf.tracking.savedmodel import SavedModelTracker

        factories["t3-2stage"] = lambda seq, clip, t=SavedModelTracker(req.run): t
    return cfg, factories


def track_methods(req, run_dirs, timings: dict | None = None) -> None:
    """Step 2: raw results of every method on each fold's test clips (and whole sequences)."""
    from pixtrack_tf.evaluation.protocol import run_clips, sample_clips, whole_sequences

    timings = {} if timings is None else timings
    lengths = tuple(req.cfg.eval.lengths)
    for k, ((_, test_seqs), run_dir) in enumerate(zip(req.folds, run_dirs)):
        t0 = time.perf_counter()
        cfg, factories = fold_factories(req, run_dir)
        clips = sample_clips(test_seqs, lengths, req.clips_per_sequence, seed=cfg.seed + 1000 + k)
        for method in req.method_keys.values():
            run_clips(method, factories[method], clips, test_seqs, req.out / "raw" / f"fold{k}", progress=req.progress)
            if req.davis_measures:
                raw_full = req.out / "raw_full" / f"fold{k}"
                run_clips(method, factories[method], whole_sequences(test_seqs), test_seqs, raw_full, req.progress)
        timings[f"fold{k}_track_s"] = time.perf_counter() - t0


@dataclass
class Evaluation:
    """What step 3 measured, per method (raw-results folder name): Table 2/3 clips and pixel ROC,
    and the whole-sequence clips of the DAVIS measures."""

    results: dict = field(default_factory=dict)
    davis: dict = field(default_factory=dict)


def evaluate_methods(req) -> Evaluation:
    """Step 3: every method's raw results of every fold against the ground truth."""
    from pixtrack_tf.evaluation import evaluator
    from pixtrack_tf.evaluation.metrics import RocAccumulator

    thresholds = THRESHOLDS[req.table]
    ev = Evaluation()
    for m in req.method_keys.values():
        ev.results[m] = {"clips": [], "roc": RocAccumulator()}
        ev.davis[m] = {"clips": [], "roc": RocAccumulator()}
    for k, (_, test_seqs) in enumerate(req.folds):
        for m in req.method_keys.values():
            res = evaluator.evaluate_method(req.out / "raw" / f"fold{k}" / m, test_seqs, thresholds)
            ev.results[m]["clips"] += res["clips"]
            ev.results[m]["roc"].merge(res["roc"])
            if req.davis_measures:
                res = evaluator.evaluate_method(
                    req.out / "raw_full" / f"fold{k}" / m, test_seqs, thresholds, davis=True
                )
                ev.davis[m]["clips"] += res["clips"]
    return ev


def worst_sequences_figure(davis_row: dict, raw_full: Path, sequences, out: Path, n: int = 3) -> str:
    """Failure cases: overlays of the ``n`` whole sequences with the lowest J of the first method."""
    from pixtrack_tf.evaluation.protocol import read_clip
    from pixtrack_tf.experiments import figures

    method = METHODS_BY_NAME[davis_row["method"]]
    worst = sorted(davis_row["per_sequence"].items(), key=lambda kv: kv[1]["J"])[:n]
    by_name = {s.name: s for s in sequences}
    rows = []
    for name, _ in worst:
        d = next((raw_full / method / name).glob("*"), None)
        if d is not None:
            meta, probs = read_clip(d)
            rows.append(figures.overlay_strip(by_name[name], meta, probs))
    path = out / "davis_lowest_J.png"
    return figures.save_overlays(rows, path) if rows else ""


def _figures(req, ev: Evaluation, names: dict, davis_rows) -> list[str]:
    """ROC, IoU per frame, overlays of the longest clips, the ROI's follow and the lowest-J sequences."""
    from pixtrack_tf.evaluation import evaluator
    from pixtrack_tf.evaluation.protocol import read_clip
    from pixtrack_tf.experiments import figures

    out, thresholds, lengths = req.out, THRESHOLDS[req.table], tuple(req.cfg.eval.lengths)
    figs = []
    if any(r["clips"] for r in ev.results.values()):
        figs += [
            figures.plot_roc(
                {names[m]: r["roc"] for m, r in ev.results.items()},
                out / f"table{req.table}_roc.png",
                f"Table {req.table} methods: pixel ROC",
            ),
            figures.plot_iou_per_frame(
                {names[m]: evaluator.iou_per_frame(r, max(lengths), thresholds[0]) for m, r in ev.results.items()},
                out / f"table{req.table}_iou_per_frame.png",
                f"IoU per frame, {max(lengths)}-frame clips, threshold {thresholds[0]}",
            ),
        ]
    first_method, rows = list(req.method_keys.values())[0], []
    for k, (_, test_seqs) in enumerate(req.folds):
        by_name = {s.name: s for s in test_seqs}
        for d in sorted((out / "raw" / f"fold{k}" / first_method).glob(f"*/L{max(lengths):04d}_*"))[:4]:
            meta, probs = read_clip(d)
            rows.append(figures.overlay_strip(by_name[meta["sequence"]], meta, probs))
    if rows:
        figs.append(figures.save_overlays(rows, out / f"table{req.table}_overlays.png"))
    if any(r["clips"] for r in ev.results.values()):
        figs.append(
            figures.plot_roi_follow(
                {names[m]: out / "raw" / "fold0" / m for m in req.method_keys.values()},
                req.folds[0][1],
                out / f"table{req.table}_roi_follow.png",
                max(lengths),
            )
        )
    if davis_rows:
        worst = worst_sequences_figure(davis_rows[0], out / "raw_full" / "fold0", req.folds[0][1], out)
        figs += [worst] if worst else []
    return figs


def write_report(req, ev: Evaluation, timings: dict, wall: float) -> str:
    """Step 4: ``table<N>.json`` (rows, AUC, ROI, DAVIS, claims, config, provenance) and
    ``table<N>.md``; returns the Markdown."""
    from pixtrack_tf import provenance
    from pixtrack_tf.config import to_dict
    from pixtrack_tf.evaluation import evaluator
    from pixtrack_tf.experiments import paper

    thresholds, lengths = THRESHOLDS[req.table], tuple(req.cfg.eval.lengths)
    names = {v: k for k, v in req.method_keys.items()}
    rows = [row for m, res in ev.results.items() for row in evaluator.iou_rows(names[m], res, thresholds, lengths)]
    davis_rows = [evaluator.davis_rows(names[m], r) for m, r in ev.davis.items() if r["clips"]]
    auc = {names[m]: res["roc"].auc() for m, res in ev.results.items() if res["clips"]}
    roi_rows = [evaluator.roi_row(names[m], r) for m, r in ev.results.items() if r["clips"]]
    figs = _figures(req, ev, names, davis_rows)
    models = {"run": req.run, "fcn_run": req.fcn or req.run} if req.run else None
    prov = provenance.record(seed=req.cfg.seed, config=req.cfg.name, wall_time_s=wall, timings=timings, models=models)
    paper_rows = paper.rows(req.table)
    claims = evaluate_claims(req.table, rows, davis_rows)
    doc = {
        "table": req.table,
        "rows": rows + paper_rows,
        "auc": auc,
        "roi": roi_rows,
        "data": req.desc,
        "lengths": list(lengths),
        "clips_per_sequence": req.clips_per_sequence,
        "config": to_dict(req.cfg),
        "provenance": prov,
        "claims": claims,
    }
    if davis_rows:
        doc["davis"] = davis_rows
        if req.desc["dataset"] == "davis2016":
            doc["davis_published_val_J_mean"] = paper.DAVIS2016_VAL_J
    (req.out / f"table{req.table}.json").write_text(json.dumps(doc, indent=1))
    method_names = [names[m] for m in req.method_keys.values()]
    md = format_markdown(
        req.table, rows, paper_rows, auc, req.desc, prov, req.cfg.name, wall, lengths, figs, method_names
    )
    md += "\n" + format_claims(claims) + "\n" + format_roi(roi_rows)
    if davis_rows:
        md += "\n" + format_davis(davis_rows, req.desc["dataset"] == "davis2016")
    (req.out / f"table{req.table}.md").write_text(md)
    return md
