"""The ``pixtrack`` command: ``pixtrack <command> [options]``; each command is also
``python -m pixtrack_tf.<module>``.

    track       track an object through a video or a folder of frames   (pixtrack_tf.track)
    train       train the local / global models, Sec. 5.1              (pixtrack_tf.train)
    reproduce   the paper's Tables 1-3                                  (pixtrack_tf.reproduce)
    export      SavedModel of the two-stage tracker                     (pixtrack_tf.export)
    evaluate    recompute metrics from raw results                      (pixtrack_tf.evaluation.evaluator)
    compare     put several reproduce results side by side              (pixtrack_tf.evaluation.compare)
    summary     Table 1 beside our layers                               (pixtrack_tf.summary)
    bench       speed against this machine's limit                      (pixtrack_tf.bench)
    data-bench  data pipeline throughput                                (pixtrack_tf.data.bench)

Every command is a thin module of this package (``pixtrack_tf.cli.<command>``): it parses its
flags and calls one library function; the work is done in the library.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    name: f"pixtrack_tf.cli.{name.replace('-', '_')}"
    for name in ("track", "train", "reproduce", "export", "evaluate", "compare", "summary", "bench", "data-bench")
}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    if cmd not in COMMANDS:
        print(f"pixtrack: unknown command {cmd!r}\n{__doc__}", file=sys.stderr)
        return 2
    return importlib.import_module(COMMANDS[cmd]).main(rest)


if __name__ == "__main__":
    sys.exit(main())
