"""Reproduce the paper's tables: ``python -m pixtrack_tf.reproduce --table {1,2,3}``.

    python -m pixtrack_tf.reproduce --table 3 [--dataset embedded|davis2016|vot2016|folder]
        [--root PATH] [--config NAME] [--folds K] [--quick] [--out DIR] [--run DIR] [--set k=v]

With no arguments it evaluates the models bundled with the package (trained on fold 0 of the
embedded benchmark, not VOT2016, by ``reproduce --retrain``; :mod:`pixtrack_tf.runs`)
in a few minutes: it tracks test clips of each length with each method (raw results in
``DIR/raw``), evaluates them, and writes ``DIR/table<N>.md`` / ``.json`` with the paper's numbers
beside ours, whether the paper's claims hold, provenance, and figures. ``--retrain`` (or another
dataset, ``--quick``, ``--folds``) trains what is missing for each fold instead (Sec. 5.1 iterative
procedure + the FCN baseline) into ``DIR/runs/fold<k>``, reusing finished runs; ``--run`` evaluates
a finished run. ``--table 1`` prints the model summary (Table 1).

Table 2 (Sec. 5.3): local models on ROIs that follow the ground truth at t - 5 (ConvLSTM vs the
FCN fine-tuned on the first frame). Table 3: 2-stage (Algorithm 1) vs 1-stage (Eq. 5) vs FCN.
"""

from __future__ import annotations

import sys

from pixtrack_tf.cli.common import add_config_args, run_command
from pixtrack_tf.experiments.reproduce import RETRAIN_TIME


def build_parser():
    import argparse

    p = argparse.ArgumentParser(prog="python -m pixtrack_tf.reproduce", description=__doc__.split("\n\n")[0])
    p.add_argument("--table", type=int, choices=(1, 2, 3), default=3)
    p.add_argument("--dataset", default="embedded", choices=("embedded", "davis2016", "vot2016", "folder"))
    p.add_argument("--root", help="dataset root (not needed for embedded)")
    add_config_args(p, None, "config name or YAML (reproduce; tiny with --quick; a --run's own config)")
    p.add_argument("--folds", type=int, default=1, help="how many of the 10 folds to run (the paper: 10)")
    p.add_argument(
        "--quick", action="store_true", help="smallest end-to-end run (tests): tiny config, 10 short sequences"
    )
    p.add_argument("--out", default=None, help="output folder (default: out/reproduce-<dataset>)")
    p.add_argument(
        "--run",
        default=None,
        help="a finished training run folder to use instead of training (one fold); an exported SavedModel "
        "gives the 2-stage ConvLSTM row of Table 3 alone (--methods)",
    )
    p.add_argument(
        "--fcn",
        default=None,
        help="with --run: a run folder whose fcn/ holds the FCN baseline (train --stage fcn); default RUN/fcn",
    )
    p.add_argument(
        "--clips",
        type=int,
        default=None,
        help="clips per sequence and length (default: eval.clips_per_sequence); 0 with --davis-measures: "
        "whole sequences only (DAVIS J and F, no Table 2/3 protocol clips)",
    )
    p.add_argument("--methods", default=None, help="comma-separated subset of the table's methods (default: all)")
    p.add_argument(
        "--davis-measures", action="store_true", help="also track whole test sequences and report DAVIS J and F"
    )
    p.add_argument(
        "--test-split",
        default="val",
        choices=("val", "train-a", "train-b"),
        help="test on val / the fold's test sequences (default) or on one half of the training split (DAVIS "
        "train or the fold's; Sec. 5.1's halves; trains on the other): a held-out check for choosing "
        "settings without reading the test data",
    )
    p.add_argument(
        "--retrain",
        action="store_true",
        help=f"embedded: train the models here, not the bundled ones: {RETRAIN_TIME} on 2 CPU cores",
    )
    p.add_argument("--force", action="store_true", help="retrain even if finished runs exist")
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.clips is not None and (args.clips < 0 or (args.clips == 0 and not args.davis_measures)):
        parser.error("--clips must be positive (0 only with --davis-measures: whole sequences alone)")
    if not 1 <= args.folds <= 10:  # (argparse also reads --fold as --folds)
        parser.error(f"--folds is how many of the 10 folds to run (1 to 10), got {args.folds}")
    if args.table == 1:
        from pixtrack_tf.cli import summary

        return summary.main(["--config", args.config or "paper"] + [a for s in args.set for a in ("--set", s)])
    return run_command(lambda: _reproduce(args))


def _reproduce(args) -> int:
    from pixtrack_tf.experiments.reproduce import make_request, reproduce_table

    req = make_request(
        args.table,
        args.dataset,
        args.root,
        args.config,
        args.set,
        args.folds,
        args.quick,
        args.out,
        args.run,
        args.retrain,
        args.test_split,
        fcn=args.fcn,
        clips=args.clips,
        methods=[m.strip() for m in args.methods.split(",")] if args.methods else None,
        davis_measures=args.davis_measures,
        force=args.force,
        progress=not args.no_progress,
    )
    print(reproduce_table(req))
    print(f"wrote {req.out / f'table{args.table}.md'} and {req.out / f'table{args.table}.json'}", file=sys.stderr)
    return 0
