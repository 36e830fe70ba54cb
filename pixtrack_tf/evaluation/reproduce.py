"""``reproduce``'s library part: for each fold, train what is missing (Sec. 5.1 iterative procedure +
the FCN baseline) or reuse finished runs, track test clips of each length with each method (raw
results), evaluate them, and write ``table<N>.md`` / ``.json`` with the paper's numbers beside ours,
provenance, and figures.

Table 2 (Sec. 5.3): local models on ROIs that follow the ground truth at t - 5 (ConvLSTM vs the
FCN fine-tuned on the first frame). Table 3: 2-stage (Algorithm 1) vs 1-stage (Eq. 5) vs FCN.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from pixtrack_tf.evaluation.claims import evaluate_claims, format_claims
from pixtrack_tf.evaluation.report import THRESHOLDS, format_davis, format_markdown, format_roi

# reference trackers (no training; not the paper's methods) in every table, beside the paper's methods
REFERENCES = {
    "First mask (reference)": "ref-first-mask",
    "Optical flow (reference)": "ref-optical-flow",
    "Feature affinity (reference)": "ref-affinity",
}
METHODS = {
    2: {"ConvLSTM": "t2-convlstm-gtroi", "FCN": "t2-fcn-gtroi", **REFERENCES},
    3: {"2-stage ConvLSTM": "t3-2stage", "1-stage ConvLSTM": "t3-1stage", "FCN": "t3-fcn", **REFERENCES},
}


METHODS_BY_NAME = {name: key for table in METHODS.values() for name, key in table.items()}


class ReproduceError(ValueError):
    """A request ``reproduce`` cannot serve (an unknown method, a run without the models asked for)."""


@dataclass
class Request:
    """What to reproduce: a table, the data and config, and where the models come from.

    ``run``: a finished training run to evaluate instead of training (one fold); ``fcn``: with
    ``run``, another run folder whose ``fcn/`` holds the FCN baseline; ``methods``: a subset of the
    table's methods (None: all); ``overrides``: the ``--set`` values (applied to ``run``'s config too).
    """

    table: int
    cfg: object
    folds: list
    desc: dict
    out: Path
    run: str | None = None
    fcn: str | None = None
    clips: int | None = None
    methods: list | None = None
    davis_measures: bool = False
    force: bool = False
    progress: bool = True
    overrides: list = field(default_factory=list)


def select_methods(table: int, wanted=None) -> dict:
    """{row name: raw-results folder name} of the table's methods, or of the subset ``wanted``."""
    methods = dict(METHODS[table])
    if not wanted:
        return methods
    unknown = [m for m in wanted if m not in methods]
    if unknown:
        raise ReproduceError(f"unknown method(s) {unknown}; Table {table} has {list(methods)}")
    return {m: methods[m] for m in wanted}


def train_fold(cfg, train_seqs, run_dir: Path, data_desc, need_fcn=True, force=False, progress=True):
    """Sec. 5.1's procedure (and the FCN baseline) into ``run_dir``, resuming what is there."""
    from pixtrack_tf.training.iterative import train_stage
    from pixtrack_tf.training.loop import prepare_run_dir

    prepare_run_dir(run_dir, cfg, resume=True, force=force, data=data_desc)
    train_stage(cfg, train_seqs, run_dir, "iterative", progress=progress)
    if need_fcn:
        train_stage(cfg, train_seqs, run_dir, "fcn", progress=progress)


def load_fold_models(run_dir: Path, overrides=(), need=("local", "global"), fcn_dir=None):
    from pixtrack_tf.models import FCNModel
    from pixtrack_tf.tracking.run import find_weights, load_models, load_trained

    cfg, lm, gm = load_models(run_dir, need=need, overrides=overrides)
    fcn_weights = Path(fcn_dir) / "model.weights.h5" if fcn_dir else find_weights(run_dir).get("fcn")
    fcn = load_trained(FCNModel, cfg, fcn_weights) if fcn_weights and fcn_weights.exists() else None
    return cfg, lm, gm, fcn


def make_factories(table, cfg, lm, gm, fcn):
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
        **refs,
    }


