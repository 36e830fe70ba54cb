"""Algorithm 1 (two-stage tracking) as TensorFlow functions: one initialisation and one batched step,
shared by the Python trackers and the exported SavedModel."""

from __future__ import annotations

import tensorflow as tf

from pixtrack_tf.layers.transformer import mass_centre
from pixtrack_tf.ops.roi import box_to_theta, crop_roi, mask_box_tf, paste_roi, roi_around, theta_to_box
from pixtrack_tf.tracking.common import OBJECT_P, as_float32, crop_first_roi, init_local_states


def initial_box_tf(mask, context, lo, hi):
    """TensorFlow twin of :func:`initial_box` (for the SavedModel): mask (H, W) bool -> box (4,)."""
    box, found = mask_box_tf(mask)
    tf.debugging.assert_equal(found, True, message="the first mask is empty (no object pixel)")
    return roi_around(box, context, lo, hi)


def object_square(mask):
    """theta_0's box: the square around the object of a (H, W) bool mask (side = its longer side)."""
    box, _ = mask_box_tf(mask)
    return roi_around(box, 1.0, 0.0, float("inf"))


def two_stage_init(lm, cfg, frame, mask):
    """Algorithm 1, lines 1-2, in TensorFlow: frame (H, W, 3) uint8, mask (H, W) bool ->
    (theta_0, resized map Z_0, aspect W / H, local states). theta_0 is the square around the object
    (what the global model predicts); the first ROI is the Sec. 3.3 ROI around it."""
    d, S, M = cfg.data, cfg.local.roi_size, cfg.global_.map_size
    hw = tf.shape(frame)[:2]
    box = initial_box_tf(mask, d.roi_context, float(d.roi_min), float(d.roi_max))
    theta = box_to_theta(object_square(mask)[None], hw, float(cfg.global_.anchor_size[0]))[0]
    m = tf.cast(mask, tf.float32)
    x0, z0 = crop_first_roi(frame, m, box, S)
    lstates = init_local_states(lm, cfg, x0, z0)
    zmap = tf.image.resize(m[None, :, :, None], [M, M], method="bilinear")[0]
    aspect = tf.cast(hw[1], tf.float32) / tf.cast(hw[0], tf.float32)
    return theta, zmap, aspect, lstates


def two_stage_step(lm, gm, cfg, frame, prev_map, aspect, theta_old, gstates, lstates, t):
    """One step of Algorithm 1 (lines 4-8) in TensorFlow; returns
    (full-resolution probabilities (H, W), box (4,), theta_est, next resized map, gstates, lstates)."""
    full, box, theta_est, next_map, gstates, lstates = two_stage_step_batch(
        lm, gm, cfg, frame, prev_map[None], aspect, theta_old[None], gstates, lstates, t
    )
    return full[0], box[0], theta_est[0], next_map[0], gstates, lstates


def two_stage_step_batch(lm, gm, cfg, frame, prev_maps, aspect, theta_old, gstates, lstates, t):
    """Algorithm 1, lines 4-8, for N objects of one frame in one batched step: prev_maps
    (N, M, M, 1), theta_old (N, 3), states with batch N, t the frame's index (1, 2, ...). Returns
    (probabilities (N, H, W), boxes (N, 4), theta_est (N, 3), next maps (N, M, M, 1), gstates, lstates).

    theta is the square around the object; line 6 crops the Sec. 3.3 ROI around theta_est's box
    (:func:`roi_around`: ``data.roi_context`` times its side, clipped to [roi_min, roi_max]), the ROI
    the local model was trained on. Before the global model's burn-in (t < ``train.loss_from``, the
    frames Eq. 4 does not train) theta_t is not the global model's: its centre is Eq. 5 on
    Z_hat_{t-1} and its scale theta_old's (the 1-stage rule); the global model still reads those
    maps, so its memory is warm when its theta is first used. With ``track.hold_empty`` (the default)
    a Z_hat_{t-1} with no object pixel (no p >= ``OBJECT_P``) keeps theta_old at every t, the rule
    the 1-stage and FCN trackers already follow: without it the global model answers an empty map
    with one fixed box (results/embedded), which cannot find the object again. With
    ``track.search_growth`` g > 1, theta_est's scale is multiplied by g on such frames (up to the
    global model's largest scale; the crop is clipped to ``data.roi_max``): the ROI widens around the
    held centre until the object is seen again, then the global model's scale takes over.
    """
    beta = float(cfg.track.beta)
    M = cfg.global_.map_size
    hw = tf.shape(frame)[:2]
    n = tf.shape(prev_maps)[0]
    theta_g, gstates = gm.step(prev_maps, tf.fill((n, 1), aspect), gstates)
    theta_g, gstates = tf.cast(theta_g, tf.float32), as_float32(gstates)
    centre, found = mass_centre(prev_maps)  # Eq. 5 on Z_hat_{t-1}
    theta_eq5 = tf.where(found[:, None], tf.concat([theta_old[:, :1], centre], axis=-1), theta_old)
    theta_t = tf.where(tf.cast(t, tf.float32) < float(cfg.train.loss_from), theta_eq5, theta_g)
    seen = tf.reduce_max(prev_maps, axis=[1, 2, 3]) >= OBJECT_P
    if cfg.track.hold_empty:  # no object pixel in Z_hat_{t-1} says nothing of where it is: keep theta_old
        theta_t = tf.where(seen[:, None], theta_t, theta_old)
    theta_est = beta * theta_t + (1.0 - beta) * theta_old
    if cfg.track.search_growth != 1.0:  # widen the search while nothing is seen (theta's scale)
        grown = tf.minimum(theta_est[:, :1] * float(cfg.track.search_growth), float(cfg.global_.scale_range[1]))
        theta_est = tf.concat([tf.where(seen[:, None], theta_est[:, :1], grown), theta_est[:, 1:]], axis=-1)
    box = roi_crop_box(cfg, theta_est, hw)
    prob, lstates = lm.step(
        crop_roi(frame[None], box, cfg.local.roi_size, box_indices=tf.zeros((n,), tf.int32)), lstates
    )
    full = paste_roi(prob, box, hw)
    next_map = tf.image.resize(full, [M, M], method="bilinear")
    return full[..., 0], box, theta_est, next_map, gstates, as_float32(lstates)


def roi_crop_box(cfg, theta, hw):
    """Algorithm 1 line 6's crop: the Sec. 3.3 ROI around the object square of theta (N, 3)."""
    d = cfg.data
    square = theta_to_box(theta, hw, float(cfg.global_.anchor_size[0]))
    return roi_around(square, float(d.roi_context), float(d.roi_min), float(d.roi_max))
