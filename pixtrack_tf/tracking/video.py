"""Tracking a user's video, streamed (the library part of ``pixtrack track``).

Frames are decoded one at a time (a folder of images or a video file), and each frame's mask, its
overlay frame and its ``frames.jsonl`` line are written as soon as it is tracked, so memory does not
grow with the video's length.

What the output folder says, whatever happens:

* ``masks/<frame>.png``: 0/255 for one object; for several objects a palette PNG, value k = object k
  (overlaps go to the object with the highest probability), DAVIS 2017 layout.
* ``frames.jsonl``: one line per input frame as it is done: ``{"frame", "status": "tracked" |
  "skipped", "boxes", "areas", "seconds"}`` (``reason`` for a skipped frame).
* ``track.json``: the summary (model, objects, frames/s and ``status``: ``complete``, ``incomplete``
  — some frames were skipped or the video could not be decoded to its end — ``interrupted``, or
  ``failed`` when the first frame could not be used), and every frame's record; rewritten every 100
  frames (``status: running`` until the end) and at the end.
* ``overlay.mp4`` (``overlay.gif`` without an MP4 encoder): the tracked frames with masks and ROIs.

A frame that cannot be decoded is reported (name and reason) and skipped: the tracker keeps its state
and goes on with the next frame. A video whose decoding fails part-way ends there (later frames cannot
be reached). Ctrl-C stops with the folder consistent and ``status: interrupted``. ``resume=True``
tracks the video again into the same folder from the first frame (the recurrent trackers need every
earlier frame to reach frame t's state) and keeps the mask files already written.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from pixtrack_tf.data.draw import overlay
from pixtrack_tf.data.sequence import VIDEO_EXTS, DataError, decode_rgb, list_images
from pixtrack_tf.tracking.streams import Prefetch, Writer

PALETTE = [0, 0, 0, 230, 25, 75, 60, 180, 75, 255, 225, 25, 0, 130, 200, 245, 130, 48, 145, 30, 180, 70, 240, 240]
SUMMARY_EVERY = 100  # frames between two rewrites of track.json


def parse_box(text: str, hw) -> np.ndarray:
    """``x,y,w,h`` in pixels -> the filled box as an (H, W) bool mask of a frame of size ``hw``."""
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


def iter_frames(frames_dir=None, video=None):
    """Yield ``(name, frame or None, error or None)`` one frame at a time, nothing kept.

    A folder: frames in natural order, named by file stem; an undecodable file gives an error item
    and the next file follows. A video: frames named 00000, 00001, ...; a decoding failure gives one
    error item and ends the stream."""
    if frames_dir is not None:
        paths = list_images(frames_dir)
        if not paths:
            raise DataError(f"{frames_dir}: no images")
        for p in paths:
            try:
                yield p.stem, decode_rgb(p), None
            except DataError as e:
                yield p.stem, None, str(e)
        return
    import imageio.v3 as iio

    path = Path(video)
    if not path.exists():
        raise DataError(f"{path}: video file is missing")
    if path.suffix.lower() not in VIDEO_EXTS:
        raise DataError(f"{path}: not a video file ({', '.join(VIDEO_EXTS)})")
    expected = _expected_frames(path)
    i = 0
    try:
        for fr in iio.imiter(path):
            yield f"{i:05d}", np.ascontiguousarray(np.asarray(fr)[..., :3]), None
            i += 1
    except Exception as e:  # noqa: BLE001 - imageio / ffmpeg raise many kinds
        if i == 0:
            raise DataError(f"{path}: cannot decode video ({type(e).__name__}: {e})") from None
        yield f"{i:05d}", None, f"{path}: video decoding failed after frame {i - 1} ({type(e).__name__}: {e})"
        return
    if i == 0:
        raise DataError(f"{path}: the video has no frames")
    if expected is not None and i < expected - max(1, 0.02 * expected):
        # ffmpeg ends a truncated file without an error: compare with the container's duration
        yield (
            f"{i:05d}",
            None,
            f"{path}: video decoding failed after frame {i - 1} of ~{expected} (truncated or damaged file?)",
        )


def _expected_frames(path):
    """Frames the container announces (duration x fps), or None when it does not say."""
    try:
        import imageio.v2 as imageio

        with imageio.get_reader(path) as r:
            md = r.get_meta_data()
        n = float(md.get("duration", float("nan"))) * float(md.get("fps", float("nan")))
        return int(round(n)) if np.isfinite(n) and n > 0 else None
    except Exception:  # noqa: BLE001 - no metadata: nothing to compare with
        return None


class OverlayWriter:
    """Overlay frames appended one at a time: MP4 (ffmpeg via imageio), GIF when no MP4 encoder works."""

    def __init__(self, out_dir: Path, fps: float = 12.0):
        self.out_dir, self.fps, self.writer, self.path = Path(out_dir), fps, None, None

    def _open(self, frame):
        import imageio.v2 as imageio

        try:
            self.path = self.out_dir / "overlay.mp4"
            self.writer = imageio.get_writer(self.path, fps=self.fps, codec="libx264", quality=7, macro_block_size=2)
            self.writer.append_data(frame)
        except Exception:  # noqa: BLE001 - no ffmpeg: fall back to GIF
            if self.writer is not None:
                self.writer.close()
            self.path.unlink(missing_ok=True)
            self.path = self.out_dir / "overlay.gif"
            self.writer = imageio.get_writer(self.path, mode="I", duration=1000.0 / self.fps)
            self.writer.append_data(frame)

    def append(self, frame):
        frame = frame[: frame.shape[0] // 2 * 2, : frame.shape[1] // 2 * 2]  # even sizes for H.264
        if self.writer is None:
            self._open(frame)
        else:
            self.writer.append_data(frame)

    def close(self):
        if self.writer is not None:
            self.writer.close()


def label_map(probs, ids, threshold: float) -> np.ndarray:
    """Object probabilities (N, H, W) -> uint8 labels: value ids[k] where object k's probability is
    above ``threshold`` and the highest, 0 elsewhere."""
    probs = np.asarray(probs)
    best = probs.argmax(axis=0)
    labels = np.asarray(ids, np.uint8)[best]
    return np.where(probs.max(axis=0) > threshold, labels, 0).astype(np.uint8)


def _save_mask(path: Path, labels: np.ndarray, several: bool):
    if several:
        im = Image.fromarray(labels, mode="P")
        im.putpalette(PALETTE + [0] * (768 - len(PALETTE)))
    else:
        im = Image.fromarray((labels > 0).astype(np.uint8) * 255)
    tmp = path.with_suffix(".tmp.png")
    im.save(tmp)
    tmp.replace(path)  # a mask file is whole or absent


def _draw(frame, labels, boxes):
    ov = Image.fromarray(overlay(frame, labels > 0))
    d = ImageDraw.Draw(ov)
    for b in boxes:
        d.rectangle([float(v) for v in b], outline=(255, 220, 0), width=2)
    return np.asarray(ov)


def _write_summary(out: Path, summary: dict, t_all: float, reader, writer, outputs) -> None:
    """``track.json``: the counts so far, frames/s of the tracking steps and where the wall-clock went
    (``timing``: decode, model, write, wall seconds), written whole or not at all."""
    tracked = [r["seconds"] for r in summary["frames"][1:] if r["status"] == "tracked"]
    summary["frames_per_second"] = len(tracked) / sum(tracked) if tracked and sum(tracked) > 0 else float("nan")
    summary["tracked"] = sum(r["status"] == "tracked" for r in summary["frames"])
    summary["skipped"] = sum(r["status"] == "skipped" for r in summary["frames"])
    summary["seconds"] = time.perf_counter() - t_all
    model_s = sum(r["seconds"] for r in summary["frames"] if r["status"] == "tracked")
    summary["timing"] = {"decode_s": reader.seconds, "model_s": model_s, "write_s": writer.seconds}
    summary["timing"]["wall_s"] = summary["seconds"]
    video = outputs.video
    summary["overlay"] = None if video is None or video.path is None else video.path.name
    tmp = out / "track.json.tmp"
    tmp.write_text(json.dumps(summary, indent=1))
    tmp.replace(out / "track.json")


class _Outputs:
    """What the writer thread does for each frame, in order: its mask, its overlay frame, then its
    ``frames.jsonl`` line (a line in the log means its mask is on disk)."""

    def __init__(self, out: Path, several: bool, resume: bool, overlay: bool):
        self.out, self.several, self.resume = out, several, resume
        self.log = open(out / "frames.jsonl", "w")  # noqa: SIM115 - closed by close()
        self.video = OverlayWriter(out) if overlay else None

    def write(self, record, frame=None, labels=None):
        if record["status"] == "tracked":
            path = self.out / "masks" / f"{record['frame']}.png"
            if not (self.resume and path.exists()):
                _save_mask(path, labels, self.several)
            if self.video is not None:
                self.video.append(_draw(frame, labels, record["boxes"]))
        self.log.write(json.dumps(record) + "\n")
        self.log.flush()

    def close(self):
        if self.video is not None:
            self.video.close()
        self.log.close()


def _track_frame(tracker, i, name, frame, masks, threshold):
    """(record, labels) of one decoded frame: the first one initialises the tracker with ``masks``."""
    ids = list(masks)
    t = time.perf_counter()
    if i == 0:
        results = tracker.init(frame, [masks[k] for k in ids])
        probs = np.stack([masks[k].astype(np.float32) for k in ids])
    else:
        results = tracker.track(frame)
        probs = np.stack([r.prob for r in results])
    dt = time.perf_counter() - t
    labels = label_map(probs, ids, threshold if i else 0.5)
    boxes = [[float(v) for v in r.box] for r in results]
    areas = [int((labels == k).sum()) for k in ids]
    return {"frame": name, "status": "tracked", "boxes": boxes, "areas": areas, "seconds": dt}, labels


def track_video(
    frames,
    masks: dict,
    tracker,
    out: Path,
    threshold=0.5,
    model_name="",
    progress=True,
    warn=print,
    resume=False,
    overlay=True,
    info=None,
) -> dict:
    """Track ``frames`` (:func:`iter_frames`) from the first frame's object masks ``{id: (H, W) bool}``
    with ``tracker`` (:func:`pixtrack_tf.runs.load_tracker`), streaming the outputs into ``out`` (see
    the module docstring): frames are decoded ahead in a reader thread and the outputs written
    behind in a writer thread (:mod:`pixtrack_tf.tracking.streams`); ``overlay=False`` writes no
    overlay video. ``info``: more to record in ``track.json`` (e.g. the precision and why). Returns the
    summary that ``track.json`` holds, with ``timing``: decode, model and write seconds and the wall."""
    out = Path(out)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    summary = {"model": model_name, **(info or {}), "threshold": threshold, "objects": list(masks)}
    summary.update(status="running", frames=[])
    outputs = _Outputs(out, len(masks) > 1, resume, overlay)
    writer, reader = Writer(outputs.write), Prefetch(frames)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(desc="tracking", unit="frame")
    t_all, hw, stopped = time.perf_counter(), None, None

    def write_summary():
        _write_summary(out, summary, t_all, reader, writer, outputs)

    try:
        for i, (name, frame, error) in enumerate(reader):
            if error is None and hw is not None and frame.shape[:2] != hw:
                error = f"frame {name} is {frame.shape[1]}x{frame.shape[0]}, the first frame {hw[1]}x{hw[0]}"
            if error is not None:
                if i == 0:
                    raise DataError(error)
                warn(f"warning: skipped frame {name}: {error}")
                record, job = {"frame": name, "status": "skipped", "reason": error}, ()
                stopped = stopped or (error if "video decoding failed" in error else None)
            else:
                hw = hw or frame.shape[:2]
                record, labels = _track_frame(tracker, i, name, frame, masks, threshold)
                job = (frame, labels)
            writer.put(record, *job)
            summary["frames"].append(record)
            if bar is not None:
                bar.update(1)
            if len(summary["frames"]) % SUMMARY_EVERY == 0:
                write_summary()
        skipped = any(r["status"] == "skipped" for r in summary["frames"])
        summary["status"] = "incomplete" if (stopped or skipped) else "complete"
    except KeyboardInterrupt:
        summary["status"] = "interrupted"
        warn(f"interrupted after {len(summary['frames'])} frames; the output folder describes them")
    except (DataError, OSError) as e:
        summary["status"], summary["error"] = "failed", str(e)
        raise
    finally:
        reader.close()
        try:
            writer.close()  # every frame tracked so far is written before track.json says so
        except OSError as e:
            summary["status"], summary["error"] = "failed", f"writing the outputs: {e}"
            raise
        finally:
            outputs.close()
            if bar is not None:
                bar.close()
            write_summary()
    return summary
