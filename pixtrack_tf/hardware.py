"""What this machine's CPU can do, and the precision a tracker computes in when the user leaves it to
us (``--precision auto``): bfloat16 where the CPU has native bfloat16 arithmetic (AMX or AVX512-BF16)
*and* a convolution measured here runs faster in it than in float32, float32 everywhere else.

The measurement (a VGG-sized 3x3 convolution in both precisions, ~1 s) is made once per CPU and kept
in ``~/.cache/pixtrack_tf/precision.json`` (``PIXTRACK_CACHE`` moves it); its result, the CPU's flags
and the reason are returned together so that a run can record why it chose what it did.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

BF16_FLAGS = ("amx_bf16", "avx512_bf16")  # /proc/cpuinfo flags of native bfloat16 arithmetic
MIN_SPEEDUP = 1.1  # bfloat16 must be at least this much faster to be chosen


def cpuinfo_field(name: str) -> str | None:
    """The first CPU's ``name`` field in Linux ``/proc/cpuinfo`` (None where it cannot be read)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(name):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_flags() -> set[str]:
    """The CPU's feature flags (empty where they cannot be read)."""
    return set((cpuinfo_field("flags") or "").split())


def cpu_name() -> str:
    return cpuinfo_field("model name") or platform.processor() or platform.machine()


def _cache_path() -> Path:
    return Path(os.environ.get("PIXTRACK_CACHE", Path.home() / ".cache" / "pixtrack_tf")) / "precision.json"


def measure_bf16_speedup(repeats: int = 5) -> float:
    """float32 time / bfloat16 time of a 3x3 convolution, 256 -> 256 channels on 60x107 (conv4 of a
    854x480 frame at half scale), median of ``repeats`` after a warm-up, in this process."""
    import tensorflow as tf

    def timed(dtype):
        x = tf.random.normal((1, 60, 107, 256), dtype=tf.float32)
        w = tf.random.normal((3, 3, 256, 256), dtype=tf.float32) * 0.05
        x, w = tf.cast(x, dtype), tf.cast(w, dtype)
        conv = tf.function(lambda a, b: tf.nn.conv2d(a, b, 1, "SAME"))
        conv(x, w).numpy()
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            for _ in range(4):
                y = conv(x, w)
            y.numpy()
            times.append(time.perf_counter() - t)
        return sorted(times)[len(times) // 2]

    return timed(tf.float32) / timed(tf.bfloat16)


def auto_precision(flags: set[str] | None = None, measure=None) -> dict:
    """``{"precision", "reason", "flags", "speedup"}``: bfloat16 when the CPU has native bfloat16
    (:data:`BF16_FLAGS`) and ``measure()`` finds it at least :data:`MIN_SPEEDUP` times faster, else
    float32. A measurement is cached per CPU (name and flags); ``flags`` given = no cache (tests)."""
    given = flags is not None
    flags = cpu_flags() if flags is None else set(flags)
    native = sorted(f for f in BF16_FLAGS if f in flags)
    if not native:
        return {"precision": "float32", "reason": "no native bfloat16 on this CPU (no AMX, no AVX512-BF16)",
                "flags": native, "speedup": None}  # fmt: skip
    key = f"{cpu_name()} {' '.join(native)} {os.cpu_count()}"
    cache = _cache_path()
    known = {}
    if not given and cache.exists():
        try:
            known = json.loads(cache.read_text())
        except (OSError, ValueError):
            known = {}
    speedup = known.get(key)
    if speedup is None:
        speedup = float((measure or measure_bf16_speedup)())
        if not given:
            try:
                cache.parent.mkdir(parents=True, exist_ok=True)
                cache.write_text(json.dumps({**known, key: speedup}, indent=1))
            except OSError:
                pass  # a read-only home: measure again next time
    fast = speedup >= MIN_SPEEDUP
    return {
        "precision": "bfloat16" if fast else "float32",
        "reason": f"{'/'.join(native)}: bfloat16 measured {speedup:.2f}x float32 here"
        + ("" if fast else f" (under {MIN_SPEEDUP}x: float32)"),
        "flags": native,
        "speedup": round(speedup, 3),
    }
