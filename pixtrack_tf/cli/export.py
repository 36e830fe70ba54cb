"""Export the two-stage tracker (Algorithm 1) as a TensorFlow SavedModel that loads without this
package: ``pixtrack export --run DIR --out PATH [--weights-dtype float32|float16|int8]``;
or, with ``--compact``, a compact run folder (trainable weights only, ``.npz``, the form the bundled
embedded models take; see :mod:`pixtrack_tf.runs`).

``--average RUN RUN [...] --out OUT`` writes a compact run whose pixtrack+ decoder is the uniform average of
those runs' weights (a model soup, :mod:`pixtrack_tf.training.soup`; runs of one seed and one decoder shape).

``--affinity --frame-size WxH`` exports the feature-affinity reference instead (no training run: the
frozen VGG16 and ``--set affinity.KEY=VALUE``), for frames of that size
(:mod:`pixtrack_tf.tracking.affinity_savedmodel`).

See :mod:`pixtrack_tf.tracking.savedmodel` for the signatures and how to use the SavedModel. Both
forms get a ``MODEL.json``: the training run's provenance (command, commit, data) and this export's.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from pixtrack_tf.cli.common import config_from_args, error, run_command


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="pixtrack export", description=__doc__.split("\n\n")[0])
    p.add_argument("--run", help="training run folder (config.yaml + trained local and global models)")
    p.add_argument(
        "--average",
        nargs="+",
        metavar="RUN",
        help="pixtrack+ runs (run folders, compact runs or snapshots) whose decoders' weights are averaged into "
        "a compact run at --out",
    )
    p.add_argument("--affinity", action="store_true", help="export the feature-affinity reference (no --run)")
    p.add_argument("--frame-size", help="with --affinity or a pixtrack+ --run: the frames' WxH, e.g. 854x480")
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="with --affinity: its settings (affinity.*)"
    )
    p.set_defaults(config=None)
    p.add_argument("--out", required=True, help="SavedModel folder to write")
    p.add_argument(
        "--weights-dtype",
        choices=("float32", "float16", "int8"),
        default="float32",
        help="storage of the weights (computation is float32): int8 = per-channel int8 kernels + float16 rest",
    )
    p.add_argument(
        "--compact",
        action="store_true",
        help="write a compact run folder (config + trainable weights of local, global and FCN as .npz) instead",
    )
    p.add_argument(
        "--precision",
        choices=("float32", "bfloat16"),
        default=None,
        help="arithmetic of the exported tracker (default: the run's track.precision); bfloat16 pays on CPUs with "
        "AMX / AVX512-BF16",
    )
    p.add_argument("--what", default="", help="one line saying what the model is (MODEL.json)")
    p.add_argument("--force", action="store_true", help="replace an existing --out")
    args = p.parse_args(argv)
    if sum((args.affinity, bool(args.run), bool(args.average))) != 1:
        p.error("give one of --run (a trained tracker), --average (pixtrack+ runs) or --affinity (the reference)")
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        if not args.force:
            return error(f"{out} exists and is not empty; pass --force to replace it")
        shutil.rmtree(out)
    if args.average:
        return run_command(lambda: _export_average(args, out))
    return run_command(lambda: _export_affinity(args, out) if args.affinity else _export_run(args, out))


def _frame_size(text):
    """(H, W) of ``--frame-size WxH``, or None when it does not parse."""
    try:
        w, h = (int(v) for v in (text or "").lower().split("x"))
    except ValueError:
        return None
    return (h, w) if w >= 16 and h >= 16 else None


def _export_run(args, out: Path) -> int:
    from pixtrack_tf.config import load_config
    from pixtrack_tf.runs import (
        WHOLE_FRAME,
        export_plus_savedmodel,
        export_savedmodel,
        is_plus_run,
        write_compact_run,
    )

    if is_plus_run(args.run) and not args.compact:  # pixtrack+: a SavedModel per frame size
        hw = _frame_size(args.frame_size)
        if hw is None:
            return error(
                f"{args.run} is a pixtrack+ run: give --frame-size WxH (e.g. 854x480), got {args.frame_size!r}"
            )
        export_plus_savedmodel(args.run, out, hw, args.what)
        size = f"{sum(f.stat().st_size for f in out.rglob('*') if f.is_file()) / 2**20:.1f} MiB"
        print(f"wrote SavedModel {out} ({size}; pixtrack+, frames {hw[1]}x{hw[0]}); signatures: initialize, step")
        plus = load_config(Path(args.run) / "config.yaml").plus
        forced = [tuple(kv.split("=", 1)) for kv in WHOLE_FRAME]  # ("plus.key", value) the export computes with
        theirs = [(key, str(getattr(plus, key.split(".", 1)[1]))) for key, _ in forced]
        if theirs != forced:
            print(
                "note: the SavedModel computes the whole frame and reports every component of the output "
                f"with the weights as trained ({', '.join(f'{k}: {v}' for k, v in forced)}); "
                f"the run's {', '.join(f'{k} {v}' for k, v in theirs)} are pixtrack track --model RUN's only",
                file=sys.stderr,
            )
        return 0
    if args.compact:
        write_compact_run(args.run, out, what=args.what)
    else:
        note = export_savedmodel(args.run, out, args.weights_dtype, args.what, args.precision)
        if note:
            print(f"note: {note}", file=sys.stderr)
    size = f"{sum(f.stat().st_size for f in out.rglob('*') if f.is_file()) / 2**20:.1f} MiB"
    if args.compact:
        print(f"wrote compact run {out} ({size}): {', '.join(sorted(f.name for f in out.iterdir()))}")
    else:
        print(f"wrote SavedModel {out} ({size}, weights {args.weights_dtype}); signatures: initialize, step")
    return 0


def _export_average(args, out: Path) -> int:
    from pixtrack_tf.training.soup import write_average_run

    write_average_run(args.average, out, args.what)
    print(f"wrote compact run {out}: the average of {len(args.average)} pixtrack+ decoders ({', '.join(args.average)})")
    return 0


def _export_affinity(args, out: Path) -> int:
    hw = _frame_size(args.frame_size)
    if hw is None:
        return error(f"--frame-size must look like 854x480 (width x height), got {args.frame_size!r}")
    h, w = hw
    if args.precision == "bfloat16":
        return error("the feature-affinity SavedModel computes in float32 (--model affinity tracks in bfloat16)")
    from pixtrack_tf.tracking.affinity_savedmodel import export_affinity

    export_affinity(config_from_args(args), (h, w), out)
    size = f"{sum(f.stat().st_size for f in out.rglob('*') if f.is_file()) / 2**20:.1f} MiB"
    print(f"wrote SavedModel {out} ({size}; feature affinity, frames {w}x{h}); signatures: initialize, step")
    return 0
