"""Table 1 beside our layers: ``python -m pixtrack_tf.summary --config paper [--json]``.

For each module of Table 1 it prints the paper's filter size, channels and stride next to the
built layer's, with the layer's parameter count; the frozen VGG16 backbone is listed too
(:mod:`pixtrack_tf.models.table1`).
"""

from __future__ import annotations

import argparse
import json
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pixtrack_tf.summary", description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="paper", help="config name or YAML path (default: paper)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    from pixtrack_tf.config import ConfigError, load_config
    from pixtrack_tf.models.table1 import format_table, model_summary

    try:
        cfg = load_config(args.config, args.set)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    summary = model_summary(cfg)
    print(json.dumps(summary, indent=2) if args.json else format_table(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
