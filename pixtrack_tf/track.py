"""Track an object through your own video: ``pixtrack track`` / ``python -m pixtrack_tf.track``.

    pixtrack track --model PATH (--frames DIR | --video FILE) (--mask FIRST.png | --box x,y,w,h)
                   --out DIR [--threshold 0.5] [--force]

``--model``: an exported SavedModel (``python -m pixtrack_tf.export``), a training run folder, or
one of the reference trackers that need no training, ``first-mask`` (the first mask on every frame)
and ``optical-flow`` (the mask carried from frame to frame by DIS optical flow): run them on your
footage to see what a trained model has to beat.
Writes ``DIR/masks/<frame name>.png`` (0/255, the frame's size, one per input frame, the first being
the given mask), ``DIR/overlay.mp4`` (``overlay.gif`` when no MP4 encoder is available),
``DIR/track.json`` (per frame: ROI box, mask area, seconds) and prints frames/s.

Initialising from ``--box x,y,w,h``: the object mask of the first frame is the filled box (pixels
x..x+w-1, y..y+h-1), which the tracker then treats exactly like a mask (ROI of twice the box's longer
side; M-CNN reads the dilated box). A tight box works best.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image


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
            raise ValueError(f"{path}: a SavedModel computes in float32; --precision {precision} needs a training run folder")
        from pixtrack_tf.export import SavedModelTracker

        return SavedModelTracker(path)
    if (path / "config.yaml").exists():
        from pixtrack_tf.tracking import TwoStageTracker
        from pixtrack_tf.tracking.run import load_models

        cfg, lm, gm = load_models(path, overrides=[f"track.precision={precision}"] if precision else ())
        return TwoStageTracker(lm, gm, cfg)
    raise FileNotFoundError(
        f"{path}: neither a SavedModel (saved_model.pb), a training run folder (config.yaml) nor a reference tracker ({', '.join(REFERENCE_TRACKERS)})"
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


def main(argv=None) -> int:
    from pixtrack_tf.config import PRECISIONS

    p = argparse.ArgumentParser(prog="pixtrack track", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="SavedModel folder, training run folder, or first-mask / optical-flow (references, no training)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--frames", help="folder of frames (sorted by name)")
    src.add_argument("--video", help="video file (mp4, avi, ...)")
    init = p.add_mutually_exclusive_group(required=True)
    init.add_argument("--mask", help="the first frame's object mask (PNG; any non-zero pixel is object)")
    init.add_argument("--box", help="the first frame's object box x,y,w,h in pixels")
    p.add_argument("--out", required=True)
    p.add_argument("--threshold", type=float, default=0.5, help="probability above which a pixel is object")
    p.add_argument("--force", action="store_true", help="replace an existing output folder")
    p.add_argument("--precision", choices=PRECISIONS, default=None, help="arithmetic of a run folder's models (default: the run's track.precision)")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)

    from pixtrack_tf.data import DataError, read_folder, read_mask, read_video
    from pixtrack_tf.data.draw import overlay
    from pixtrack_tf.data.sequence import frame_names

    out = Path(args.out)
    try:
        if out.exists() and any(out.iterdir()):
            if not args.force:
                raise DataError(f"{out} exists and is not empty; pass --force to replace it (nothing was written)")
            shutil.rmtree(out)
        seq = read_folder(args.frames) if args.frames else read_video(args.video)
        first = seq.frame(0)
        if args.mask:
            mask = read_mask(args.mask)
            if mask.shape != first.shape[:2]:
                raise DataError(f"{args.mask}: mask is {mask.shape[1]}x{mask.shape[0]} but the frames are {first.shape[1]}x{first.shape[0]}")
            if not mask.any():
                raise DataError(f"{args.mask}: the mask is empty (no object pixel)")
        else:
            mask = parse_box(args.box, first.shape[:2])
        tracker = load_tracker(args.model, args.precision)
    except (DataError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    names = frame_names(seq)
    (out / "masks").mkdir(parents=True)
    bar = None
    if not args.no_progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(seq), desc="tracking", unit="frame")
    records, overlays = [], []
    t_all = time.perf_counter()
    for i in range(len(seq)):
        frame = first if i == 0 else seq.frame(i)
        t = time.perf_counter()
        res = tracker.init(frame, mask) if i == 0 else tracker.track(frame)
        dt = time.perf_counter() - t
        binary = mask if i == 0 else res.prob > args.threshold
        Image.fromarray(binary.astype(np.uint8) * 255).save(out / "masks" / f"{names[i]}.png")
        records.append({"frame": names[i], "box": [float(v) for v in res.box], "area": int(binary.sum()), "seconds": dt})
        ov = Image.fromarray(overlay(frame, binary))
        from PIL import ImageDraw

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
    (out / "track.json").write_text(json.dumps({"model": str(args.model), "threshold": args.threshold, "frames_per_second": fps, "frames": records}, indent=1))
    print(f"tracked {len(seq)} frames in {total:.1f} s: {fps:.1f} frames/s (tracking steps only); wrote {out / 'masks'}, {video}, {out / 'track.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
