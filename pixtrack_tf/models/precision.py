"""Numeric precision of the models: float32, or Keras ``mixed_bfloat16`` (bfloat16 arithmetic on
float32 weights). Not a paper element: the paper reports float32 speeds only (Sec. 5.2)."""
from __future__ import annotations

import contextlib

import keras

from pixtrack_tf.config import PRECISIONS

POLICIES = dict(zip(PRECISIONS, ("float32", "mixed_bfloat16")))  # track.precision -> Keras policy


@contextlib.contextmanager
def precision(name: str):
    """Models built inside ``with precision("bfloat16"):`` compute in bfloat16; the global Keras
    policy is restored on exit, so models built elsewhere are not affected."""
    if name not in POLICIES:
        raise ValueError(f"precision must be one of {', '.join(POLICIES)}, got {name!r}")
    old = keras.config.dtype_policy()
    keras.config.set_dtype_policy(POLICIES[name])
    try:
        yield
    finally:
        keras.config.set_dtype_policy(old)
