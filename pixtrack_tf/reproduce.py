"""Reproduce the paper's tables: ``python -m pixtrack_tf.reproduce --table {1,2,3}``.

    python -m pixtrack_tf.reproduce --table 3 [--dataset embedded|davis2016|vot2016|folder]
        [--root PATH] [--config NAME] [--folds K] [--quick] [--out DIR] [--run DIR] [--set k=v]

For each fold it trains what is missing (Sec. 5.1 iterative procedure + the FCN baseline) into
``DIR/runs/fold<k>`` or reuses finished runs, tracks test clips of each length with each method
(raw results in ``DIR/raw``), evaluates them, and writes ``DIR/table<N>.md`` / ``.json`` with the
paper's numbers beside ours, provenance, and figures. With no arguments it runs on the embedded
benchmark (not VOT2016) with ``configs/reproduce.yaml`` on one fold. ``--table 1`` prints the model
summary (Table 1).

Table 2 (Sec. 5.3): local models on ROIs that follow the ground truth at t - 5 (ConvLSTM vs the
FCN fine-tuned on the first frame). Table 3: 2-stage (Algorithm 1) vs 1-stage (Eq. 5) vs FCN.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

# reference trackers (no training; not the paper's methods) in every table, beside the paper's methods
REFERENCES = {"First mask (reference)": "ref-first-mask", "Optical flow (reference)": "ref-optical-flow"}
METHODS = {
    2: {"ConvLSTM": "t2-convlstm-gtroi", "FCN": "t2-fcn-gtroi", **REFERENCES},
    3: {"2-stage ConvLSTM": "t3-2stage", "1-stage ConvLSTM": "t3-1stage", "FCN": "t3-fcn", **REFERENCES},
}
THRESHOLDS = {2: (0.4,), 3: (0.4, 0.7)}


def build_parser():
    p = argparse.ArgumentParser(prog="python -m pixtrack_tf.reproduce", description=__doc__.split("\n\n")[0])
    p.add_argument("--table", type=int, choices=(1, 2, 3), default=3)
    p.add_argument("--dataset", default="embedded", choices=("embedded", "davis2016", "vot2016", "folder"))
    p.add_argument("--root", help="dataset root (not needed for embedded)")
    p.add_argument("--config", default=None, help="config name or YAML (default: reproduce; tiny with --quick)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--folds", type=int, default=1, help="how many of the 10 folds to run (the paper: 10)")
    p.add_argument("--quick", action="store_true", help="smallest end-to-end run (tests): tiny config, 10 short sequences")
    p.add_argument("--out", default=None, help="output folder (default: out/reproduce-<dataset>)")
    p.add_argument("--run", default=None, help="a finished training run folder to use instead of training (one fold)")
    p.add_argument("--fcn", default=None, help="with --run: a run folder whose fcn/ holds the FCN baseline (train --stage fcn); default RUN/fcn")
    p.add_argument("--clips", type=int, default=None, help="clips per sequence and length (default: eval.clips_per_sequence)")
    p.add_argument("--methods", default=None, help="comma-separated subset of the table's methods (default: all)")
    p.add_argument("--davis-measures", action="store_true", help="also track whole test sequences and report DAVIS J and F")
    p.add_argument("--force", action="store_true", help="retrain even if finished runs exist")
    p.add_argument("--no-progress", action="store_true")
    return p


def folds_for(args, cfg):
    """[(train sequences, test sequences)] and a data description."""
    from pixtrack_tf.data import load_dataset
    from pixtrack_tf.data.splits import ten_folds

    if args.dataset == "davis2016":
        train, test = load_dataset("davis2016", args.root, "train"), load_dataset("davis2016", args.root, "val")
        return [(train, test)], {"dataset": "davis2016", "root": str(args.root), "train": "train split", "test": "val split"}
    n_seq, n_frames = (10, 24) if args.quick else (60, 100)
    seqs = load_dataset(args.dataset, args.root, seed=cfg.seed, num_sequences=n_seq, n_frames=n_frames)
    by = {s.name: s for s in seqs}
    out = []
    for train, test in ten_folds(list(by), seed=cfg.seed)[: args.folds]:
        out.append(([by[n] for n in train], [by[n] for n in test]))
    desc = {"dataset": args.dataset, "root": None if args.root is None else str(args.root), "folds": args.folds, "sequences": len(seqs)}
    if args.dataset == "embedded":
        desc.update(embedded_seed=cfg.seed, embedded_sequences=n_seq, embedded_frames=n_frames,
                    note="embedded synthetic benchmark, NOT VOT2016: not comparable with the paper's numbers")  # fmt: skip
    return out, desc


def train_fold(cfg, train_seqs, run_dir: Path, args, data_desc, need_fcn=True):
    from pixtrack_tf.training.iterative import run_iterative
    from pixtrack_tf.training.loop import fit, prepare_run_dir
    from pixtrack_tf.training.tasks import FCNTask

    prepare_run_dir(run_dir, cfg, resume=True, force=args.force, data=data_desc)
    run_iterative(cfg, train_seqs, run_dir, progress=not args.no_progress)
    if need_fcn:
        fit(FCNTask(cfg, train_seqs), run_dir / "fcn", progress=not args.no_progress)


def load_fold_models(run_dir: Path, overrides=(), need=("local", "global"), fcn_dir=None):
    from pixtrack_tf.models import FCNModel
    from pixtrack_tf.tracking.run import load_models, load_trained

    cfg, lm, gm = load_models(run_dir, need=need, overrides=overrides)
    fcn_weights = Path(fcn_dir or run_dir / "fcn") / "model.weights.h5"
    fcn = load_trained(FCNModel, cfg, fcn_weights) if fcn_weights.exists() else None
    return cfg, lm, gm, fcn


def make_factories(table, cfg, lm, gm, fcn):
    from pixtrack_tf.tracking import GroundTruthRoiTracker, OneStageTracker, TwoStageTracker

    cache = {}

    def gt_factory(key, model):
        def make(seq, clip):
            tr = cache.setdefault(key, GroundTruthRoiTracker(model, cfg))
            tr.set_ground_truth([seq.mask(i) for i in clip.indices])
            return tr

        return make

    def fixed(key, build):
        return lambda seq, clip: cache.setdefault(key, build())

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


def format_davis(davis_rows, published: bool) -> str:
    from pixtrack_tf.evaluation import paper

    lines = ["## DAVIS measures (whole sequences, threshold 0.5, first and last frames left out)", "",
             "method | J mean | J recall | J decay | F mean | F recall | F decay", "---|---|---|---|---|---|---"]  # fmt: skip
    for r in davis_rows:
        lines.append(f"{r['method']} (ours) | " + " | ".join(f"{r[f'{m}_{k}']:.3f}" for m in "JF" for k in ("mean", "recall", "decay")))
    if published:
        for name, j in paper.DAVIS2016_VAL_J.items():
            lines.append(f"{name} (published, full val set) | {j:.3f} | - | - | - | - | -")
    lines += ["", f"Per sequence J mean ({davis_rows[0]['method']}): " + ", ".join(f"{s} {v['J']:.3f}" for s, v in davis_rows[0]["per_sequence"].items()), ""]
    return "\n".join(lines)


def format_roi(roi_rows) -> str:
    """The ROI-follows-the-object table (not in the paper)."""
    lines = ["## Does the ROI follow the object? (not in the paper)", "",
             "Share of the object's pixels inside the ROI (mean over frames; share of frames with >= 0.9 inside), "
             "the ROI centre's distance to the object's centre over the object's longer side (median), and the "
             "ROI centre's path length over the object's (1 = moves as much as the object; 0 = a constant box).", "",
             "method | object inside | frames >= 0.9 inside | centre error | ROI / object motion | frames", "---|---|---|---|---|---"]  # fmt: skip
    for r in roi_rows:
        lines.append(f"{r['method']} | {r['object_inside_mean']:.3f} | {r['frames_inside_0.9']:.3f} | {r['centre_error_median']:.3f} | {r['motion_ratio_mean']:.3f} | {r['frames']}")
    ft = [r for r in roi_rows if "finetune_iou_before" in r]
    if ft:
        lines += ["", "FCN first-frame fine-tuning, IoU (p > 0.5) on the first ROI before -> after: "
                  + ", ".join(f"{r['method']} {r['finetune_iou_before']:.3f} -> {r['finetune_iou_after']:.3f}" for r in ft)]  # fmt: skip
    return "\n".join(lines + [""])


def format_markdown(table, rows, paper_rows, auc, desc, prov, cfg_name, wall, lengths, figures, names=None) -> str:
    from pixtrack_tf.evaluation import paper

    names = names or list(METHODS[table])
    lines = [f"# Table {table} — reproduced", ""]
    if desc.get("dataset") == "embedded":
        lines += ["**Data: the embedded synthetic benchmark, NOT VOT2016.** Our numbers are not comparable with the paper's; they are shown side by side only to read the trends.", ""]
    lines += [
        f"- data: `{json.dumps(desc)}`",
        f"- config: `{cfg_name}`, seed {prov['seed']}, commit `{prov['commit']}`",
        f"- machine: {prov['machine']['cpu']} ({prov['machine']['cpu_count']} cores), wall time {wall / 60:.1f} min",
        f"- command: `{prov['command']}`",
        f"- paper: {paper.SOURCE}",
        "",
    ]
    for thr in THRESHOLDS[table]:
        lines += [f"Ours — IoU at threshold {thr}, test length | " + " | ".join(str(L) for L in lengths), "|".join(["---"] * (len(lengths) + 1))]
        for n in names:
            ours = {r["length"]: r for r in rows if r["method"] == n and r["threshold"] == thr}
            lines.append(f"{n} | " + " | ".join(f"{ours[L]['iou']:.4f} ({ours[L]['clips']})" if L in ours else "-" for L in lengths))
        lines += ["", f"Paper (VOT2016) — IoU at threshold {thr}, test length | " + " | ".join(str(L) for L in paper.LENGTHS), "|".join(["---"] * (len(paper.LENGTHS) + 1))]
        for n in names:
            theirs = {r["length"]: r["iou"] for r in paper_rows if r["method"] == n and r["threshold"] == thr}
            if theirs:
                lines.append(f"{n} | " + " | ".join(f"{theirs[L]:.4f}" for L in paper.LENGTHS))
        lines.append("")
    lines += ["(n) = number of test clips averaged. Rows marked (reference) need no training and are not the paper's methods: "
              "the first frame's mask copied to every frame, and the mask carried from frame to frame by DIS optical flow. "
              "A trained tracker is only worth something above them.", ""]  # fmt: skip
    lines += ["Pixel ROC AUC (all tracked frames): " + ", ".join(f"{k} {v:.4f}" for k, v in auc.items()), ""]
    lines += ["Figures: " + ", ".join(f"[{Path(f).name}]({Path(f).name})" for f in figures), ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.table == 1:
        from pixtrack_tf import summary

        return summary.main(["--config", args.config or "paper"] + [a for s in args.set for a in ("--set", s)])
    t_start = time.perf_counter()
    from pixtrack_tf import provenance
    from pixtrack_tf.config import ConfigError, load_config
    from pixtrack_tf.data import DataError
    from pixtrack_tf.evaluation import evaluator, figures, paper
    from pixtrack_tf.evaluation.metrics import RocAccumulator
    from pixtrack_tf.evaluation.protocol import read_clip, run_clips, sample_clips, whole_sequences
    from pixtrack_tf.training.loop import RunDirError, TrainingDiverged

    try:
        default = "tiny" if args.quick else "reproduce"
        if args.run and args.config is None:  # evaluate a finished run with the config it was trained with
            default = Path(args.run) / "config.yaml"
        cfg = load_config(args.config or default, args.set)
        folds, desc = folds_for(args, cfg)
    except (ConfigError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = Path(args.out or f"out/reproduce-{args.dataset}{'-quick' if args.quick else ''}")
    out.mkdir(parents=True, exist_ok=True)
    lengths = tuple(cfg.eval.lengths)
    per_seq = args.clips or cfg.eval.clips_per_sequence
    thresholds = THRESHOLDS[args.table]
    if args.dataset == "embedded":
        print("Data: the embedded synthetic benchmark (NOT VOT2016): numbers are not comparable with the paper's.", file=sys.stderr)
    methods = dict(METHODS[args.table])
    if args.methods:
        wanted = [m.strip() for m in args.methods.split(",")]
        unknown = [m for m in wanted if m not in methods]
        if unknown:
            print(f"error: unknown method(s) {unknown}; Table {args.table} has {list(methods)}", file=sys.stderr)
            return 2
        methods = {m: methods[m] for m in wanted}
    need_fcn = any("fcn" in v for v in methods.values())
    need = ("local", "global") if "t3-2stage" in methods.values() else ("local",)
    need_models = any(v not in REFERENCES.values() for v in methods.values())
    fcn_dir = Path(args.fcn) / "fcn" if (args.run and args.fcn) else None  # else RUN/fcn
    results = {m: {"clips": [], "roc": RocAccumulator()} for m in methods.values()}
    davis_results = {m: {"clips": [], "roc": RocAccumulator()} for m in methods.values()}
    overlay_rows = []
    timings = {}
    for k, (train_seqs, test_seqs) in enumerate(folds):
        run_dir = Path(args.run) if args.run else out / "runs" / f"fold{k}"
        t0 = time.perf_counter()
        try:
            if not need_models:
                pass  # reference trackers only: nothing to train
            elif args.run is None:
                train_fold(cfg, train_seqs, run_dir, args, {**desc, "fold": k, "train": [s.name for s in train_seqs]}, need_fcn)
            elif fcn_dir and need_fcn and not (fcn_dir / "model.weights.h5").exists():
                raise FileNotFoundError(f"{args.fcn}: no fcn/model.weights.h5 (train it with python -m pixtrack_tf.train --stage fcn --out {args.fcn})")
            elif need_fcn and not fcn_dir and not (run_dir / "fcn" / "model.weights.h5").exists():
                from pixtrack_tf.training.loop import fit
                from pixtrack_tf.training.tasks import FCNTask

                fit(FCNTask(load_config(run_dir / "config.yaml"), train_seqs), run_dir / "fcn", progress=not args.no_progress)
        except (RunDirError, DataError, FileNotFoundError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        except TrainingDiverged as e:
            print(f"error: {e}", file=sys.stderr)
            return 3
        timings[f"fold{k}_train_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        try:
            run_cfg, lm, gm, fcn = load_fold_models(run_dir, args.set if args.run else (), need, fcn_dir) if need_models else (cfg, None, None, None)
        except (FileNotFoundError, ConfigError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        clips = sample_clips(test_seqs, lengths, per_seq, seed=run_cfg.seed + 1000 + k)
        raw = out / "raw" / f"fold{k}"
        factories = make_factories(args.table, run_cfg, lm, gm, fcn)
        for method in methods.values():
            run_clips(method, factories[method], clips, test_seqs, raw, progress=not args.no_progress)
            res = evaluator.evaluate_method(raw / method, test_seqs, thresholds)
            results[method]["clips"] += res["clips"]
            results[method]["roc"].merge(res["roc"])
            if args.davis_measures:
                run_clips(method, factories[method], whole_sequences(test_seqs), test_seqs, out / "raw_full" / f"fold{k}", progress=not args.no_progress)
                res = evaluator.evaluate_method(out / "raw_full" / f"fold{k}" / method, test_seqs, thresholds, davis=True)
                davis_results[method]["clips"] += res["clips"]
        timings[f"fold{k}_track_eval_s"] = time.perf_counter() - t0
        first_method = list(methods.values())[0]
        by_name = {s.name: s for s in test_seqs}
        longest = max(lengths)
        for d in sorted((raw / first_method).glob(f"*/L{longest:04d}_*"))[:4]:
            meta, probs = read_clip(d)
            overlay_rows.append(figures.overlay_strip(by_name[meta["sequence"]], meta, probs))
    names = {v: k for k, v in METHODS[args.table].items()}
    rows = []
    for m, res in results.items():
        rows += evaluator.iou_rows(names[m], res, thresholds, lengths)
    davis_rows = [evaluator.davis_rows(names[m], r) for m, r in davis_results.items() if r["clips"]]
    auc = {names[m]: res["roc"].auc() for m, res in results.items()}
    roi_rows = [evaluator.roi_row(names[m], r) for m, r in results.items() if r["clips"]]
    figs = [
        figures.plot_roc({names[m]: r["roc"] for m, r in results.items()}, out / f"table{args.table}_roc.png", f"Table {args.table} methods: pixel ROC"),
        figures.plot_iou_per_frame(
            {names[m]: evaluator.iou_per_frame(r, max(lengths), thresholds[0]) for m, r in results.items()},
            out / f"table{args.table}_iou_per_frame.png",
            f"IoU per frame, {max(lengths)}-frame clips, threshold {thresholds[0]}",
        ),
    ]
    if overlay_rows:
        figs.append(figures.save_overlays(overlay_rows, out / f"table{args.table}_overlays.png"))
    figs.append(figures.plot_roi_follow({names[m]: out / "raw" / "fold0" / m for m in methods.values()}, folds[0][1], out / f"table{args.table}_roi_follow.png", max(lengths)))
    wall = time.perf_counter() - t_start
    from pixtrack_tf.config import to_dict

    models = {"run": args.run, "fcn_run": args.fcn or args.run} if args.run else None
    prov = provenance.record(seed=cfg.seed, config=cfg.name, wall_time_s=wall, timings=timings, models=models)
    paper_rows = paper.rows(args.table)
    doc = {
        "table": args.table,
        "rows": rows + paper_rows,
        "auc": auc,
        "roi": roi_rows,
        "data": desc,
        "lengths": list(lengths),
        "clips_per_sequence": per_seq,
        "config": to_dict(cfg),
        "provenance": prov,
    }
    if davis_rows:
        doc["davis"] = davis_rows
        if args.dataset == "davis2016":
            doc["davis_published_val_J_mean"] = paper.DAVIS2016_VAL_J
    (out / f"table{args.table}.json").write_text(json.dumps(doc, indent=1))
    md = format_markdown(args.table, rows, paper_rows, auc, desc, prov, cfg.name, wall, lengths, figs, list(names[m] for m in methods.values()))
    md += "\n" + format_roi(roi_rows)
    if davis_rows:
        md += "\n" + format_davis(davis_rows, args.dataset == "davis2016")
    (out / f"table{args.table}.md").write_text(md)
    print(md)
    print(f"wrote {out / f'table{args.table}.md'} and {out / f'table{args.table}.json'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
