"""The training objectives: Eq. (2) for the local model and Eq. (4) for the global model."""
from __future__ import annotations

import tensorflow as tf

EPS = 1e-7


def cross_entropy_sum(probs, targets):
    """L(p, y) = sum_i -(1 - y_i) log(1 - p_i) - y_i log(p_i), summed over all but the batch axis."""
    p = tf.clip_by_value(tf.cast(probs, tf.float32), EPS, 1.0 - EPS)
    y = tf.cast(targets, tf.float32)
    ce = -(1.0 - y) * tf.math.log(1.0 - p) - y * tf.math.log(p)
    return tf.reduce_sum(tf.reshape(ce, (tf.shape(ce)[0], -1)), axis=1)


def total_variation(maps):
    """V(y) = sum_{i,j} |y_{i+1,j} - y_{i,j}| + |y_{i,j+1} - y_{i,j}| over (..., H, W, C) maps."""
    y = tf.cast(maps, tf.float32)
    dv = tf.abs(y[..., 1:, :, :] - y[..., :-1, :, :])
    dh = tf.abs(y[..., :, 1:, :] - y[..., :, :-1, :])
    return tf.reduce_sum(dv, axis=[-3, -2, -1]) + tf.reduce_sum(dh, axis=[-3, -2, -1])


def local_loss(probs, targets, tv_lambda=1e-4, tv_beta=1000.0):
    """Eq. (2), per sequence: L(z_hat_{1:T}, z_{1:T}) + lambda min(beta, 1/T sum_t V(z_hat_t)).

    probs, targets: (B, T, S, S, 1). Returns (B,) losses (the trainer averages over the batch).
    """
    ce = cross_entropy_sum(probs, targets)
    tv = tf.reduce_mean(total_variation(probs), axis=1)  # (B,) mean over time
    return ce + tv_lambda * tf.minimum(tv_beta, tv)


def weighted_l2(box_maps, targets, fg_weight):
    """Eq. (4)'s L: mean over pixels of w (Z_hat_A - Z)^2 with w = fg_weight on the object, else 1.

    (..., S, S, 1) -> (...). Weighting the object's pixels more makes the box grow to enclose it:
    "We want the transformed anchor to enclose as much foreground pixel as possible".
    """
    z = tf.cast(targets, tf.float32)
    w = 1.0 + (fg_weight - 1.0) * z
    return tf.reduce_mean(w * tf.square(tf.cast(box_maps, tf.float32) - z), axis=[-3, -2, -1])


def global_loss(theta, box_maps, targets, fg_weight=10.0, smooth_lambda=1.0, loss_from=5):
    """Eq. (4), per sequence: sum_{t=i}^{T} L(T(theta_t)(Z_A), Z_t) + lambda ||theta_t - theta_{t-1}||^2.

    theta (B, T, 3) holds theta_1..theta_T (theta_t from Z_{0:t-1}); box_maps, targets (B, T, S, S, 1)
    hold T(theta_t)(Z_A) and Z_t. Time t is 1-based as in the paper, so the sum covers array index
    t - 1 >= i - 1; "we only compute the loss after ith frame ... i = 5".
    """
    T = tf.shape(theta)[1]
    t = tf.range(1, T + 1)
    use = tf.cast(t >= loss_from, tf.float32)[None, :]  # (1, T)
    data = weighted_l2(box_maps, targets, fg_weight)  # (B, T)
    prev = tf.concat([theta[:, :1], theta[:, :-1]], axis=1)
    smooth = tf.reduce_sum(tf.square(tf.cast(theta, tf.float32) - tf.cast(prev, tf.float32)), axis=-1)  # (B, T); zero at t = 1
    return tf.reduce_sum(use * (data + smooth_lambda * smooth), axis=1)
