"""Choose the feature-affinity reference's settings on training sequences: ``pixtrack affinity-select``
(:mod:`pixtrack_tf.experiments.affinity_select`; not in the paper).

    pixtrack affinity-select --root ../shared/data/davis2016 --split train \\
        --grid affinity.scale=0.5,1.0 --grid affinity.memory_labels=soft,hard --out DIR

Tracks every whole sequence of the split with every candidate of the grid (the backbone's features
computed once per sequence for each layer / scale / precision) and writes ``DIR/selection.{md,json}``:
J mean per candidate and per sequence, best first, with provenance. The split is DAVIS ``train`` or one
of its halves (``train-a``, ``train-b``); val is refused, so that settings are never chosen on it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pixtrack_tf.cli.common import add_config_args, config_from_args, run_command


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="pixtrack affinity-select", description=__doc__.splitlines()[0])
    p.add_argument("--root", required=True, help="DAVIS 2016 root")
    p.add_argument("--split", default="train", choices=("train", "train-a", "train-b"))
    p.add_argument("--sequences", help="comma-separated subset of the split's sequences")
    add_config_args(p, "davis", "config whose affinity section the grid varies")
    p.add_argument("--grid", action="append", default=[], metavar="affinity.KEY=V1,V2", help="every combination")
    p.add_argument(
        "--candidate",
        action="append",
        default=[],
        metavar="affinity.KEY=V[;affinity.KEY=V]",
        help="one candidate (repeatable; an empty string: the config as it is)",
    )
    p.add_argument("--out", required=True)
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    return run_command(lambda: _select(args, argv))


def _select(args, argv) -> int:
    from pixtrack_tf import provenance
    from pixtrack_tf.config import to_dict
    from pixtrack_tf.data import DataError
    from pixtrack_tf.data.readers import read_davis
    from pixtrack_tf.data.splits import halves, halves_seed
    from pixtrack_tf.experiments.affinity_select import expand_grid, run_selection, write_selection

    cfg = config_from_args(args)
    expand_grid(args.grid, args.candidate)  # a bad grid fails before any work
    seqs = read_davis(args.root, "train")
    if args.split != "train":
        a, b = halves([s.name for s in seqs], seed=halves_seed(cfg))
        keep = set(a if args.split == "train-a" else b)
        seqs = [s for s in seqs if s.name in keep]
    if args.sequences:
        wanted = [n.strip() for n in args.sequences.split(",")]
        missing = sorted(set(wanted) - {s.name for s in seqs})
        if missing:
            raise DataError(f"{args.root}: no sequence(s) {', '.join(missing)} in {args.split}")
        seqs = [s for s in seqs if s.name in set(wanted)]
    doc = run_selection(cfg, seqs, args.grid, args.candidate, progress=not args.no_progress)
    doc.update(
        command="pixtrack affinity-select " + " ".join(argv if argv is not None else sys.argv[1:]),
        data={"dataset": "davis2016", "root": args.root, "split": args.split, "sequences": [s.name for s in seqs]},
        config=to_dict(cfg),
        grid=args.grid,
        candidate_args=args.candidate,
        provenance=provenance.record(seed=cfg.seed, config=cfg.name),
    )
    path = write_selection(doc, Path(args.out))
    print(path.read_text())
    return 0
