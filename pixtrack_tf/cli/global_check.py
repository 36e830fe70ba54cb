"""The global model on ground-truth maps against Eq. 5: ``pixtrack global-check --run RUN``
(:mod:`pixtrack_tf.experiments.global_check`; not in the paper). A run folder of the whole Sec. 5.1
procedure also gets its stored closed-loop tracks of the training videos summarised (steps 3 and 5)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pixtrack_tf.cli.common import error, run_command


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="pixtrack global-check", description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, help="a run folder with a global model (or a bundled model's folder)")
    p.add_argument("--dataset", default="embedded")
    p.add_argument("--root")
    p.add_argument(
        "--split",
        default="train",
        help="train (the run's training split, the default) or test (the fold's test sequences; DAVIS val)",
    )
    p.add_argument("--fold", type=int, default=0)
    p.add_argument("--frames", type=int, default=40, help="first frames of each sequence (default 40)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if args.split not in ("train", "test"):
        return error(f"--split must be train or test, got {args.split!r}")
    return run_command(lambda: _check(args))


def _check(args) -> int:
    import numpy as np

    from pixtrack_tf.data.splits import train_test_splits
    from pixtrack_tf.experiments.global_check import closed_loop_tracks, format_report, open_loop
    from pixtrack_tf.runs import load_models

    cfg, _, gm = load_models(args.run, need=("global",))
    [(train, test)], _ = train_test_splits(args.dataset, args.root, None, (args.fold,), cfg.seed)
    rep = open_loop(gm, cfg, train if args.split == "train" else test, max_frames=args.frames)
    # Sec. 5.1's closed-loop tracks of the training videos, when the run folder holds them
    for step in ("step3", "step5"):
        path = Path(args.run) / f"{step}_tracks.npz"
        if path.exists():
            rep[f"{step}_tracks"] = closed_loop_tracks(dict(np.load(path)), train)
    if args.json:
        print(json.dumps(rep, indent=1))
        return 0
    print(format_report(rep))
    for step, what in (("step3", "the step-2 global model"), ("step5", "the step-4 global model")):
        if f"{step}_tracks" in rep:
            r = rep[f"{step}_tracks"]
            print(
                f"Sec. 5.1 {step} tracks (closed loop, {what}, training videos, {r['frames']} frames): "
                f"object inside the ROI {r['object_inside']:.3f}, map IoU@0.4 {r['map_iou']:.3f}, "
                f"ROI side / object side (median) {r['roi_side_over_object']:.2f}"
            )
    return 0
