"""Edge-aware upsampling of a tracker's probabilities: the guided filter (He, Sun and Tang, "Guided
Image Filtering", ECCV 2010 / TPAMI 2013) with the full-resolution frame as its guide (not the paper).

A mask computed at a coarse stride and upsampled bilinearly has smooth, blurred boundaries that cut
across the frame's edges. The guided filter fits, in every ``(2 r + 1)``-pixel window, the probability
as a linear function of the guide (``q = a I + b``), so the filtered probability changes where the
frame changes: its 0.5 contour moves onto the object's edges. It has no trained weight; ``eps`` sets
how strong an edge must be to be followed (on intensities in [0, 1]). Box means are separable running
sums (:func:`box_mean`, cost independent of ``r``), normalised by each window's pixel count at the
borders, as the reference implementation. TensorFlow ops, so that a SavedModel keeps it.
"""

from __future__ import annotations

import tensorflow as tf

from pixtrack_tf.config import PLUS_GUIDES


def _window(n, r: int):
    """(hi, lo) of the clipped windows [i - r, i + r] of an axis of length n, as running-sum indices."""
    i = tf.range(n)
    return tf.minimum(i + r + 1, n), tf.maximum(i - r, 0)


def _box_1d(x, r: int, axis: int):
    """Sum over the window [i - r, i + r] (clipped to the array) along ``axis`` (-2 or -1) of x."""
    c = tf.cumsum(x, axis=axis)
    c = tf.concat([tf.zeros_like(tf.gather(c, [0], axis=axis)), c], axis=axis)  # c[i] = sum of x[:i]
    hi, lo = _window(tf.shape(x)[axis], r)
    return tf.gather(c, hi, axis=axis) - tf.gather(c, lo, axis=axis)


def box_mean(x, r: int):
    """Mean of x (..., H, W) over each (2r+1) x (2r+1) window, clipped at the borders."""
    s = _box_1d(_box_1d(x, r, -2), r, -1)
    (h_hi, h_lo), (w_hi, w_lo) = _window(tf.shape(x)[-2], r), _window(tf.shape(x)[-1], r)
    count = tf.cast((h_hi - h_lo)[:, None] * (w_hi - w_lo)[None, :], x.dtype)
    return s / count


def guided_filter(guide, p, radius: int, eps: float, kind: str = "grey"):
    """Filter probabilities ``p`` (K, H, W) with the frame ``guide`` (H, W, 3) uint8 (or float in
    [0, 255]); returns (K, H, W) float32 in [0, 1]. ``kind``: "grey" (one guide channel, the frame's
    luma) or "colour" (the three channels, a 3 x 3 system per pixel: follows edges between colours of
    equal brightness)."""
    if kind not in PLUS_GUIDES:
        raise ValueError(f"guide must be one of {', '.join(PLUS_GUIDES)}, got {kind!r}")
    p = tf.cast(p, tf.float32)
    img = tf.cast(guide, tf.float32) / 255.0
    r = int(radius)
    mp = box_mean(p, r)
    if kind == "grey":
        grey = tf.tensordot(img, tf.constant([0.299, 0.587, 0.114]), 1)[None]  # (1, H, W)
        mi = box_mean(grey, r)
        var = box_mean(grey * grey, r) - mi * mi
        a = (box_mean(grey * p, r) - mi * mp) / (var + eps)
        b = mp - a * mi
        q = box_mean(a, r) * grey + box_mean(b, r)
    else:
        chans = tf.transpose(img, (2, 0, 1))  # (3, H, W)
        mi = box_mean(chans, r)  # (3, H, W)
        cov_ip = box_mean(chans[None] * p[:, None], r) - mi[None] * mp[:, None]  # (K, 3, H, W)
        prod = box_mean(chans[:, None] * chans[None], r) - mi[:, None] * mi[None]  # (3, 3, H, W)
        sigma = tf.transpose(prod, (2, 3, 0, 1)) + eps * tf.eye(3)  # (H, W, 3, 3)
        rhs = tf.transpose(cov_ip, (2, 3, 1, 0))  # (H, W, 3, K)
        a = tf.transpose(tf.linalg.solve(sigma, rhs), (3, 2, 0, 1))  # (K, 3, H, W)
        b = mp - tf.reduce_sum(a * mi[None], axis=1)
        q = tf.reduce_sum(box_mean(a, r) * chans[None], axis=1) + box_mean(b, r)
    return tf.clip_by_value(q, 0.0, 1.0)
