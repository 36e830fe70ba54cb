"""The training objectives: Eq. 2 for the local model and Eq. 4 for the global model (and, not the
paper's, pixtrack+'s soft Jaccard loss)."""

from __future__ import annotations

import tensorflow as tf

EPS = 1e-7


def pixel_cross_entropy(probs, targets, fg_weight=1.0):
    """Element-wise -(1 - y) log(1 - p) - w y log(p) (w = ``fg_weight``; 1 is Eq. 2's L as written)."""
    p = tf.clip_by_value(tf.cast(probs, tf.float32), EPS, 1.0 - EPS)
    y = tf.cast(targets, tf.float32)
    return -(1.0 - y) * tf.math.log(1.0 - p) - fg_weight * y * tf.math.log(p)


def cross_entropy_sum(probs, targets, fg_weight=1.0):
    """L(p, y) = sum_i -(1 - y_i) log(1 - p_i) - y_i log(p_i), summed over all but the batch axis."""
    ce = pixel_cross_entropy(probs, targets, fg_weight)
    return tf.reduce_sum(tf.reshape(ce, (tf.shape(ce)[0], -1)), axis=1)


def cross_entropy_mean(probs, targets, fg_weight=1.0):
    """:func:`pixel_cross_entropy` averaged over all but the batch axis (pixels and frames)."""
    ce = pixel_cross_entropy(probs, targets, fg_weight)
    return tf.reduce_mean(tf.reshape(ce, (tf.shape(ce)[0], -1)), axis=1)


def cross_entropy(probs, targets, fg_weight=1.0, reduction="mean"):
    """Eq. 2's L per example, by ``reduction``: ``"sum"`` (as written) or ``"mean"`` over pixels and frames."""
    return {"sum": cross_entropy_sum, "mean": cross_entropy_mean}[reduction](probs, targets, fg_weight)


def soft_jaccard_loss(logits, targets, smooth=1.0):
    """1 - (sum p y + s) / (sum (p + y - p y) + s) per example, p = sigmoid(logits), over all but the batch
    axis: the soft Jaccard (IoU) loss of Rahman & Wang (2016), not the paper's; pixtrack+'s ``plus.loss``.
    With s = ``smooth`` > 0 an example without the object is defined and asks for an empty output."""
    p = tf.sigmoid(tf.cast(logits, tf.float32))
    y = tf.cast(targets, tf.float32)
    axes = tf.range(1, tf.rank(p))
    inter = tf.reduce_sum(p * y, axis=axes)
    union = tf.reduce_sum(p + y - p * y, axis=axes)
    return 1.0 - (inter + smooth) / (union + smooth)


def boundary_weights(targets, band=3, weight=4.0):
    """Per-pixel weights 1 + ``weight`` within ``band`` pixels of the boundary of ``targets`` (B, H, W, 1)
    (the truth dilated minus eroded by a (2 band + 1) square), divided by each example's mean weight so
    that a weighted mean keeps the unweighted one's scale: pixtrack+'s ``plus.boundary_weight``, not the
    paper's (results/davis2016/plus/selection/RULE.md round 20)."""
    y = tf.cast(targets, tf.float32)
    k = 2 * band + 1
    dilated = tf.nn.max_pool2d(y, k, 1, "SAME")
    eroded = -tf.nn.max_pool2d(-y, k, 1, "SAME")
    w = 1.0 + weight * tf.cast(dilated - eroded > 0.01, tf.float32)
    return w / tf.reduce_mean(w, axis=[1, 2, 3], keepdims=True)


def total_variation(maps):
    """V(y) = sum_{i,j} |y_{i+1,j} - y_{i,j}| + |y_{i,j+1} - y_{i,j}| over (..., H, W, C) maps."""
    y = tf.cast(maps, tf.float32)
    dv = tf.abs(y[..., 1:, :, :] - y[..., :-1, :, :])
    dh = tf.abs(y[..., :, 1:, :] - y[..., :, :-1, :])
    return tf.reduce_sum(dv, axis=[-3, -2, -1]) + tf.reduce_sum(dh, axis=[-3, -2, -1])