def worst_sequences_figure(davis_row: dict, raw_full: Path, sequences, out: Path, n: int = 3) -> str:
    """Failure cases: overlays of the ``n`` whole sequences with the lowest J of the first method."""
    from pixtrack_tf.evaluation import figures
    from pixtrack_tf.evaluation.protocol import read_clip

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


def reproduce_table(req: Request) -> str:
    """Train (or reuse), track, evaluate and write Table ``req.table``; returns its Markdown.
    Raises DataError, ConfigError, RunDirError, FileNotFoundError, ReproduceError, TrainingDiverged."""
    from pixtrack_tf import provenance
    from pixtrack_tf.config import load_config, to_dict
    from pixtrack_tf.evaluation import evaluator, figures, paper
    from pixtrack_tf.evaluation.metrics import RocAccumulator
    from pixtrack_tf.evaluation.protocol import read_clip, run_clips, sample_clips, whole_sequences
    from pixtrack_tf.tracking.run import find_weights

    t_start = time.perf_counter()
    cfg, folds, desc, out = req.cfg, req.folds, req.desc, req.out
    out.mkdir(parents=True, exist_ok=True)
    lengths = tuple(cfg.eval.lengths)
    per_seq = cfg.eval.clips_per_sequence if req.clips is None else req.clips  # 0: DAVIS measures only
    thresholds = THRESHOLDS[req.table]
    if desc["dataset"] == "embedded":
        print(
            "Data: the embedded synthetic benchmark (NOT VOT2016): numbers are not comparable with the paper's.",
            file=sys.stderr,
        )
    methods = select_methods(req.table, req.methods)
    need_fcn = any("fcn" in v for v in methods.values())
    uses_local = {"t2-convlstm-gtroi", "t3-1stage", "t3-2stage"} & set(methods.values())
    need = ("local", "global") if "t3-2stage" in methods.values() else ("local",) if uses_local else ()
    need_models = any(v not in REFERENCES.values() for v in methods.values())
    saved = bool(req.run) and (Path(req.run) / "saved_model.pb").exists()  # an exported 2-stage tracker
    if saved and set(methods.values()) - set(REFERENCES.values()) - {"t3-2stage"}:
        raise ReproduceError(f"{req.run} is a SavedModel: it gives the 2-stage ConvLSTM row of Table 3 only")
    if saved:
        need_models = False
    fcn_dir = Path(req.fcn) / "fcn" if (req.run and req.fcn) else None  # else RUN/fcn
    results = {m: {"clips": [], "roc": RocAccumulator()} for m in methods.values()}
    davis_results = {m: {"clips": [], "roc": RocAccumulator()} for m in methods.values()}
    overlay_rows = []
    timings = {}
    for k, (train_seqs, test_seqs) in enumerate(folds):
        run_dir = Path(req.run) if req.run else out / "runs" / f"fold{k}"
        t0 = time.perf_counter()
        if not need_models:
            pass  # reference trackers only: nothing to train
        elif req.run is None:
            train_fold(
                cfg,
                train_seqs,
                run_dir,
                {**desc, "fold": k, "train": [s.name for s in train_seqs]},
                need_fcn,
                req.force,
                req.progress,
            )
        elif fcn_dir and need_fcn and not (fcn_dir / "model.weights.h5").exists():
            raise FileNotFoundError(
                f"{req.fcn}: no fcn/model.weights.h5 (train it with python "
                f"-m pixtrack_tf.train --stage fcn --out {req.fcn})"
            )
        elif need_fcn and not fcn_dir and "fcn" not in find_weights(run_dir):
            from pixtrack_tf.training.iterative import train_stage

            train_stage(load_config(run_dir / "config.yaml"), train_seqs, run_dir, "fcn", progress=req.progress)
        timings[f"fold{k}_train_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        run_cfg, lm, gm, fcn = (
            load_fold_models(run_dir, req.overrides if req.run else (), need, fcn_dir)
            if need_models
            else (cfg, None, None, None)
        )
        clips = sample_clips(test_seqs, lengths, per_seq, seed=run_cfg.seed + 1000 + k)
        raw = out / "raw" / f"fold{k}"
        factories = make_factories(req.table, run_cfg, lm, gm, fcn)
        if saved:
            from pixtrack_tf.tracking.savedmodel import SavedModelTracker

            factories["t3-2stage"] = lambda seq, clip, t=SavedModelTracker(req.run): t
        for method in methods.values():
            run_clips(method, factories[method], clips, test_seqs, raw, progress=req.progress)
            res = evaluator.evaluate_method(raw / method, test_seqs, thresholds)
            results[method]["clips"] += res["clips"]
            results[method]["roc"].merge(res["roc"])
            if req.davis_measures:
                run_clips(
                    method,
                    factories[method],
                    whole_sequences(test_seqs),
                    test_seqs,
                    out / "raw_full" / f"fold{k}",
                    progress=req.progress,
                )
                res = evaluator.evaluate_method(
                    out / "raw_full" / f"fold{k}" / method, test_seqs, thresholds, davis=True
                )
                davis_results[method]["clips"] += res["clips"]
        timings[f"fold{k}_track_eval_s"] = time.perf_counter() - t0
        first_method = list(methods.values())[0]
        by_name = {s.name: s for s in test_seqs}
        longest = max(lengths)
        for d in sorted((raw / first_method).glob(f"*/L{longest:04d}_*"))[:4]:
            meta, probs = read_clip(d)
            overlay_rows.append(figures.overlay_strip(by_name[meta["sequence"]], meta, probs))
    names = {v: k for k, v in METHODS[req.table].items()}
    rows = []
    for m, res in results.items():
        rows += evaluator.iou_rows(names[m], res, thresholds, lengths)
    davis_rows = [evaluator.davis_rows(names[m], r) for m, r in davis_results.items() if r["clips"]]
    auc = {names[m]: res["roc"].auc() for m, res in results.items() if res["clips"]}
    roi_rows = [evaluator.roi_row(names[m], r) for m, r in results.items() if r["clips"]]
    figs = (
        []
        if not auc
        else [
            figures.plot_roc(
                {names[m]: r["roc"] for m, r in results.items()},
                out / f"table{req.table}_roc.png",
                f"Table {req.table} methods: pixel ROC",
            ),
            figures.plot_iou_per_frame(
                {names[m]: evaluator.iou_per_frame(r, max(lengths), thresholds[0]) for m, r in results.items()},
                out / f"table{req.table}_iou_per_frame.png",
                f"IoU per frame, {max(lengths)}-frame clips, threshold {thresholds[0]}",
            ),
        ]
    )
    if overlay_rows:
        figs.append(figures.save_overlays(overlay_rows, out / f"table{req.table}_overlays.png"))
    if auc:
        figs.append(
            figures.plot_roi_follow(
                {names[m]: out / "raw" / "fold0" / m for m in methods.values()},
                folds[0][1],
                out / f"table{req.table}_roi_follow.png",
                max(lengths),
            )
        )
    if davis_rows:
        worst = worst_sequences_figure(davis_rows[0], out / "raw_full" / "fold0", folds[0][1], out)
        figs += [worst] if worst else []
    wall = time.perf_counter() - t_start
    models = {"run": req.run, "fcn_run": req.fcn or req.run} if req.run else None
    prov = provenance.record(seed=cfg.seed, config=cfg.name, wall_time_s=wall, timings=timings, models=models)
    paper_rows = paper.rows(req.table)
    doc = {
        "table": req.table,
        "rows": rows + paper_rows,
        "auc": auc,
        "roi": roi_rows,
        "data": desc,
        "lengths": list(lengths),
        "clips_per_sequence": per_seq,
        "config": to_dict(cfg),
        "provenance": prov,
    }
    claims = evaluate_claims(req.table, rows, davis_rows)
    doc["claims"] = claims
    if davis_rows:
        doc["davis"] = davis_rows
        if req.desc["dataset"] == "davis2016":
            doc["davis_published_val_J_mean"] = paper.DAVIS2016_VAL_J
    (out / f"table{req.table}.json").write_text(json.dumps(doc, indent=1))
    md = format_markdown(
        req.table,
        rows,
        paper_rows,
        auc,
        desc,
        prov,
        cfg.name,
        wall,
        lengths,
        figs,
        list(names[m] for m in methods.values()),
    )
    md += "\n" + format_claims(claims)
    md += "\n" + format_roi(roi_rows)
    if davis_rows:
        md += "\n" + format_davis(davis_rows, req.desc["dataset"] == "davis2016")
    (out / f"table{req.table}.md").write_text(md)
    return md
