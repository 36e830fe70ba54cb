"""The global model on ground-truth maps against Eq. (5): ``pixtrack global-check --run RUN``
(:mod:`pixtrack_tf.evaluation.global_check`; not in the paper)."""

from __future__ import annotations

import argparse
import json
import sys


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="pixtrack global-check", description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, help="a run folder with a global model (or a bundled model's folder)")
    p.add_argument("--dataset", default="embedded")
    p.add_argument("--root")
    p.add_argument("--split", default="train", help="train (the run's training split, the default) or test")
    p.add_argument("--fold", type=int, default=0)
    p.add_argument("--frames", type=int, default=40, help="first frames of each sequence (default 40)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    from pixtrack_tf.data import DataError
    from pixtrack_tf.data.splits import train_test_splits
    from pixtrack_tf.evaluation.global_check import format_report, open_loop
    from pixtrack_tf.tracking.run import load_models

    if args.split not in ("train", "test"):
        print(f"error: --split must be train or test, got {args.split!r}", file=sys.stderr)
        return 2
    try:
        cfg, _, gm = load_models(args.run, need=("global",))
        [(train, test)], _ = train_test_splits(args.dataset, args.root, None, (args.fold,), cfg.seed)
    except (FileNotFoundError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    rep = open_loop(gm, cfg, train if args.split == "train" else test, max_frames=args.frames)
    print(json.dumps(rep, indent=1) if args.json else format_report(rep))
    return 0


if __name__ == "__main__":
    sys.exit(main())
