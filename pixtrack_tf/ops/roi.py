"""ROI geometry: theta <-> square box, crop-and-resize, paste-back (Sec. 2, Algorithm 1).

Boxes are (x0, y0, x1, y1) in continuous pixel coordinates of the full-resolution frame (pixel
j covers [j, j + 1)); an ROI box is always square in pixels. These functions are TensorFlow code
on purpose: ``tf.image.crop_and_resize`` is the fastest differentiable ROI crop and handles boxes
partly outside the frame (the outside reads as zero).

"Based on how the ROI is cropped from the full resolution image, the full resolution
segmentation map is interpolated accordingly from the ROI segmentation map. Here we assume the
ROI encloses the entire object hence all pixels outside the ROI are set to zero." -> paste_roi.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from keras import ops


def theta_to_box(theta, frame_hw, anchor):
    """theta (B, 3) = (s, t_x, t_y) -> square pixel boxes (B, 4); frame_hw (2,) or (B, 2)."""
    theta = tf.convert_to_tensor(theta, tf.float32)
    hw = tf.cast(tf.broadcast_to(tf.reshape(frame_hw, (-1, 2)), (tf.shape(theta)[0], 2)), tf.float32)
    h, w = hw[:, 0], hw[:, 1]
    side = anchor * theta[:, 0] * tf.minimum(h, w)
    cx = (theta[:, 1] + 1.0) * 0.5 * w
    cy = (theta[:, 2] + 1.0) * 0.5 * h
    return tf.stack([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], axis=-1)


def box_to_theta(box, frame_hw, anchor):
    """Inverse of :func:`theta_to_box` for a square box (a non-square box uses its mean side)."""
    box = tf.convert_to_tensor(box, tf.float32)
    hw = tf.cast(tf.broadcast_to(tf.reshape(frame_hw, (-1, 2)), (tf.shape(box)[0], 2)), tf.float32)
    h, w = hw[:, 0], hw[:, 1]
    side = 0.5 * ((box[:, 2] - box[:, 0]) + (box[:, 3] - box[:, 1]))
    s = side / (anchor * tf.minimum(h, w))
    tx = (box[:, 0] + box[:, 2]) / w - 1.0
    ty = (box[:, 1] + box[:, 3]) / h - 1.0
    return tf.stack([s, tx, ty], axis=-1)


def roi_around(box, context, lo, hi):
    """Sec. 3.3 step 2, the one ROI rule of the package: the square ROI around an object box.

    "The width of the square ROI is twice the longer length of the object along the horizontal and
    vertical directions. The ROI width is further truncated to within the range of [56, 672]."
    box (..., 4) = the object's (x0, y0, x1, y1) in pixels (any aspect); returns the square box
    (..., 4) of the same centre whose side is clip(context x longer side, lo, hi). The training
    ROIs, theta_0 of Algorithm 1, the ROI that Algorithm 1 crops around the global model's object
    box, the 1-stage and Table 2 ROIs all come from here. NumPy in, NumPy out; a tensor in, a tensor out.
    """
    if tf.is_tensor(box):
        box = tf.cast(box, tf.float32)
        side = tf.clip_by_value(context * tf.maximum(box[..., 2] - box[..., 0], box[..., 3] - box[..., 1]), lo, hi)
        return square_box((box[..., 0] + box[..., 2]) / 2, (box[..., 1] + box[..., 3]) / 2, side)
    box = np.asarray(box, np.float32)
    side = np.clip(context * np.maximum(box[..., 2] - box[..., 0], box[..., 3] - box[..., 1]), lo, hi)
    cx, cy = (box[..., 0] + box[..., 2]) / 2, (box[..., 1] + box[..., 3]) / 2
    return np.stack([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], axis=-1).astype(np.float32)


def mask_box_tf(mask):
    """(x0, y0, x1, y1) of a (H, W) bool mask's object pixels (pixel j covers [j, j + 1)), and
    whether there is any; the TensorFlow twin of :func:`pixtrack_tf.data.sequence.mask_box`."""
    rows = tf.where(tf.reduce_any(mask, axis=1))[:, 0]
    cols = tf.where(tf.reduce_any(mask, axis=0))[:, 0]
    found = tf.size(rows) > 0
    box = tf.cast(
        tf.stack([tf.reduce_min(cols), tf.reduce_min(rows), tf.reduce_max(cols) + 1, tf.reduce_max(rows) + 1]),
        tf.float32,
    )
    return tf.where(found, box, tf.zeros_like(box)), found


def square_box(cx, cy, side):
    """Square box (..., 4) of the given centre and side."""
    half = side / 2
    return tf.stack([cx - half, cy - half, cx + half, cy + half], axis=-1)


def _sampling_boxes(box, src_hw, out_size):
    """Normalised crop_and_resize boxes whose out_size samples fall on the pixel centres of box."""
    src_hw = tf.cast(src_hw, tf.float32)
    h, w = src_hw[..., 0], src_hw[..., 1]
    out = tf.cast(out_size, tf.float32)
    x0, y0, x1, y1 = box[:, 0], box[:, 1], box[:, 2], box[:, 3]
    sx, sy = (x1 - x0) / out[1], (y1 - y0) / out[0]
    first_x, last_x = x0 + 0.5 * sx - 0.5, x1 - 0.5 * sx - 0.5
    first_y, last_y = y0 + 0.5 * sy - 0.5, y1 - 0.5 * sy - 0.5
    return tf.stack(
        [
            first_y / tf.maximum(h - 1, 1),
            first_x / tf.maximum(w - 1, 1),
            last_y / tf.maximum(h - 1, 1),
            last_x / tf.maximum(w - 1, 1),
        ],
        axis=-1,
    )


def crop_roi(images, boxes, size, box_indices=None, method="bilinear"):
    """Crop square ROIs and resize them to size x size.

    images: (N, H, W, C), any dtype; boxes (B, 4) pixel boxes; box_indices (B,) which image each
    box reads (default: box b reads image b). Returns float32 (B, size, size, C); outside the
    frame reads zero.
    """
    images = tf.convert_to_tensor(images)
    boxes = tf.convert_to_tensor(boxes, tf.float32)
    if box_indices is None:
        box_indices = tf.range(tf.shape(boxes)[0])
    hw = tf.shape(images)[1:3]
    norm = _sampling_boxes(boxes, hw, tf.constant([size, size]))
    return tf.image.crop_and_resize(
        tf.cast(images, tf.float32), norm, box_indices, [size, size], method=method, extrapolation_value=0.0
    )


def paste_roi(roi_maps, boxes, frame_hw):
    """Interpolate ROI maps (B, S, S, C) back into zero full-resolution maps (B, H, W, C).

    Each frame pixel centre is mapped into ROI coordinates and sampled bilinearly; pixels
    outside the ROI are zero. frame_hw: (2,) int tensor (static or dynamic).
    """
    roi_maps = tf.convert_to_tensor(roi_maps, tf.float32)
    boxes = tf.convert_to_tensor(boxes, tf.float32)
    s = tf.cast(tf.shape(roi_maps)[1], tf.float32)
    frame_hw = tf.cast(tf.reshape(frame_hw, (2,)), tf.int32)
    h, w = tf.cast(frame_hw[0], tf.float32), tf.cast(frame_hw[1], tf.float32)
    x0, y0, x1, y1 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    kx = s / tf.maximum(x1 - x0, 1e-6)
    ky = s / tf.maximum(y1 - y0, 1e-6)
    # ROI-pixel-centre coordinate of the first and last frame pixel centres
    first_x, last_x = (0.5 - x0) * kx - 0.5, (w - 0.5 - x0) * kx - 0.5
    first_y, last_y = (0.5 - y0) * ky - 0.5, (h - 0.5 - y0) * ky - 0.5
    # Pad the ROI map with its edge values so that frame pixels in the ROI's outer half-pixel rim
    # interpolate instead of extrapolating; the box mask below zeroes everything outside the ROI.
    padded = tf.pad(roi_maps, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="SYMMETRIC")
    norm = (tf.stack([first_y, first_x, last_y, last_x], axis=-1) + 1.0) / (s + 1.0)
    out = tf.image.crop_and_resize(padded, norm, tf.range(tf.shape(boxes)[0]), frame_hw, extrapolation_value=0.0)
    ys = (tf.range(frame_hw[0], dtype=tf.float32) + 0.5)[None, :]
    xs = (tf.range(frame_hw[1], dtype=tf.float32) + 0.5)[None, :]
    in_y = tf.cast((ys >= y0[:, None]) & (ys < y1[:, None]), tf.float32)
    in_x = tf.cast((xs >= x0[:, None]) & (xs < x1[:, None]), tf.float32)
    return out * (in_y[:, :, None, None] * in_x[:, None, :, None])


def dilate(mask, radius: int):
    """Binary dilation of (B, H, W, 1) masks by a square of side 2 * radius + 1 (max pooling); the
    first mask M-CNN reads is dilated by ``cfg.local.mask_radius`` (Sec. 3.2)."""
    if radius <= 0:
        return mask
    k = 2 * int(radius) + 1
    return ops.max_pool(mask, pool_size=k, strides=1, padding="same")
