"""Speed of the tracker against this machine's limit.

    pixtrack bench [--config paper|cpu] [--dtype float32|bfloat16] [--json] [--record FILE]
    pixtrack bench --train [--config cpu] [--dataset davis2016 --root PATH] [--json]

In one process: FLOPs per frame of each module, counted from layer shapes; this machine's GEMM rate
measured in the same run; median milliseconds per tracked frame after warm-up for the global model,
the local model, crop/paste and the whole two-stage step (Algorithm 1); frames/s; the ratio of the
whole step's speed to its limit (its FLOPs / the GEMM rate); one local-model training step against
its limit; and the tf.data pipelines against what training consumes. ``--record`` appends the
figures, the machine and the command to a Markdown file (``results/benchmarks.md``).

``--command`` times the whole ``pixtrack track`` command, as a user waits for it, on a generated
600-frame 854x480 clip (:mod:`pixtrack_tf.bench.command`).

``--plus`` times pixtrack+ per frame with its output upsampling as set and bilinear only, in turns.

``--affinity`` instead times the feature-affinity reference (``--set affinity.KEY=VALUE`` for its
settings; ``--dtype`` its precision) at 854x480 for one and ``--objects`` objects, against its limit.

``--train`` instead times local-model training from images and from the backbone feature store, in
float32 and bfloat16, in one process, and prints ``train_cached_speedup`` (store / images, float32)
(:mod:`pixtrack_tf.bench.training`).

See :mod:`pixtrack_tf.bench.tracking` (tracking), :mod:`pixtrack_tf.bench.keras_layers`
(``--models-only``) and :mod:`pixtrack_tf.bench.flops` (how FLOPs are counted).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pixtrack_tf.cli.common import add_config_args, config_from_args, run_command


def build_parser():
    from pixtrack_tf.config import PRECISIONS

    p = argparse.ArgumentParser(prog="pixtrack bench", description=__doc__.split("\n\n")[0])
    add_config_args(p, "paper")
    p.add_argument("--dtype", choices=PRECISIONS, default=None, help="default float32 (--affinity: its config's)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--no-pipelines", action="store_true", help="skip the tf.data measurement")
    p.add_argument("--no-train", action="store_true", help="skip the training-step (and tf.data) measurement")
    p.add_argument("--objects", type=int, default=4, help="objects tracked together in the batched-step measurement")
    p.add_argument("--record", help="append the report to this Markdown file (e.g. results/benchmarks.md)")
    p.add_argument(
        "--models-only",
        action="store_true",
        help="time only the models in keras.ops on the active Keras backend "
        "(KERAS_BACKEND=jax on a GPU, no TensorFlow needed)",
    )
    p.add_argument("--batches", default="1,8", help="with --models-only: objects per batched step, comma-separated")
    p.add_argument(
        "--gemm-n", type=int, default=2048, help="with --models-only: matrix side of the GEMM-rate measurement"
    )
    p.add_argument(
        "--train",
        action="store_true",
        help="time local-model training from images and from the backbone feature store, float32 and "
        "bfloat16, in this process (prints train_cached_speedup)",
    )
    p.add_argument(
        "--affinity",
        action="store_true",
        help="time the feature-affinity reference tracker (one and --objects objects) against its limit",
    )
    p.add_argument(
        "--plus",
        action="store_true",
        help="time pixtrack+ (--model RUN, default the bundled one) per frame at 854x480, with its output "
        "upsampling as set and bilinear only, in turns (--dtype: its precision, default bfloat16)",
    )
    p.add_argument(
        "--command",
        action="store_true",
        help="time the whole pixtrack track command (default tracker, --model to change) on a generated "
        "--frames-frame 854x480 clip: wall-clock frames/s, start-up, decode, model, write",
    )
    p.add_argument(
        "--frames",
        type=int,
        default=600,
        help="with --command: frames of the generated clip; with --plus --root: at most this many a sequence",
    )
    p.add_argument(
        "--model", help="with --command: pixtrack track's --model (default: its default tracker); with --plus: a run"
    )
    p.add_argument("--work", default="out/bench-command", help="with --command: where the clip and output go")
    p.add_argument("--steps", type=int, default=4, help="with --train: timed training steps per measurement")
    p.add_argument(
        "--dataset",
        default="embedded",
        help="with --train: embedded or davis2016 (its train split); with --plus --root: davis2016",
    )
    p.add_argument("--root", help="with --train: dataset root; with --plus: time real sequences of it")
    p.add_argument(
        "--split", default="val", help="with --plus --root: the split whose sequences are timed (default val)"
    )
    p.add_argument(
        "--sequences",
        type=int,
        default=4,
        help="with --train: how many sequences to build the store of; with --plus --root: how many are timed",
    )
    p.add_argument(
        "--store-root", default="out/feature_stores", help="with --train: where stores are built (default as train's)"
    )
    p.add_argument("--precisions", default="float32,bfloat16", help="with --train: the precisions to time")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(lambda: _bench(args))


def _bench(args) -> int:
    from pixtrack_tf import provenance
    from pixtrack_tf.bench.keras_layers import format_models_report, models_bench
    from pixtrack_tf.bench.tracking import format_report, run_bench

    cfg = config_from_args(args)
    if args.command:
        from pixtrack_tf.bench.command import command_bench, format_command

        r = command_bench(Path(args.work), args.frames, args.model)
        r["report"] = format_command(r)
        args.dtype = r["precision"]
        return _emit(r, args, cfg, provenance)
    if args.plus:
        from pixtrack_tf.bench.plus import format_plus, plus_bench
        from pixtrack_tf.runs import bundled_path

        args.dtype = args.dtype or "bfloat16"
        run = args.model or bundled_path("plus")
        if args.root:  # real sequences (DAVIS val by default), in turns against the whole frame
            from pixtrack_tf.bench.plus import format_plus_sequences, plus_sequence_bench
            from pixtrack_tf.data import load_dataset

            dataset = "davis2016" if args.dataset == "embedded" else args.dataset
            seqs = load_dataset(dataset, args.root, args.split, seed=cfg.seed)[: args.sequences]
            r = plus_sequence_bench(run, seqs, args.dtype, args.set, args.frames)
            r["report"] = format_plus_sequences(r)
            return _emit(r, args, cfg, provenance, name="plus")
        r = plus_bench(run, args.dtype, overrides=args.set)
        r["report"] = format_plus(r)
        return _emit(r, args, cfg, provenance, name="plus")
    if args.affinity:
        from pixtrack_tf.bench.tracking import affinity_bench, format_affinity

        if args.dtype:
            cfg = config_from_args(args, extra=[f"affinity.precision={args.dtype}"])
        r = affinity_bench(cfg, args.objects)
        r["report"] = format_affinity(r)
        args.dtype = cfg.affinity.precision
        return _emit(r, args, cfg, provenance)
    args.dtype = args.dtype or "float32"
    if args.train:
        from pixtrack_tf.bench.training import format_train_report, train_throughput
        from pixtrack_tf.data import load_dataset

        split = "train" if args.dataset == "davis2016" else None
        seqs = load_dataset(args.dataset, args.root, split, seed=cfg.seed, num_sequences=max(args.sequences, 2))
        precisions = tuple(args.precisions.split(","))
        r = train_throughput(cfg, seqs[: args.sequences], args.store_root, steps=args.steps, precisions=precisions)
        r["report"] = format_train_report(r)
        args.dtype = " and ".join(precisions)
        return _emit(r, args, cfg, provenance)
    if args.models_only:
        r = models_bench(cfg, args.dtype, [int(b) for b in args.batches.split(",")], args.gemm_n)
        r["report"] = format_models_report(r)
        return _emit(r, args, cfg, provenance)
    seqs = None
    if not (args.no_pipelines or args.no_train):
        from pixtrack_tf.data.embedded import load_embedded

        seqs = load_embedded(num_sequences=60)
    r = run_bench(cfg, args.dtype, seqs, pipelines=not args.no_pipelines, train=not args.no_train, objects=args.objects)
    r["report"] = format_report(r).replace("{B}", str(cfg.data.batch_size))
    return _emit(r, args, cfg, provenance)


def _emit(r, args, cfg, provenance, name=None) -> int:
    """Print ``r``'s report (or its JSON); with --record, append it to the file under ``name`` (default
    --config's name; --plus: the run's)."""
    if args.json:
        print(json.dumps({k: v for k, v in r.items() if k != "report"}, indent=1))
    else:
        print(r["report"])
    if args.record:
        name = name or cfg.name
        prov = provenance.record(seed=cfg.seed, config=name)
        with open(args.record, "a") as f:
            where = f", {r['backend']} on {r['device']}" if "backend" in r else ""
            f.write(f"\n## {name}, {args.dtype}{where} — {prov['time_utc']}\n\n")
            f.write(
                f"- command: `{prov['command']}`\n- commit: `{prov['commit']}`\n- machine: "
                f"{prov['machine']['cpu']}, {prov['machine']['cpu_count']} cores, {prov['machine']['memory_gb']} GiB\n"
            )
            f.write(f"- versions: {json.dumps(prov['versions'])}\n\n```\n{r['report']}\n```\n\n")
            f.write("```json\n" + json.dumps({k: v for k, v in r.items() if k != "report"}) + "\n```\n")
    return 0
