"""Local-model training throughput with and without the backbone feature store (``bench --train``).

In one process, for each precision (float32, Keras ``mixed_bfloat16``): the same compiled training
step as :func:`pixtrack_tf.training.loop.fit` (Eq. 2, Adam, clipping) fed by the image pipeline
(:func:`pixtrack_tf.data.pipelines.local_dataset`: decode, crop, the frozen VGG16 in every step) and
by the store (:mod:`pixtrack_tf.training.feature_store`: pool4 read from disk). Frames/s count the T
frames of each of the B sequences of a step. Building the store is timed apart: it is paid once.
"""

from __future__ import annotations

import dataclasses
import time

import keras
import tensorflow as tf

from pixtrack_tf.config import PRECISIONS
from pixtrack_tf.training.loop import make_train_step
from pixtrack_tf.training.tasks import LocalTask


def _steps_per_s(task, steps: int, warmup: int) -> float:
    model = task.build_model()
    optimizer = keras.optimizers.Adam(task.lr)
    optimizer.build(model.trainable_variables)
    step = make_train_step(task, model, optimizer, tf.distribute.get_strategy())
    it = iter(task.dataset(0, task.cfg.data.batch_size))
    for _ in range(warmup):
        float(step(next(it))[0])
    t = time.perf_counter()
    for _ in range(steps):
        float(step(next(it))[0])
    return steps / (time.perf_counter() - t)


def train_throughput(cfg, sequences, store_root, steps: int = 4, warmup: int = 2, precisions=PRECISIONS) -> dict:
    """Frames/s of local-model training from images and from the store, per precision, and
    ``train_cached_speedup`` = store / images in float32 (``..._bfloat16`` in bfloat16)."""
    from pixtrack_tf.training.feature_store import open_or_build

    base = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, feature_store=str(store_root)))
    t = time.perf_counter()
    store = open_or_build(store_root, base, sequences, progress=False)
    frames = sum(len(s) for s in sequences)
    out = {
        "config": cfg.name,
        "batch": cfg.data.batch_size,
        "seq_len": cfg.data.seq_len,
        "roi_size": cfg.local.roi_size,
        "store_jitters": store.jitters,
        "store_build_s": time.perf_counter() - t,
        "store_frames": frames,
        "store_mb": store.size_bytes / 2**20,
        "timed_steps": steps,
    }
    per_step = cfg.data.batch_size * cfg.data.seq_len
    for precision in precisions:
        c = dataclasses.replace(base, train=dataclasses.replace(base.train, precision=precision))
        for name, use_store in (("images", False), ("store", True)):
            rate = _steps_per_s(LocalTask(c, sequences, store=use_store, progress=False), steps, warmup)
            out[f"{precision}_{name}_frames_per_s"] = rate * per_step
        out[f"{precision}_cached_speedup"] = (
            out[f"{precision}_store_frames_per_s"] / out[f"{precision}_images_frames_per_s"]
        )
    if "float32" in precisions:
        out["train_cached_speedup"] = out["float32_cached_speedup"]
    if set(PRECISIONS) <= set(precisions):
        out["bfloat16_over_float32_store"] = out["bfloat16_store_frames_per_s"] / out["float32_store_frames_per_s"]
    return out


def format_train_report(r: dict) -> str:
    lines = [
        f"config {r['config']}: local-model training, batch {r['batch']} x {r['seq_len']} frames, ROI {r['roi_size']}",
        f"feature store: {r['store_frames']} frames x K={r['store_jitters']} built in {r['store_build_s']:.0f} s "
        f"({r['store_mb']:.0f} MiB); {r['timed_steps']} timed steps each",
    ]
    for p in PRECISIONS:
        if f"{p}_cached_speedup" in r:
            lines.append(
                f"{p}: images {r[f'{p}_images_frames_per_s']:.2f} frames/s, store {r[f'{p}_store_frames_per_s']:.2f} "
                f"frames/s -> {r[f'{p}_cached_speedup']:.1f}x"
            )
    if "bfloat16_over_float32_store" in r:
        lines.append(f"bfloat16 / float32 with the store: {r['bfloat16_over_float32_store']:.2f}x")
    return "\n".join(lines)
