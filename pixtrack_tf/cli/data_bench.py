"""Data pipeline throughput: ``pixtrack data-bench`` / ``pixtrack data-bench``
(:mod:`pixtrack_tf.bench.data`)."""

from __future__ import annotations

import argparse
import json

from pixtrack_tf.bench.data import bench_pipeline
from pixtrack_tf.cli.common import add_config_args, config_from_args, run_command


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="pixtrack data-bench", description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="embedded")
    p.add_argument("--root")
    p.add_argument("--split", default=None, help="dataset split (DAVIS: train/val)")
    add_config_args(p, "cpu")
    p.add_argument("--batches", type=int, default=20)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    return run_command(lambda: _data_bench(args), extra_errors=(OSError,))


def _data_bench(args) -> int:
    from pixtrack_tf.data import load_dataset
    from pixtrack_tf.data.pipelines import global_dataset, local_dataset

    cfg = config_from_args(args)
    seqs = load_dataset(args.dataset, args.root, args.split or ("train" if args.dataset == "davis2016" else None))
    T = cfg.data.seq_len
    res = {
        "dataset": args.dataset,
        "sequences": len(seqs),
        "config": cfg.name,
        "local": bench_pipeline(local_dataset(seqs, cfg), args.batches, T + 1),
        "global": bench_pipeline(global_dataset(seqs, cfg), args.batches, T + 1),
    }
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        for k in ("local", "global"):
            r = res[k]
            print(
                f"{k:>6} pipeline: {r['sequences_per_s']:.2f} sequences/s, {r['frames_per_s']:.1f} frames/s "
                f"({r['batches']} batches of {r['batch_size']}, T+1 = {cfg.data.seq_len + 1} frames, {cfg.name} config)"
            )
    return 0
