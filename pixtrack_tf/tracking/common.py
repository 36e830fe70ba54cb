"""What every tracker shares: the result type, input checks, the first frame's ROI and theta_0,
the first ROI crop and the local model's memory from it (Sec. 3.2), Eq. 5; one tracker run over a
sequence (:func:`track_sequence`) and single-object trackers behind the multi-object API (:class:`PerObject`)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import tensorflow as tf
from PIL import Image

from pixtrack_tf.data.sequence import DataError, mask_box
from pixtrack_tf.layers.transformer import CENTROID_EPS
from pixtrack_tf.ops.roi import box_to_theta, crop_roi, dilate, roi_around

OBJECT_P = 0.5  # a pixel is the object's where p >= OBJECT_P (the masks the trackers write, DAVIS J)


@dataclass
class TrackResult:
    prob: np.ndarray  # (H, W) float32 probabilities
    box: np.ndarray  # (4,) ROI x0, y0, x1, y1 in pixels


def initial_box(mask: np.ndarray, context: float, lo: float, hi: float) -> np.ndarray:
    """The first frame's ROI: the Sec. 3.3 rule (:func:`roi_around`) on the given mask."""
    b = mask_box(mask)
    if b is None:
        raise DataError("the first mask is empty (no object pixel)")
    return roi_around(b, context, lo, hi)


def check_frame(frame, hw=None):
    """A frame as (H, W, 3) uint8, of the first frame's size ``hw`` when given; DataError otherwise."""
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[-1] != 3:
        raise DataError(f"a frame must be (H, W, 3) RGB, got shape {frame.shape}")
    if hw is not None and frame.shape[:2] != tuple(hw):
        raise DataError(f"frame is {frame.shape[1]}x{frame.shape[0]}, the first frame was {hw[1]}x{hw[0]}")
    return frame.astype(np.uint8, copy=False)


def object_theta0(masks, hw, anchor) -> np.ndarray:
    """theta_0 of Algorithm 1 for (N, H, W) bool masks: the square around each object (side = its
    longer side), as theta (N, 3); :func:`object_square` is its TensorFlow twin."""
    squares = np.stack([roi_around(mask_box(m), 1.0, 0.0, np.inf) for m in masks])
    return box_to_theta(squares, np.asarray(hw), anchor).numpy()


def check_first(frame, mask):
    """The first frame and its object mask, checked: (H, W, 3) uint8 and a non-empty (H, W) bool mask."""
    frame = check_frame(frame)
    mask = np.asarray(mask).astype(bool)
    if mask.shape != frame.shape[:2]:
        raise DataError(f"mask is {mask.shape[1]}x{mask.shape[0]} but the frame is {frame.shape[1]}x{frame.shape[0]}")
    if not mask.any():
        raise DataError("the first mask is empty (no object pixel)")
    return frame, mask


def as_float32(tensors):
    """States and theta leave a model in its compute dtype (bfloat16 under ``track.precision``);
    the compiled steps' signatures carry them as float32."""
    return [tf.cast(t, tf.float32) for t in tensors]


