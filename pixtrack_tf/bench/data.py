"""Throughput of the data pipelines.

``pixtrack data-bench --dataset davis2016 --root PATH [--config cpu] [--batches 20]``
prints sequences/s and frames/s of the local (Sec. 3.3) and global (Sec. 4) pipelines; it exits
non-zero when the data cannot be read.
"""

from __future__ import annotations

import time


def bench_pipeline(ds, batches: int, frames_per_sample: int) -> dict:
    it = iter(ds)
    first = next(it)  # warm-up: scans masks, starts workers
    b = int(next(iter(first.values())).shape[0])
    t = time.perf_counter()
    for _ in range(batches):
        next(it)
    dt = time.perf_counter() - t
    return {
        "batches": batches,
        "batch_size": b,
        "seconds": dt,
        "sequences_per_s": batches * b / dt,
        "frames_per_s": batches * b * frames_per_sample / dt,
    }
