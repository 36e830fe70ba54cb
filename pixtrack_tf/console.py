"""The console a command starts in: TensorFlow imported without its start-up messages."""

from __future__ import annotations

import contextlib
import os
import sys


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
