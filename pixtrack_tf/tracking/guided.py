"""Edge-aware upsampling of a tracker's probabilities: the guided filter (He, Sun and Tang, "Guided
Image Filtering", ECCV 2010 / TPAMI 2013) with the full-resolution frame as its guide (not the paper).

A mask computed at a coarse stride and upsampled bilinearly has smooth, blurred boundaries that cut
across the frame's edges. The guided filter fits, in every ``(2 r + 1)``-pixel window, the probability
as a linear function of the guide (``q = a I + b``), so the filtered probability changes where the
frame changes: its 0.5 contour moves onto the object's edges. It has no trained weight; ``eps`` sets
how strong an edge must be to be followed (on intensities in [0, 1]). Box means are separable average
pools (:func:`box_mean`), normalised by each window's pixel count at the borders, as the reference
implementation. TensorFlow ops, so that a SavedModel keeps it.
"""

from __future__ import annotations

import tensorflow as tf

from pixtrack_tf.config import PLUS_GUIDES


def _box_hwc(x, r: int):
    """Mean of x (H, W, N) over each (2r+1) x (2r+1) window, clipped at the borders: two separable
    average pools, whose "SAME" padding is left out of each window's count (so each 1-D mean is over
    the window's pixels inside the array, and their product is the clipped window's mean)."""
    k = 2 * r + 1
    y = tf.nn.avg_pool2d(x[None], (k, 1), 1, "SAME")
    return tf.nn.avg_pool2d(y, (1, k), 1, "SAME")[0]


def box_mean(x, r: int):
    """Mean of x (..., H, W) over each (2r+1) x (2r+1) window, clipped at the borders."""
    x = tf.convert_to_tensor(x)
    shape = tf.shape(x)
    flat = tf.transpose(tf.reshape(x, tf.concat([[-1], shape[-2:]], 0)), (1, 2, 0))  # (H, W, N)
    return tf.reshape(tf.transpose(_box_hwc(flat, r), (2, 0, 1)), shape)


def _solve_sym3(s, rhs):
    """x with s x = rhs per pixel, for symmetric 3 x 3 systems s given by their six entries (each
    (H, W, 1): s00, s01, s02, s11, s12, s22) and right-hand sides rhs (H, W, 3, K): Cramer's rule,
    i.e. the adjugate over the determinant (the systems are the guide's covariance plus eps I,
    positive definite)."""
    s00, s01, s02, s11, s12, s22 = s
    c00, c01, c02 = s11 * s22 - s12 * s12, s02 * s12 - s01 * s22, s01 * s12 - s02 * s11
    c11, c12, c22 = s00 * s22 - s02 * s02, s01 * s02 - s00 * s12, s00 * s11 - s01 * s01
    det = s00 * c00 + s01 * c01 + s02 * c02
    r0, r1, r2 = rhs[..., 0, :], rhs[..., 1, :], rhs[..., 2, :]
    rows = (c00 * r0 + c01 * r1 + c02 * r2, c01 * r0 + c11 * r1 + c12 * r2, c02 * r0 + c12 * r1 + c22 * r2)
    return tf.stack(rows, axis=-2) / det[..., None]


def _mean_coefficients(guide, p, r: int, eps: float):
    """The guided filter's linear coefficients for guide channels ``guide`` (H, W, C) and probabilities
    ``p`` (H, W, K), averaged over each pixel's windows: (mean a (H, W, C, K), mean b (H, W, K)).
    C = 1: a = cov(I, p) / (var(I) + eps); C = 3: a 3 x 3 system per pixel (He et al., Eq. 14)."""
    c, k = guide.shape[-1], tf.shape(p)[-1]
    hw = tf.shape(p)[:2]
    mi, mp = _box_hwc(guide, r), _box_hwc(p, r)  # (H, W, C), (H, W, K)
    ip = tf.reshape(guide[..., :, None] * p[..., None, :], tf.concat([hw, [-1]], 0))
    cov_ip = tf.reshape(_box_hwc(ip, r), tf.concat([hw, [c, k]], 0)) - mi[..., :, None] * mp[..., None, :]
    if c == 1:
        var = _box_hwc(guide * guide, r) - mi * mi  # (H, W, 1)
        a = cov_ip / (var[..., None] + eps)
    else:
        pairs = [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]
        prods = tf.stack([guide[..., i] * guide[..., j] for i, j in pairs], axis=-1)
        means = tf.unstack(_box_hwc(prods, r), axis=-1)
        sigma = [m - mi[..., i] * mi[..., j] + (eps if i == j else 0.0) for m, (i, j) in zip(means, pairs)]
        a = _solve_sym3([v[..., None] for v in sigma], cov_ip)  # (H, W, 3, K)
    b = mp - tf.reduce_sum(a * mi[..., :, None], axis=-2)
    ma = tf.reshape(_box_hwc(tf.reshape(a, tf.concat([hw, [-1]], 0)), r), tf.shape(a))
    return ma, _box_hwc(b, r)


def guided_filter(guide, p, radius: int, eps: float, kind: str = "grey", stride: int = 1):
    """Filter probabilities ``p`` (K, H, W) with the frame ``guide`` (H, W, 3) uint8 (or float in
    [0, 255]); returns (K, H, W) float32 in [0, 1]. ``kind``: "grey" (one guide channel, the frame's
    luma) or "colour" (the three channels, a 3 x 3 system per pixel: follows edges between colours of
    equal brightness). ``stride`` s > 1 is the fast guided filter (He and Sun, "Fast Guided Filter",
    2015): the coefficients are fitted on the guide and p subsampled by s (area means) with radius
    r / s, upsampled bilinearly and applied to the full-resolution guide -- about s^2 times cheaper,
    with the output's edges still the full-resolution frame's. Channels-last inside (the pools and
    resizes want them there)."""
    if kind not in PLUS_GUIDES:
        raise ValueError(f"guide must be one of {', '.join(PLUS_GUIDES)}, got {kind!r}")
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    p = tf.transpose(tf.cast(p, tf.float32), (1, 2, 0))  # (H, W, K)
    img = tf.cast(guide, tf.float32) / 255.0  # (H, W, 3)
    if kind == "grey":
        img = tf.tensordot(img, tf.constant([0.299, 0.587, 0.114]), 1)[..., None]  # (H, W, 1)
    if stride == 1:
        ma, mb = _mean_coefficients(img, p, int(radius), eps)
    else:
        hw = tf.shape(p)[:2]
        low = -(-hw // stride)  # ceil
        ma, mb = _mean_coefficients(
            tf.image.resize(img, low, "area"), tf.image.resize(p, low, "area"), max(1, round(radius / stride)), eps
        )
        c, k = ma.shape[-2], tf.shape(mb)[-1]
        both = tf.concat([tf.reshape(ma, tf.concat([low, [-1]], 0)), mb], axis=-1)
        both = tf.image.resize(both, hw, "bilinear")
        ma, mb = tf.reshape(both[..., :-k], tf.concat([hw, [c, k]], 0)), both[..., -k:]
    q = tf.reduce_sum(ma * img[..., :, None], axis=-2) + mb  # (H, W, K)
    return tf.transpose(tf.clip_by_value(q, 0.0, 1.0), (2, 0, 1))
