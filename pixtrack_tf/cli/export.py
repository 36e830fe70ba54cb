"""Export the two-stage tracker (Algorithm 1) as a TensorFlow SavedModel that loads without this
package: ``python -m pixtrack_tf.export --run DIR --out PATH [--weights-dtype float32|float16|int8]``;
or, with ``--compact``, a compact run folder (trainable weights only, ``.npz``, the form the bundled
embedded models take; see :mod:`pixtrack_tf.tracking.bundled`).

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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m pixtrack_tf.export", description=__doc__.split("\n\n")[0])
    p.add_argument("--run", help="training run folder (config.yaml + trained local and global models)")
    p.add_argument("--affinity", action="store_true", help="export the feature-affinity reference (no --run)")
    p.add_argument("--frame-size", help="with --affinity: the frames' WxH, e.g. 854x480")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="with --affinity: its settings")
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
    p.add_argument("--what", default="", help="one line saying what the model is (MODEL.json)")
    p.add_argument("--force", action="store_true", help="replace an existing --out")
    args = p.parse_args(argv)
    if args.affinity == bool(args.run):
        p.error("give --run (a trained tracker) or --affinity (the feature-affinity reference)")
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        if not args.force:
            print(f"error: {out} exists and is not empty; pass --force to replace it", file=sys.stderr)
            return 2
        shutil.rmtree(out)
    if args.affinity:
        return _export_affinity(args, out)
    from pixtrack_tf.tracking.bundled import write_compact_run, write_model_json
    from pixtrack_tf.tracking.run import find_weights, load_models
    from pixtrack_tf.tracking.savedmodel import export_two_stage

    try:
        if args.compact:
            write_compact_run(args.run, out, what=args.what)
        else:
            cfg, lm, gm = load_models(args.run)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not args.compact:
        export_two_stage(cfg, lm, gm, out, args.weights_dtype)
        if cfg.track.local_finetune_steps > 0:
            print(
                f"note: {args.run} fine-tunes its local model on the first frame (track.local_finetune_steps = "
                f"{cfg.track.local_finetune_steps}); a SavedModel cannot, so {out} tracks without it "
                "(the paper's tracker; its pixtrack_config.yaml says local_finetune_steps: 0). "
                "Track with the run folder to keep it.",
                file=sys.stderr,
            )
        parts = {k: v for k, v in find_weights(args.run).items() if k in ("local", "global")}
        write_model_json(args.run, out, args.what, parts, weights_dtype=args.weights_dtype)
    size = f"{sum(f.stat().st_size for f in out.rglob('*') if f.is_file()) / 2**20:.1f} MiB"
    if args.compact:
        print(f"wrote compact run {out} ({size}): {', '.join(sorted(f.name for f in out.iterdir()))}")
    else:
        print(f"wrote SavedModel {out} ({size}, weights {args.weights_dtype}); signatures: initialize, step")
    return 0


def _export_affinity(args, out: Path) -> int:
    from pixtrack_tf.config import ConfigError, load_config

    try:
        w, h = (int(v) for v in (args.frame_size or "").lower().split("x"))
        if w < 16 or h < 16:
            raise ValueError
    except ValueError:
        print(f"error: --frame-size must look like 854x480 (width x height), got {args.frame_size!r}", file=sys.stderr)
        return 2
    try:
        cfg = load_config(None, args.set)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from pixtrack_tf.tracking.affinity_savedmodel import export_affinity

    export_affinity(cfg, (h, w), out)
    size = f"{sum(f.stat().st_size for f in out.rglob('*') if f.is_file()) / 2**20:.1f} MiB"
    print(f"wrote SavedModel {out} ({size}; feature affinity, frames {w}x{h}); signatures: initialize, step")
    return 0


if __name__ == "__main__":
    sys.exit(main())
