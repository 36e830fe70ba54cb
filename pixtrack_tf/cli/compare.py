"""Compare result files side by side: ``pixtrack compare``
(:mod:`pixtrack_tf.experiments.compare`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pixtrack_tf.cli.common import run_command
from pixtrack_tf.experiments.compare import compare, load_results, parse_claim, to_markdown


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="pixtrack compare", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--result", action="append", required=True, metavar="LABEL=PATH", help="a reproduce tableN.json, labelled"
    )
    p.add_argument("--reference", help="label the others are compared with")
    p.add_argument(
        "--claim",
        action="append",
        default=[],
        metavar="TEXT: A > B",
        help="a claim to check: result A above result B at every cell (e.g. 'peepholes help: control > no peepholes'); "
        "a side may join seeds of one model with | ('control|control-s1 > no peepholes'): decided by their spread",
    )
    p.add_argument("--out", help="write Markdown here (and JSON beside it); default: print")
    args = p.parse_args(argv)
    return run_command(lambda: _compare(args), extra_errors=(ValueError,))


def _compare(args) -> int:
    doc = compare(load_results(args.result), args.reference, [parse_claim(c) for c in args.claim])
    md = to_markdown(doc)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(md)
        out.with_suffix(".json").write_text(json.dumps(doc, indent=1))
        print(f"wrote {out} and {out.with_suffix('.json')}")
    else:
        print(md)
    return 0
