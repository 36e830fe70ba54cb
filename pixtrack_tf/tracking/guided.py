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


def _mean_coefficients(guide, p, r: int, eps: float):
    """The guided filter's linear coefficients for guide channels ``guide`` (C, H, W) and probabilities
    ``p`` (K, H, W), averaged over each pixel's windows: (mean a (K, C, H, W), mean b (K, H, W)).
    C = 1: a = cov(I, p) / (var(I) + eps); C = 3: a 3 x 3 system per pixel (He et al., Eq. 14)."""
    mi, mp = box_mean(guide, r), box_mean(p, r)  # (C, H, W), (K, H, W)
    cov_ip = box_mean(guide[None] * p[:, None], r) - mi[None] * mp[:, None]  # (K, C, H, W)
    if guide.shape[0] == 1:
        var = box_mean(guide * guide, r) - mi * mi  # (1, H, W)
        a = cov_ip / (var[None] + eps)
    else:
        prod = box_mean(guide[:, None] * guide[None], r) - mi[:, None] * mi[None]  # (C, C, H, W)
        sigma = tf.transpose(prod, (2, 3, 0, 1)) + eps * tf.eye(guide.shape[0])  # (H, W, C, C)
        rhs = tf.transpose(cov_ip, (2, 3, 1, 0))  # (H, W, C, K)
        a = tf.transpose(tf.linalg.solve(sigma, rhs), (3, 2, 0, 1))  # (K, C, H, W)
    b = mp - tf.reduce_sum(a * mi[None], axis=1)
    return box_mean(a, r), box_mean(b, r)


def _resize_chw(x, size, method):
    """Resize the last two axes of x (..., H, W) to ``size``."""
    lead = tf.shape(x)[:-2]
    hw = tf.shape(x)[-2:]
    flat = tf.transpose(tf.reshape(x, tf.concat([[-1], hw], 0)), (1, 2, 0))  # (H, W, N)
    out = tf.transpose(tf.image.resize(flat, size, method=method), (2, 0, 1))
    return tf.reshape(out, tf.concat([lead, tf.shape(out)[-2:]], 0))


def guided_filter(guide, p, radius: int, eps: float, kind: str = "grey", stride: int = 1):
    """Filter probabilities ``p`` (K, H, W) with the frame ``guide`` (H, W, 3) uint8 (or float in
    [0, 255]); returns (K, H, W) float32 in [0, 1]. ``kind``: "grey" (one guide channel, the frame's
    luma) or "colour" (the three channels, a 3 x 3 system per pixel: follows edges between colours of
    equal brightness). ``stride`` s > 1 is the fast guided filter (He and Sun, "Fast Guided Filter",
    2015): the coefficients are fitted on the guide and p subsampled by s (area means) with radius
    r / s, upsampled bilinearly and applied to the full-resolution guide -- about s^2 times cheaper,
    with the output's edges still the full-resolution frame's."""
    if kind not in PLUS_GUIDES:
        raise ValueError(f"guide must be one of {', '.join(PLUS_GUIDES)}, got {kind!r}")
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    p = tf.cast(p, tf.float32)
    img = tf.transpose(tf.cast(guide, tf.float32) / 255.0, (2, 0, 1))  # (3, H, W)
    if kind == "grey":
        img = tf.tensordot(tf.constant([0.299, 0.587, 0.114]), img, 1)[None]  # (1, H, W)
    if stride == 1:
        ma, mb = _mean_coefficients(img, p, int(radius), eps)
    else:
        hw = tf.shape(p)[-2:]
        low = -(-hw // stride)  # ceil
        ma, mb = _mean_coefficients(
            _resize_chw(img, low, "area"), _resize_chw(p, low, "area"), max(1, round(radius / stride)), eps
        )
        ma, mb = _resize_chw(ma, hw, "bilinear"), _resize_chw(mb, hw, "bilinear")
    q = tf.reduce_sum(ma * img[None], axis=1) + mb
    return tf.clip_by_value(q, 0.0, 1.0)
