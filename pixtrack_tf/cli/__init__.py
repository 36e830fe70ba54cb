"""The ``pixtrack`` command: ``pixtrack <command> [options]``, also ``python -m pixtrack_tf <command>``.

    track       track objects through a video or a folder of frames
    train       train the local / global models, Sec. 5.1
    reproduce   the paper's Tables 1-3 (also python -m pixtrack_tf.reproduce)
    export      SavedModel of a tracker, or a compact run folder
    evaluate    recompute metrics from raw results
    compare     put several reproduce results side by side
    summary     Table 1 beside our layers
    bench       speed against this machine's limit
    data-bench  data pipeline throughput
    global-check  the global model on ground-truth maps against Eq. 5
    affinity-select  the feature-affinity reference's settings, chosen on DAVIS train

Every command is a thin module of this package (``pixtrack_tf.cli.<command>``): it parses its
flags and calls the library; :mod:`pixtrack_tf.cli.common` turns errors into exit codes.
TensorFlow's start-up messages are silenced; ``--verbose`` (any command) shows them.
"""

from __future__ import annotations

import importlib
import sys

VERBOSE_FLAG = "--verbose"

COMMANDS = {
    name: f"pixtrack_tf.cli.{name.replace('-', '_')}"
    for name in (
        "track",
        "train",
        "reproduce",
        "export",
        "evaluate",
        "compare",
        "summary",
        "bench",
        "data-bench",
        "global-check",
        "affinity-select",
    )
}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    cmd, rest = argv[0], [a for a in argv[1:] if a != VERBOSE_FLAG]
    if cmd not in COMMANDS:
        print(f"pixtrack: unknown command {cmd!r}\n{__doc__}", file=sys.stderr)
        return 2
    from pixtrack_tf.console import quiet_tensorflow

    quiet_tensorflow(verbose=VERBOSE_FLAG in argv[1:])
    return importlib.import_module(COMMANDS[cmd]).main(rest)
