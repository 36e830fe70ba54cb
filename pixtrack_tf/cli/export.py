"""Export the two-stage tracker (Algorithm 1) as a TensorFlow SavedModel that loads without this
package: ``python -m pixtrack_tf.export --run DIR --out PATH [--weights-dtype float32|float16|int8]``;
or, with ``--compact``, a compact run folder (trainable weights only, ``.npz``, the form the bundled
embedded models take; see :mod:`pixtrack_tf.tracking.bundled`).

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
    p.add_argument("--run", required=True, help="training run folder (config.yaml + trained local and global models)")
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
    from pixtrack_tf.tracking.run import load_models
    from pixtrack_tf.tracking.savedmodel import export_two_stage

    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        if not args.force:
            print(f"error: {out} exists and is not empty; pass --force to replace it", file=sys.stderr)
            return 2
        shutil.rmtree(out)
    from pixtrack_tf.tracking.bundled import write_compact_run

    try:
        if args.compact:
            write_compact_run(args.run, out, what=args.what)
            size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
            files = ", ".join(sorted(f.name for f in out.iterdir()))
            print(f"wrote compact run {out} ({size / 2**20:.1f} MiB): {files}")
            return 0
        cfg, lm, gm = load_models(args.run)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    export_two_stage(cfg, lm, gm, out, args.weights_dtype)
    write_model_json(args.run, out, args.what, args.weights_dtype)
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(
        f"wrote SavedModel {out} ({size / 2**20:.1f} MiB, weights {args.weights_dtype}); signatures: initialize, step"
    )
    return 0


def write_model_json(run, out, what, weights_dtype):
    """MODEL.json beside the SavedModel: the training run's provenance and this export's."""
    import json

    from pixtrack_tf import provenance
    from pixtrack_tf.tracking.run import find_weights

    run = Path(run)
    run_json = run / "run.json"
    info = {
        "what": what,
        "weights_dtype": weights_dtype,
        "parts": {k: str(Path(v).relative_to(run)) for k, v in find_weights(run).items()},
        "trained_by": json.loads(run_json.read_text()) if run_json.exists() else {},
        "written_by": provenance.record(),
    }
    (Path(out) / "MODEL.json").write_text(json.dumps(info, indent=1))


if __name__ == "__main__":
    sys.exit(main())