def state_specs(cfg, batch=1):
    """TensorSpecs of the global and of the local model's ConvLSTM states ([h1, c1, h2, c2] each
    take one) for ``batch`` objects (None: any number)."""
    M, S = cfg.global_.map_size, cfg.local.roi_size
    fg = M // 2 ** len(cfg.global_.conv_filters)
    return (
        tf.TensorSpec((batch, fg, fg, cfg.global_.lstm_filters), tf.float32),
        tf.TensorSpec((batch, S // 16, S // 16, cfg.local.lstm_filters), tf.float32),
    )


def shifted_copies(box, n: int, shift: float, scale: float, rng) -> np.ndarray:
    """``n`` copies of a square ROI box (4,) as (n, 4) float32: the first the box itself, the others
    with the centre moved by up to ``shift`` of the side in x and in y and the side scaled by a factor
    in [1 - scale, 1 + scale] (uniform). ``shift`` 0: the box alone, (1, 4)."""
    box = np.asarray(box, np.float32)
    if shift <= 0:
        return box[None]
    side = box[2] - box[0]
    centre = (box[:2] + box[2:]) / 2
    out = [box]
    for _ in range(n - 1):
        c = centre + rng.uniform(-shift, shift, 2) * side
        h = side * rng.uniform(1 - scale, 1 + scale) / 2
        out.append(np.concatenate([c - h, c + h]))
    return np.stack(out).astype(np.float32)


def crop_first_rois(frame, masks, boxes, size):
    """The first frame's ROI images (N, S, S, 3) and binary masks (N, S, S, 1) of N objects:
    masks (N, H, W) float, boxes (N, 4)."""
    x0 = crop_roi(frame[None], boxes, size, box_indices=tf.zeros((tf.shape(boxes)[0],), tf.int32))
    z0 = tf.cast(crop_roi(masks[..., None], boxes, size) >= 0.5, tf.float32)
    return x0, z0


def crop_first_roi(frame, mask, box, size):
    """:func:`crop_first_rois` for one object: mask (H, W) float, box (4,) -> (1, S, S, 3), (1, S, S, 1)."""
    return crop_first_rois(frame, mask[None], box[None], size)


def init_local_states(lm, cfg, x0, z0):
    """The local model's memory (Sec. 3.2, M-CNN) from first ROIs x0 (N, S, S, 3) and their binary
    masks z0 (N, S, S, 1), dilated by ``cfg.local.mask_radius``, as float32 [h1, c1, h2, c2]."""
    return as_float32(lm.initialize(x0, tf.convert_to_tensor(dilate(z0, cfg.local.mask_radius))))


def centroid(prob: np.ndarray):
    """Eq. 5: theta_x = sum_i p_i x_i / sum_i p_i (pixel centres), likewise theta_y; None if sum p ~ 0."""
    p = np.asarray(prob, np.float64)
    s = p.sum()
    if s < CENTROID_EPS:
        return None
    ys = np.arange(p.shape[0]) + 0.5
    xs = np.arange(p.shape[1]) + 0.5
    return float((p.sum(0) * xs).sum() / s), float((p.sum(1) * ys).sum() / s)


def resize_prob(prob: np.ndarray, size: int) -> np.ndarray:
    return np.asarray(Image.fromarray(np.asarray(prob, np.float32)).resize((size, size), Image.BILINEAR))


def track_sequence(tracker, seq, indices=None, small_size=None, keep_full=False, progress=None):
    """Track ``seq`` (frames ``indices``, default all) from the first index's ground-truth mask.

    Returns a dict: ``boxes`` (n, 4), ``seconds`` (n,), ``small`` (n, s, s) float maps when
    ``small_size`` (frame 0 = the given mask), ``full`` (list of (H, W) float maps) when ``keep_full``.
    """
    idx = list(range(len(seq))) if indices is None else [int(i) for i in indices]
    first = seq.mask(idx[0])
    out = {"boxes": [], "seconds": [], "small": [], "full": []}
    t = time.perf_counter()
    res = tracker.init(seq.frame(idx[0]), first)
    dt = time.perf_counter() - t
    for k, i in enumerate(idx):
        if k > 0:
            t = time.perf_counter()
            res = tracker.track(seq.frame(i))
            dt = time.perf_counter() - t
        out["boxes"].append(res.box)
        out["seconds"].append(dt)
        if small_size:
            out["small"].append(resize_prob(res.prob, small_size))
        if keep_full:
            out["full"].append(res.prob)
        if progress is not None:
            progress.update(1)
    out["boxes"] = np.stack(out["boxes"]).astype(np.float32)
    out["seconds"] = np.asarray(out["seconds"])
    out["small"] = np.stack(out["small"]) if small_size else None
    return out


class PerObject:
    """Single-object trackers, one per object, behind the multi-object API."""

    def __init__(self, trackers):
        self.trackers = list(trackers)

    def init(self, frame, masks):
        return [t.init(frame, m) for t, m in zip(self.trackers, masks)]

    def track(self, frame):
        return [t.track(frame) for t in self.trackers]
