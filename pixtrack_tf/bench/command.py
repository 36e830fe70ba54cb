"""The whole ``pixtrack track`` command as a user waits for it: a generated clip (600 frames of
854x480 by default: a textured object moving over a textured background, JPEG files), the command run
in a fresh process with the default tracker, and its wall-clock split into start-up (interpreter,
imports, model load, first frame), decode, model and write (the reader and writer threads overlap the
last two with the model, so they do not add up to the wall)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image


def make_clip(folder: Path, n: int = 600, hw=(480, 854), seed: int = 0) -> tuple[Path, Path]:
    """(frames folder, first mask) of a clip: a textured disc drifting over a textured background."""
    rng = np.random.default_rng(seed)
    H, W = hw
    frames = Path(folder) / "frames"
    shutil.rmtree(frames, ignore_errors=True)  # a clip of another length is replaced, not mixed in
    frames.mkdir(parents=True)
    bg = (rng.random((H // 8, W // 8, 3)) * 255).astype(np.uint8)
    bg = np.asarray(Image.fromarray(bg).resize((W, H), Image.BILINEAR))
    tex = (rng.random((H // 16, W // 16, 3)) * 255).astype(np.uint8)
    tex = np.asarray(Image.fromarray(tex).resize((W, H), Image.NEAREST))
    yy, xx = np.mgrid[:H, :W]
    r = min(H, W) / 6
    for t in range(n):
        cx = W / 2 + W / 4 * np.sin(2 * np.pi * t / 200)
        cy = H / 2 + H / 5 * np.cos(2 * np.pi * t / 150)
        disc = (xx - cx) ** 2 + (yy - cy) ** 2 < r**2
        Image.fromarray(np.where(disc[..., None], tex, bg)).save(frames / f"{t:05d}.jpg", quality=90)
        if t == 0:
            mask_path = Path(folder) / "first_mask.png"
            Image.fromarray(disc.astype(np.uint8) * 255).save(mask_path)
    return frames, mask_path


def command_bench(work: Path, n: int = 600, model: str | None = None, extra=()) -> dict:
    """Wall-clock frames/s of ``python -m pixtrack_tf track`` on the generated clip and its split."""
    work, clip = Path(work), Path(work) / "clip"
    frames, mask = clip / "frames", clip / "first_mask.png"
    if not mask.exists() or len(list(frames.glob("*.jpg"))) != n:  # made once per length, then reused
        frames, mask = make_clip(clip, n)
    out = work / "track"
    argv = [sys.executable, "-m", "pixtrack_tf", "track", "--frames", str(frames), "--mask", str(mask)]
    argv += ["--out", str(out), "--force", "--no-progress", *(["--model", model] if model else []), *extra]
    t = time.perf_counter()
    r = subprocess.run(argv, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if r.returncode != 0:
        raise RuntimeError(f"pixtrack track failed ({r.returncode}): {r.stderr[-2000:]}")
    doc = json.loads((out / "track.json").read_text())
    timing = doc["timing"]
    return {
        "frames": doc["tracked"],
        "frame_size": "854x480",
        "model": doc["model"],
        "precision": doc.get("precision"),
        "precision_reason": doc.get("precision_reason"),
        "wall_s": wall,
        "wall_fps": doc["tracked"] / wall,
        "startup_s": wall - timing["wall_s"],
        "decode_s": timing["decode_s"],
        "model_s": timing["model_s"],
        "write_s": timing["write_s"],
        "loop_s": timing["wall_s"],
        "model_fps": doc["frames_per_second"],
        "argv": " ".join(argv[1:]),
    }


def format_command(r: dict) -> str:
    from pixtrack_tf.hardware import cpu_flags, cpu_name

    flags = sorted(f for f in cpu_flags() if f.startswith(("avx512", "amx")))  # the bfloat16 ones among them
    return (
        f"pixtrack track, whole command, {r['frames']} frames of {r['frame_size']}, model {r['model']}, "
        f"precision {r['precision']} ({r['precision_reason']})\n"
        f"  wall-clock {r['wall_s']:.1f} s = {r['wall_fps']:.2f} frames/s (start-up included)\n"
        f"  start-up {r['startup_s']:.1f} s (interpreter, imports, model load, before the first frame)\n"
        f"  tracking loop {r['loop_s']:.1f} s: model {r['model_s']:.1f} s ({r['model_fps']:.2f} frames/s), "
        f"decode {r['decode_s']:.1f} s and write {r['write_s']:.1f} s in their own threads\n"
        f"  CPU: {cpu_name()}; flags: {' '.join(flags) or 'no AVX-512'}"
    )
