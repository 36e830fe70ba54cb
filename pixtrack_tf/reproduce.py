"""``python -m pixtrack_tf.reproduce --table {1,2,3}``: the paper's tables (Tables 2 and 3 pending)."""
from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pixtrack_tf.reproduce", description=__doc__)
    parser.add_argument("--table", type=int, choices=(1, 2, 3), default=3)
    parser.add_argument("--config", default="paper")
    args, _ = parser.parse_known_args(argv)
    if args.table == 1:
        from pixtrack_tf import summary

        return summary.main(["--config", args.config])
    print(
        f"reproduce --table {args.table}: NOT AVAILABLE YET. The models (Table 1) exist; the data pipelines, "
        "training (Eq. 2, Eq. 4, Sec. 5.1), tracking (Algorithm 1) and evaluation needed for Tables 2 and 3 "
        "are still being built (issues 3, 4 and 5). No numbers are produced.",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
