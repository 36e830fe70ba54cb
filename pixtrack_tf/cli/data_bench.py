"""Data pipeline throughput: ``pixtrack data-bench`` / ``python -m pixtrack_tf.data.bench``
(:mod:`pixtrack_tf.data.bench`)."""

from __future__ import annotations

import argparse
import json
import sys

from pixtrack_tf.data.bench import bench_pipeline


def main(argv=None) -> int:
    from pixtrack_tf.config import ConfigError, load_config
    from pixtrack_tf.data import DataError, load_dataset

    p = argparse.ArgumentParser(prog="python -m pixtrack_tf.data.bench", description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="embedded")
    p.add_argument("--root")
    p.add_argument("--split", default=None, help="dataset split (DAVIS: train/val)")
    p.add_argument("--config", default="cpu")
    p.add_argument("--set", action="append", default=[])
    p.add_argument("--batches", type=int, default=20)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    try:
        from pixtrack_tf.data.pipelines import global_dataset, local_dataset

        cfg = load_config(args.config, args.set)
        seqs = load_dataset(args.dataset, args.root, args.split or ("train" if args.dataset == "davis2016" else None))
        T = cfg.data.seq_len
        res = {
            "dataset": args.dataset,
            "sequences": len(seqs),
            "config": cfg.name,
            "local": bench_pipeline(local_dataset(seqs, cfg), args.batches, T + 1),
            "global": bench_pipeline(global_dataset(seqs, cfg), args.batches, T + 1),
        }
    except (ConfigError, DataError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
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


if __name__ == "__main__":
    sys.exit(main())