def local_loss(probs, targets, tv_lambda=1e-4, tv_beta=1000.0, reduction="mean", fg_weight=1.0):
    """Eq. 2, per sequence: L(z_hat_{1:T}, z_{1:T}) + lambda min(beta, 1/T sum_t V(z_hat_t)).

    probs, targets: (B, T, S, S, 1). Returns (B,) losses (the trainer averages over the batch).
    ``reduction``: ``"sum"`` is L as written (summed over pixels and frames, ~10^4 at the start, so
    that lambda min(beta, V) <= 0.1 cannot matter); ``"mean"`` (default) averages L over pixels and
    frames, the scale at which beta = 1000 and lambda = 1e-4 make the TV term matter (a noisy
    initial map has V ~ 10^4, capped at beta; a clean blob V ~ 10^2, so lambda V ~ 0.01 beside a
    mean cross-entropy of ~0.05-0.7). ``fg_weight`` weighs the object's pixels in L (1 = as written).
    """
    ce = cross_entropy(probs, targets, fg_weight, reduction)
    tv = tf.reduce_mean(total_variation(probs), axis=1)  # (B,) mean over time
    return ce + tv_lambda * tf.minimum(tv_beta, tv)


def weighted_l2(box_maps, targets, fg_weight):
    """Eq. 4's L: mean over pixels of w (Z_hat_A - Z)^2 with w = fg_weight on the object, else 1.

    (..., S, S, 1) -> (...). Weighting the object's pixels more makes the box grow to enclose it:
    "We want the transformed anchor to enclose as much foreground pixel as possible".
    """
    z = tf.cast(targets, tf.float32)
    w = 1.0 + (fg_weight - 1.0) * z
    return tf.reduce_mean(w * tf.square(tf.cast(box_maps, tf.float32) - z), axis=[-3, -2, -1])


def box_distance(theta, target_theta):
    """Squared distance between thetas (..., 3): (log s - log s*)^2 + (t_x - t_x*)^2 + (t_y - t_y*)^2.
    The scale is compared in log space, so halving and doubling the box cost the same."""
    theta, target = tf.cast(theta, tf.float32), tf.cast(target_theta, tf.float32)
    dlog = tf.math.log(tf.maximum(theta[..., 0], 1e-6)) - tf.math.log(tf.maximum(target[..., 0], 1e-6))
    return tf.square(dlog) + tf.reduce_sum(tf.square(theta[..., 1:] - target[..., 1:]), axis=-1)


def global_loss(
    theta,
    box_maps,
    targets,
    fg_weight=10.0,
    smooth_lambda=1.0,
    loss_from=5,
    box_lambda=0.0,
    target_theta=None,
    target_valid=None,
    frame_weight=None,
):
    """Eq. 4, per sequence: sum_{t=i}^{T} L(T(theta_t)(Z_A), Z_t) + lambda ||theta_t - theta_{t-1}||^2,
    plus, when ``box_lambda`` > 0 (our addition; 0 is Eq. 4 as written), box_lambda times
    :func:`box_distance` between theta_t and ``target_theta`` (B, T, 3), the theta of the square
    around the object of Z_t, over the same t and only where ``target_valid`` (B, T).

    theta (B, T, 3) holds theta_1..theta_T (theta_t from Z_{0:t-1}); box_maps, targets (B, T, S, S, 1)
    hold T(theta_t)(Z_A) and Z_t. Time t is 1-based as in the paper, so the sum covers array index
    t - 1 >= i - 1; "we only compute the loss after ith frame ... i = 5".

    ``frame_weight`` (B, T), when given, multiplies each frame's terms (Sec. 5.1 step 4 leaves out
    the frames whose input map lost the object; ``train.refine_follow``).

    Why the added term: the soft box's edges are about one map pixel wide, so once the box is far
    from the object (or covers the whole map) the data term is flat and only the smoothness term
    has a gradient; the distance in theta has a useful gradient everywhere.
    """
    T = tf.shape(theta)[1]
    t = tf.range(1, T + 1)
    use = tf.cast(t >= loss_from, tf.float32)[None, :]  # (1, T)
    data = weighted_l2(box_maps, targets, fg_weight)  # (B, T)
    prev = tf.concat([theta[:, :1], theta[:, :-1]], axis=1)
    smooth = tf.reduce_sum(
        tf.square(tf.cast(theta, tf.float32) - tf.cast(prev, tf.float32)), axis=-1
    )  # (B, T); zero at t = 1
    total = data + smooth_lambda * smooth
    if box_lambda:
        total += box_lambda * tf.cast(target_valid, tf.float32) * box_distance(theta, target_theta)
    if frame_weight is not None:
        total *= tf.cast(frame_weight, tf.float32)
    return tf.reduce_sum(use * total, axis=1)
