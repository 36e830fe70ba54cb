"""Tracking a user's video (the library part of ``pixtrack track``): the first frame's box as a mask,
the tracker a ``--model`` names, the per-frame loop that writes masks, an overlay video and
``track.json``."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from pixtrack_tf.data.draw import overlay
from pixtrack_tf.data.sequence import frame_names


def parse_box(text: str, hw) -> np.ndarray:
    try:
        x, y, w, h = (float(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"--box {text!r}: expected x,y,w,h (four numbers)") from None
    if w <= 0 or h <= 0:
        raise ValueError(f"--box {text!r}: width and height must be positive")
    H, W = hw
    x0, y0 = int(round(max(x, 0))), int(round(max(y, 0)))
    x1, y1 = int(round(min(x + w, W))), int(round(min(y + h, H)))
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"--box {text!r} lies outside the {W}x{H} first frame")
    m = np.zeros((H, W), bool)
    m[y0:y1, x0:x1] = True
    return m


def load_tracker(path, precision=None):
    """A SavedModel folder -> :class:`SavedModelTracker`; a run folder -> :class:`TwoStageTracker`
    (computing in ``precision``, default the run's ``track.precision``)."""
    from pixtrack_tf.tracking.reference import REFERENCE_TRACKERS, reference_tracker

    if str(path) in REFERENCE_TRACKERS:
        return reference_tracker(str(path))
    path = Path(path)
    if (path / "saved_model.pb").exists():
        if precision not in (None, "float32"):
            raise ValueError(
                f"{path}: a SavedModel computes in float32; --precision {precision} needs a training run folder"
            )
        from pixtrack_tf.tracking.savedmodel import SavedModelTracker

        return SavedModelTracker(path)
    if (path / "config.yaml").exists():
        from pixtrack_tf.tracking import TwoStageTracker
        from pixtrack_tf.tracking.run import load_models

        cfg, lm, gm = load_models(path, overrides=[f"track.precision={precision}"] if precision else ())
        return TwoStageTracker(lm, gm, cfg)
    raise FileNotFoundError(
        f"{path}: neither a SavedModel (saved_model.pb), a training run folder "
        f"(config.yaml) nor a reference tracker ({', '.join(REFERENCE_TRACKERS)})"
    )


def write_overlay_video(frames_iter, out_dir: Path, fps: float = 12.0) -> Path:
    """Encode overlay frames as MP4 (ffmpeg via imageio), or GIF when that fails."""
    import imageio.v2 as imageio

    frames = list(frames_iter)
    # even sizes for H.264
    frames = [f[: f.shape[0] // 2 * 2, : f.shape[1] // 2 * 2] for f in frames]
    path = out_dir / "overlay.mp4"
    try:
        with imageio.get_writer(path, fps=fps, codec="libx264", quality=7, macro_block_size=2) as w:
            for f in frames:
                w.append_data(f)
        return path
    except Exception:  # noqa: BLE001 - no ffmpeg: fall back to GIF
        path.unlink(missing_ok=True)
        path = out_dir / "overlay.gif"
        imageio.mimsave(path, frames, duration=1.0 / fps)
        return path


def track_video(
    seq, mask, tracker, out: Path, threshold: float = 0.5, model_name: str = "", progress: bool = True
) -> dict:
    """Track ``seq`` from its first frame's ``mask`` with ``tracker`` (``init``/``track``); writes
    ``out/masks/<frame>.png`` (0/255), the overlay video and ``out/track.json``. Returns a summary
    (frames, seconds, frames/s of the tracking steps, the video's path)."""
    names = frame_names(seq)
    (out / "masks").mkdir(parents=True)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(seq), desc="tracking", unit="frame")
    records, overlays = [], []
    t_all = time.perf_counter()
    for i in range(len(seq)):
        frame = seq.frame(i)
        t = time.perf_counter()
        res = tracker.init(frame, mask) if i == 0 else tracker.track(frame)
        dt = time.perf_counter() - t
        binary = mask if i == 0 else res.prob > threshold
        Image.fromarray(binary.astype(np.uint8) * 255).save(out / "masks" / f"{names[i]}.png")
        records.append(
            {"frame": names[i], "box": [float(v) for v in res.box], "area": int(binary.sum()), "seconds": dt}
        )
        ov = Image.fromarray(overlay(frame, binary))
        ImageDraw.Draw(ov).rectangle([float(v) for v in res.box], outline=(255, 220, 0), width=2)
        overlays.append(np.asarray(ov))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    total = time.perf_counter() - t_all
    tracked = [r["seconds"] for r in records[1:]]
    fps = len(tracked) / sum(tracked) if tracked and sum(tracked) > 0 else float("nan")
    video = write_overlay_video(overlays, out)
    doc = {"model": model_name, "threshold": threshold, "frames_per_second": fps, "frames": records}
    (out / "track.json").write_text(json.dumps(doc, indent=1))
    return {"frames": len(seq), "seconds": total, "frames_per_second": fps, "video": video}
