"""Compare result files side by side: ``python -m pixtrack_tf.evaluation.compare``
(:mod:`pixtrack_tf.evaluation.compare`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pixtrack_tf.evaluation.compare import compare, load_results, parse_claim, to_markdown


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m pixtrack_tf.evaluation.compare", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--result", action="append", required=True, metavar="LABEL=PATH", help="a reproduce tableN.json, labelled"
    )
    p.add_argument("--reference", help="label the others are compared with")
    p.add_argument(
        "--claim",
        action="append",
        default=[],
        metavar="TEXT: A > B",
        help="a claim to check: result A above result B at every cell (e.g. 'peepholes help: control > no peepholes')",
    )
    p.add_argument("--out", help="write Markdown here (and JSON beside it); default: print")
    args = p.parse_args(argv)
    try:
        doc = compare(load_results(args.result), args.reference, [parse_claim(c) for c in args.claim])
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
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


if __name__ == "__main__":
    sys.exit(main())
