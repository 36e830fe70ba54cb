"""Recompute metrics from raw results: ``pixtrack evaluate --raw DIR`` / ``pixtrack evaluate``
(:mod:`pixtrack_tf.evaluation.evaluator`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pixtrack_tf.cli.common import run_command
from pixtrack_tf.evaluation.evaluator import davis_rows, evaluate_method, iou_rows, roi_row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="pixtrack evaluate", description="Recompute metrics from raw results.")
    p.add_argument("--raw", required=True, help="a raw results folder (<raw>/<method>/<sequence>/<clip>/)")
    p.add_argument("--dataset", default="embedded")
    p.add_argument("--root")
    p.add_argument("--split")
    p.add_argument("--thresholds", default="0.4,0.7")
    p.add_argument("--lengths", default="20,40,80,160")
    p.add_argument("--davis", action="store_true", help="also DAVIS J and F (whole-sequence clips)")
    args = p.parse_args(argv)
    return run_command(lambda: _evaluate(args))


def _evaluate(args) -> int:
    from pixtrack_tf.data import load_dataset

    seqs = load_dataset(args.dataset, args.root, args.split)
    thresholds = [float(t) for t in args.thresholds.split(",")]
    lengths = [int(x) for x in args.lengths.split(",")]
    out = []
    for mdir in sorted(x for x in Path(args.raw).iterdir() if x.is_dir()):
        res = evaluate_method(mdir, seqs, thresholds, davis=args.davis)
        out += iou_rows(mdir.name, res, thresholds, lengths)
        out.append(roi_row(mdir.name, res))
        if args.davis:
            out.append({k: v for k, v in davis_rows(mdir.name, res).items() if k != "per_sequence"})
    print(json.dumps(out, indent=1))
    return 0
