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
    global-check  the global model on ground-truth maps against Eq. (5)  (pixtrack_tf.cli.global_check)
    affinity-select  the feature-affinity reference's settings, chosen on DAVIS train  (pixtrack_tf.cli.affinity_select)

Every command is a thin module of this package (``pixtrack_tf.cli.<command>``): it parses its
flags and calls one library function; the work is done in the library. TensorFlow's start-up
messages are silenced; ``--verbose`` (any command) shows them.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys

VERBOSE_FLAG = "--verbose"


@contextlib.contextmanager
def _stderr_to_devnull():
    """Send file descriptor 2 to /dev/null (TensorFlow's C++ start-up lines are written there before
    any Python logging exists, so neither TF_CPP_MIN_LOG_LEVEL nor absl can hold them back)."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def quiet_tensorflow(verbose: bool = False) -> None:
    """Import TensorFlow and initialise its devices without its start-up messages (``cudart_stub``,
    ``cuInit``, oneDNN notices); ``verbose`` keeps them. An import error still shows: it is raised
    again after stderr is restored."""
    if verbose or "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _stderr_to_devnull():
        import tensorflow as tf

        tf.config.list_physical_devices()
    import absl.logging

    absl.logging.set_verbosity(absl.logging.ERROR)


if __name__ != "__main__" and sys.argv and sys.argv[0] != "-c":
    # a command starting (``pixtrack ...`` or ``python -m pixtrack_tf.<command>``): quiet unless
    # --verbose, which every command accepts (it is taken out of the arguments here)
    _verbose = VERBOSE_FLAG in sys.argv[1:]
    sys.argv = [a for a in sys.argv if a != VERBOSE_FLAG]
    quiet_tensorflow(_verbose)

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
    cmd, rest = argv[0], argv[1:]
    if cmd not in COMMANDS:
        print(f"pixtrack: unknown command {cmd!r}\n{__doc__}", file=sys.stderr)
        return 2
    return importlib.import_module(COMMANDS[cmd]).main(rest)


if __name__ == "__main__":
    sys.exit(main())
