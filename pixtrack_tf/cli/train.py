"""Train the local and/or global model.

    pixtrack train --config CONFIG --dataset NAME [--root PATH] --out DIR
        [--stage local|global|iterative|fcn|store] [--set key=value ...] [--resume | --force]
        [--strategy default|mirrored|multiworker] [--deterministic] [--fold K] [--restore-from SNAPSHOT]
    pixtrack train --out DIR --snapshot SNAPSHOT

``--stage local`` trains the local model (Eq. 2) into ``DIR/local``, ``--stage global`` the global
model on ground-truth maps (Eq. 4) into ``DIR/global``, ``--stage iterative`` (default) the whole
procedure of Sec. 5.1 into ``DIR/step*``, ``--stage fcn`` the FCN baseline of Sec. 3.4 into
``DIR/fcn`` (``train.local_steps`` steps; ``reproduce --run`` uses ``RUN/fcn`` when it exists,
``reproduce --fcn DIR`` another run's); ``--stage store`` only builds the backbone feature store
(``train.feature_store``) of the training sequences and writes its size and build time to
``DIR/store.json``. Every run folder keeps the resolved config, provenance,
checkpoints (resume with ``--resume``) and TensorBoard logs (``tensorboard --logdir DIR``).

A run that outlives a session: ``--snapshot SNAPSHOT`` writes what must survive (each part's trainable
weights at its latest checkpoint, the step reached, logs, config; small enough to commit) and trains
nothing; in a later session ``--resume --restore-from SNAPSHOT`` (same config, same --out or a new one)
puts it back and training continues at the recorded step (with a new optimizer state).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pixtrack_tf.cli.common import add_config_args, config_from_args, run_command


def build_parser():
    from pixtrack_tf.training.iterative import STAGES

    p = argparse.ArgumentParser(prog="pixtrack train", description=__doc__.split("\n\n")[0])
    add_config_args(p, "cpu")
    p.add_argument("--dataset", default="embedded", help="embedded, davis2016, vot2016 or folder")
    p.add_argument("--root", help="dataset root (not needed for embedded)")
    p.add_argument(
        "--split",
        help="dataset split: DAVIS train/val, or train-a/train-b (one of Sec. 5.1's halves of the training "
        "split - DAVIS train or the fold's - the data of step 1a/1b); 'all' to use every sequence",
    )
    p.add_argument("--fold", type=int, default=0, help="10-fold split to train on (embedded, vot2016, folder)")
    p.add_argument("--num-sequences", type=int, default=60, help="embedded benchmark: number of sequences")
    p.add_argument("--num-frames", type=int, default=100, help="embedded benchmark: frames per sequence (about)")
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--stage", choices=STAGES, default="iterative")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--resume", action="store_true", help="continue the run in --out (same config)")
    g.add_argument("--force", action="store_true", help="delete --out first")
    p.add_argument("--strategy", choices=("default", "mirrored", "multiworker"), default="default")
    p.add_argument("--deterministic", action="store_true", help="op determinism (bit-identical reruns, slower)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument(
        "--snapshot", metavar="DIR", help="write a committable snapshot of the run in --out to DIR; train nothing"
    )
    p.add_argument(
        "--restore-from", metavar="DIR", help="with --resume: first restore the run parts of a snapshot (--snapshot)"
    )
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(lambda: _train(args))


def _snapshot(args) -> int:
    from pixtrack_tf.training.snapshot import write_snapshot

    parts = write_snapshot(args.out, args.snapshot)
    for name, p in parts.items():
        state = "finished" if p["finished"] else "at its latest checkpoint"
        print(f"{name}: step {p['step']} ({state})")
    print(json.dumps({"snapshot": str(args.snapshot), "parts": sorted(parts)}))
    return 0


def _train(args) -> int:
    if args.snapshot:
        return _snapshot(args)
    from pixtrack_tf.data.splits import halves_seed, train_test_splits
    from pixtrack_tf.training.iterative import train_stage
    from pixtrack_tf.training.loop import RunDirError, configure_determinism, make_strategy, prepare_run_dir, run_report

    out = Path(args.out)
    cfg = config_from_args(args)
    [(seqs, _)], data = train_test_splits(
        args.dataset,
        args.root,
        args.split,
        (args.fold,),
        cfg.seed,
        args.num_sequences,
        args.num_frames,
        split_seed=halves_seed(cfg),
    )
    for s in seqs:
        s.validate(min_frames=2)
    data.update(stage=args.stage, deterministic=args.deterministic, strategy=args.strategy)
    if args.restore_from and not args.resume:
        raise RunDirError("--restore-from continues a run: pass --resume too")
    prepare_run_dir(out, cfg, args.resume, args.force, data)
    if args.restore_from:
        from pixtrack_tf.training.snapshot import restore_snapshot

        restored = restore_snapshot(args.restore_from, out)
        print(f"restored from {args.restore_from}: {', '.join(restored) or 'nothing (the run has its own state)'}")
    configure_determinism(cfg.seed, args.deterministic)
    parts = train_stage(cfg, seqs, out, args.stage, make_strategy(args.strategy), progress=not args.no_progress)
    for part in parts:
        print(run_report(out / part, cfg))
    print(json.dumps({"out": str(out), "parts": parts}))
    return 0
