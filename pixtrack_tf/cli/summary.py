"""Table 1 beside our layers: ``pixtrack summary --config paper [--json]``.

For each module of Table 1 it prints the paper's filter size, channels and stride next to the
built layer's, with the layer's parameter count; the frozen VGG16 backbone is listed too
(:mod:`pixtrack_tf.models.table1`).
"""

from __future__ import annotations

import argparse
import json

from pixtrack_tf.cli.common import add_config_args, config_from_args, run_command


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="pixtrack summary", description=__doc__.splitlines()[0])
    add_config_args(parser, "paper")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    return run_command(lambda: _summary(args))


def _summary(args) -> None:
    from pixtrack_tf.models.table1 import format_table, model_summary

    summary = model_summary(config_from_args(args))
    print(json.dumps(summary, indent=2) if args.json else format_table(summary))
