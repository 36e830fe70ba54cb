"""Trackers with one API, in the pysot manner: ``init(frame, mask)``, then ``track(frame)``.

* :class:`TwoStageTracker` - Algorithm 1: the global model places the ROI, the local model segments it.
* :class:`OneStageTracker` - the 1-stage baseline of Sec. 5.3: ROI centre by Eq. (5) on the previous
  prediction, ROI size fixed from the first frame.
* :class:`GroundTruthRoiTracker` - Table 2's protocol: ROI from the ground truth at t - 5 with
  exponential centre smoothing, L_new = (1 - beta) L_old + beta L_{t-5}, beta = 0.8.

The 1-stage and ground-truth trackers take either the local model (ConvLSTM) or the FCN baseline
(:class:`pixtrack_tf.models.FCNModel`, fine-tuned on the first ROI of each clip) as segmenter.

Frames are (H, W, 3) uint8 RGB of any size; masks (H, W) bool. ``track`` returns a
:class:`TrackResult` with the full-resolution probability map and the ROI box (x0, y0, x1, y1).
Each per-frame step is one compiled ``tf.function`` with a fixed input signature (crop, local or
global model, paste-back inside), traced once per tracker.

When the object leaves the frame or a prediction comes out empty, tracking goes on: the 1-stage and
FCN trackers keep the previous ROI centre (Eq. 5 is undefined when sum p = 0); the two-stage
tracker needs no fallback (the global model always outputs theta); the ground-truth tracker keeps
the previous centre when the mask at t - 5 is empty.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from pixtrack_tf.data.sequence import DataError, mask_box
from pixtrack_tf.layers.roi import box_to_theta, crop_roi, mask_box_tf, paste_roi, roi_around, theta_to_box
from pixtrack_tf.models.local_model import dilate

CENTROID_EPS = 1e-3


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
    return (tf.TensorSpec((batch, fg, fg, cfg.global_.lstm_filters), tf.float32),
            tf.TensorSpec((batch, S // 16, S // 16, cfg.local.lstm_filters), tf.float32))  # fmt: skip


def crop_first_rois(frame, masks, boxes, size):
    """The first frame's ROI images (N, S, S, 3) and binary masks (N, S, S, 1) of N objects:
    masks (N, H, W) float, boxes (N, 4)."""
    x0 = crop_roi(frame[None], boxes, size, box_indices=tf.zeros((tf.shape(boxes)[0],), tf.int32))
    z0 = tf.cast(crop_roi(masks[..., None], boxes, size) >= 0.5, tf.float32)
    return x0, z0


def crop_first_roi(frame, mask, box, size):
    """:func:`crop_first_rois` for one object: mask (H, W) float, box (4,) -> (1, S, S, 3), (1, S, S, 1)."""
    return crop_first_rois(frame, mask[None], box[None], size)


class LstmSegmenter:
    """The local model as an ROI segmenter: memory from the first ROI (Sec. 3.2), then one step per frame."""

    def __init__(self, local_model, cfg):
        self.lm = local_model
        self.S = cfg.local.roi_size
        self.radius = int(round(cfg.local.mask_dilation * self.S))
        state = state_specs(cfg)[1]
        frame = tf.TensorSpec((None, None, 3), tf.uint8)
        box = tf.TensorSpec((4,), tf.float32)
        self._init_fn = tf.function(self._init_graph, input_signature=[frame, tf.TensorSpec((None, None), tf.float32), box])
        self._local_fn = tf.function(self._local_graph, input_signature=[frame, box, [state] * 4])
        self.states = None

    def _init_graph(self, frame, mask, box):
        x0, z0 = crop_first_roi(frame, mask, box, self.S)
        return as_float32(self.lm.initialize(x0, tf.convert_to_tensor(dilate(z0, self.radius))))

    def _local_graph(self, frame, box, states):
        x = crop_roi(frame[None], box[None], self.S)
        prob, states = self.lm.step(x, states)
        full = paste_roi(prob, box[None], tf.shape(frame)[:2])[0, :, :, 0]
        return full, as_float32(states)

    def init(self, frame, mask, box):
        self.states = self._init_fn(frame, mask.astype(np.float32), tf.constant(box, tf.float32))

    def segment(self, frame, box):
        full, self.states = self._local_fn(frame, tf.constant(box, tf.float32), self.states)
        return full.numpy()


class FcnSegmenter:
    """The FCN baseline as an ROI segmenter: fine-tuned on the first ROI, then frame by frame (Sec. 3.4).

    "we fine tune it on the first frame of testing video clips with small learning rate and few
    iterations, and apply the refined model to subsequent frames." Every ``init`` starts again from
    the trained weights, so clips do not leak into each other. The fine-tuning trains the layers
    after the frozen backbone for ``track.fcn_finetune_steps`` Adam steps at ``track.fcn_finetune_lr``
    with the training loss (Eq. 2's cross-entropy, ``train.local_reduction`` / ``local_fg_weight``);
    ``init_info`` reports the first ROI's IoU (p > 0.5) before and after, so a reader can see that
    it adapted to the object.
    """

    def __init__(self, fcn_model, cfg):
        import keras

        self.model = fcn_model
        self.S = cfg.local.roi_size
        self.steps = int(cfg.track.fcn_finetune_steps)
        self.fg_weight = float(cfg.train.local_fg_weight)
        self.reduction = cfg.train.local_reduction
        self.variables = fcn_model.head_variables()
        self.trained = [np.asarray(v) for v in self.variables]
        self.optimizer = keras.optimizers.Adam(cfg.track.fcn_finetune_lr)
        self.optimizer.build(self.variables)
        self.opt_init = [np.asarray(v) for v in self.optimizer.variables]
        self.init_info = {}
        frame = tf.TensorSpec((None, None, 3), tf.uint8)
        box = tf.TensorSpec((4,), tf.float32)
        roi = [tf.TensorSpec((1, self.S, self.S, 3)), tf.TensorSpec((1, self.S, self.S, 1))]
        self._crop_fn = tf.function(lambda f, m, b: crop_first_roi(f, m, b, self.S), input_signature=[frame, tf.TensorSpec((None, None), tf.float32), box])
        self._ft_fn = tf.function(self._ft_graph, input_signature=roi)
        self._iou_fn = tf.function(self._iou_graph, input_signature=roi)
        self._seg_fn = tf.function(self._seg_graph, input_signature=[frame, box])

    def _ft_graph(self, x0, z0):
        from pixtrack_tf.training.losses import cross_entropy

        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(cross_entropy(self.model(x0, training=True), z0, self.fg_weight, self.reduction))
        grads = tape.gradient(loss, self.variables)
        self.optimizer.apply_gradients(zip(grads, self.variables))
        return loss

    def _iou_graph(self, x0, z0):
        p = tf.cast(self.model(x0) > 0.5, tf.float32)
        union = tf.reduce_sum(tf.maximum(p, z0))
        return tf.where(union > 0, tf.reduce_sum(p * z0) / tf.maximum(union, 1.0), 1.0)

    def _seg_graph(self, frame, box):
        prob = self.model(crop_roi(frame[None], box[None], self.S))
        return paste_roi(prob, box[None], tf.shape(frame)[:2])[0, :, :, 0]

    def init(self, frame, mask, box):
        for v, w in zip(self.variables, self.trained):
            v.assign(w)
        for v, w in zip(self.optimizer.variables, self.opt_init):
            v.assign(w)
        x0, z0 = self._crop_fn(frame, mask.astype(np.float32), tf.constant(box, tf.float32))
        before = float(self._iou_fn(x0, z0))
        for _ in range(self.steps):
            self._ft_fn(x0, z0)
        self.init_info = {"finetune_iou_before": before, "finetune_iou_after": float(self._iou_fn(x0, z0))}

    def segment(self, frame, box):
        return self._seg_fn(frame, tf.constant(box, tf.float32)).numpy()


def as_segmenter(model, cfg):
    """A LocalModel -> :class:`LstmSegmenter`, an FCNModel -> :class:`FcnSegmenter`."""
    from pixtrack_tf.models import FCNModel

    return FcnSegmenter(model, cfg) if isinstance(model, FCNModel) else LstmSegmenter(model, cfg)


class RoiTracker:
    """Shared machinery: the first ROI (Sec. 3.3 rule on the given mask), the segmenter's
    initialisation on it, and per frame: ROI policy -> crop -> segment -> paste-back."""

    def __init__(self, model, cfg):
        self.cfg = cfg
        self.segmenter = as_segmenter(model, cfg)
        self.hw = None

    def init(self, frame, mask):
        """Initialise on the first frame and its object mask (Algorithm 1, lines 1-2)."""
        frame, mask = check_first(frame, mask)
        d = self.cfg.data
        self.box0 = initial_box(mask, d.roi_context, d.roi_min, d.roi_max)
        self.hw = frame.shape[:2]
        self.t = 0
        self.segmenter.init(frame, mask, self.box0)
        self.prev_prob = mask.astype(np.float32)
        self.box = self.box0.copy()
        self._init_policy(frame, mask)
        return TrackResult(mask.astype(np.float32), self.box0.copy())

    def track(self, frame) -> TrackResult:
        if self.hw is None:
            raise RuntimeError("call init(frame, mask) first")
        frame = check_frame(frame, self.hw)
        self.t += 1
        prob, box = self._step(frame)
        self.prev_prob, self.box = prob, box
        return TrackResult(prob, box)

    @property
    def init_info(self) -> dict:
        """What the last ``init`` did beyond the ROI (the FCN's fine-tuning IoUs), for the raw results."""
        return getattr(self.segmenter, "init_info", {})

    def _init_policy(self, frame, mask):  # pragma: no cover - abstract
        raise NotImplementedError

    def _step(self, frame):  # pragma: no cover - abstract
        raise NotImplementedError

    def _local(self, frame, box):
        box = np.asarray(box, np.float32)
        return self.segmenter.segment(frame, box), box


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
    lstates = as_float32(lm.initialize(x0, tf.convert_to_tensor(dilate(z0, int(round(cfg.local.mask_dilation * S))))))
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


def map_centroid(maps):
    """Eq. (5) on resized maps (N, M, M, 1), in the normalised [-1, 1] coordinates of theta:
    (centres (N, 2), whether sum p > 0 (N,))."""
    m = tf.shape(maps)[1]
    grid = (2.0 * tf.range(m, dtype=tf.float32) + 1.0) / tf.cast(m, tf.float32) - 1.0
    p = maps[..., 0]
    total = tf.reduce_sum(p, axis=[1, 2])
    cx = tf.reduce_sum(tf.reduce_sum(p, axis=1) * grid, axis=1) / tf.maximum(total, 1e-12)
    cy = tf.reduce_sum(tf.reduce_sum(p, axis=2) * grid, axis=1) / tf.maximum(total, 1e-12)
    return tf.stack([cx, cy], axis=-1), total > CENTROID_EPS


def two_stage_step_batch(lm, gm, cfg, frame, prev_maps, aspect, theta_old, gstates, lstates, t):
    """Algorithm 1, lines 4-8, for N objects of one frame in one batched step: prev_maps
    (N, M, M, 1), theta_old (N, 3), states with batch N, t the frame's index (1, 2, ...). Returns
    (probabilities (N, H, W), boxes (N, 4), theta_est (N, 3), next maps (N, M, M, 1), gstates, lstates).

    theta is the square around the object; line 6 crops the Sec. 3.3 ROI around theta_est's box
    (:func:`roi_around`: ``data.roi_context`` times its side, clipped to [roi_min, roi_max]), the ROI
    the local model was trained on. Before the global model's burn-in (t < ``train.loss_from``, the
    frames Eq. 4 does not train) theta_t is not the global model's: its centre is Eq. (5) on
    Z_hat_{t-1} and its scale theta_old's (the 1-stage rule); the global model still reads those
    maps, so its memory is warm when its theta is first used.
    """
    beta = float(cfg.track.beta)
    M = cfg.global_.map_size
    hw = tf.shape(frame)[:2]
    n = tf.shape(prev_maps)[0]
    theta_g, gstates = gm.step(prev_maps, tf.fill((n, 1), aspect), gstates)
    theta_g, gstates = tf.cast(theta_g, tf.float32), as_float32(gstates)
    centre, found = map_centroid(prev_maps)
    theta_eq5 = tf.where(found[:, None], tf.concat([theta_old[:, :1], centre], axis=-1), theta_old)
    theta_t = tf.where(tf.cast(t, tf.float32) < float(cfg.train.loss_from), theta_eq5, theta_g)
    theta_est = beta * theta_t + (1.0 - beta) * theta_old
    box = roi_crop_box(cfg, theta_est, hw)
    prob, lstates = lm.step(crop_roi(frame[None], box, cfg.local.roi_size, box_indices=tf.zeros((n,), tf.int32)), lstates)
    full = paste_roi(prob, box, hw)
    next_map = tf.image.resize(full, [M, M], method="bilinear")
    return full[..., 0], box, theta_est, next_map, gstates, as_float32(lstates)


def roi_crop_box(cfg, theta, hw):
    """Algorithm 1 line 6's crop: the Sec. 3.3 ROI around the object square of theta (N, 3)."""
    d = cfg.data
    square = theta_to_box(theta, hw, float(cfg.global_.anchor_size[0]))
    return roi_around(square, float(d.roi_context), float(d.roi_min), float(d.roi_max))


class TwoStageTracker(RoiTracker):
    """Algorithm 1 (two-stage tracking).

    1: crop ROI x_0, z_0 with theta_0;  2: initialise the local model's memory from x_0, z_0;
    for t = 1..T: 4: theta_t = M1(Z_hat_{t-1});  5: theta_est = beta theta_t + (1 - beta) theta_old;
    6: crop x_t from X_t with theta_est;  7: z_hat_t = M2(x_t);  8: fill Z_hat_t with z_hat_t.

    The ROI's side is clipped to [data.roi_min, data.roi_max] (Sec. 3.3's [56, 672]), the range of
    ROIs the local model was trained on; theta_est itself is kept unclipped.

    theta_0 is the first frame's ROI (Sec. 3.3 rule on the given mask); theta_old is the previous
    theta_est. Line 8 pastes with theta_est, the parameter the crop was taken with (the paper writes
    theta_t; pasting with another box than the crop's would misplace the map). The global model
    reads the resized probability map Z_hat_{t-1} (Z_0 = the given mask).
    """

    def __init__(self, local_model, global_model, cfg):
        super().__init__(local_model, cfg)
        self.lm = local_model
        self.S = cfg.local.roi_size
        self.gm = global_model
        self.anchor = float(cfg.global_.anchor_size[0])
        self.M = cfg.global_.map_size
        gspec, lspec = state_specs(cfg)
        sig = [
            tf.TensorSpec((None, None, 3), tf.uint8),  # frame
            tf.TensorSpec((self.M, self.M, 1), tf.float32),  # Z_hat_{t-1}, resized
            tf.TensorSpec((), tf.float32),  # aspect ratio W / H
            tf.TensorSpec((3,), tf.float32),  # theta_old
            [gspec] * 4,
            [lspec] * 4,
            tf.TensorSpec((), tf.float32),  # t
        ]
        self._step_fn = tf.function(self._step_graph, input_signature=sig, reduce_retracing=True)

    def _step_graph(self, frame, prev_map, aspect, theta_old, gstates, lstates, t):
        return two_stage_step(self.lm, self.gm, self.cfg, frame, prev_map, aspect, theta_old, gstates, lstates, t)

    def _init_policy(self, frame, mask):
        h, w = self.hw
        self.aspect = np.float32(w / h)
        self.theta = object_theta0([mask], (h, w), self.anchor)[0]
        self.gstates = as_float32(self.gm.initial_states(1))
        self.map = tf.image.resize(mask.astype(np.float32)[None, :, :, None], [self.M, self.M])[0]

    def _step(self, frame):
        seg = self.segmenter
        full, box, self.theta, self.map, self.gstates, seg.states = self._step_fn(
            frame, self.map, self.aspect, tf.constant(self.theta, tf.float32), self.gstates, seg.states, np.float32(self.t)
        )
        return full.numpy(), box.numpy()

    @property
    def resized_map(self) -> np.ndarray:
        """Z_hat_t resized to the global model's input size (what Sec. 5.1 step 4 trains on)."""
        return np.asarray(self.map)[..., 0]


class MultiObjectTracker:
    """Algorithm 1 for several objects of one video, all of them in one batched compiled step.

    Each object is tracked exactly as :class:`TwoStageTracker` tracks it alone (its own theta, ROI,
    global and local memories); batching only shares the frame and the work of one call, so N
    objects cost less than N trackers. ``init(frame, masks)`` takes a list of (H, W) masks (or an
    (N, H, W) array); ``track(frame)`` returns a list of :class:`TrackResult`, one per object.
    """

    def __init__(self, local_model, global_model, cfg):
        self.lm, self.gm, self.cfg = local_model, global_model, cfg
        self.S, self.M = cfg.local.roi_size, cfg.global_.map_size
        self.anchor = float(cfg.global_.anchor_size[0])
        gspec, lspec = state_specs(cfg, batch=None)
        sig = [
            tf.TensorSpec((None, None, 3), tf.uint8),
            tf.TensorSpec((None, self.M, self.M, 1), tf.float32),
            tf.TensorSpec((), tf.float32),
            tf.TensorSpec((None, 3), tf.float32),
            [gspec] * 4,
            [lspec] * 4,
            tf.TensorSpec((), tf.float32),
        ]
        self._step_fn = tf.function(self._step_graph, input_signature=sig)
        self.hw = None

    def _step_graph(self, frame, prev_maps, aspect, theta_old, gstates, lstates, t):
        return two_stage_step_batch(self.lm, self.gm, self.cfg, frame, prev_maps, aspect, theta_old, gstates, lstates, t)

    def init(self, frame, masks):
        frame = check_frame(frame)
        masks = [np.asarray(m).astype(bool) for m in masks]
        if not masks:
            raise DataError("no object mask given")
        for k, m in enumerate(masks):
            if m.shape != frame.shape[:2]:
                raise DataError(f"mask {k} is {m.shape[1]}x{m.shape[0]} but the frame is {frame.shape[1]}x{frame.shape[0]}")
            if not m.any():
                raise DataError(f"mask {k} is empty (no object pixel)")
        d = self.cfg.data
        self.hw = frame.shape[:2]
        h, w = self.hw
        boxes = np.stack([initial_box(m, d.roi_context, d.roi_min, d.roi_max) for m in masks])
        radius = int(round(self.cfg.local.mask_dilation * self.S))
        m = np.stack(masks).astype(np.float32)
        x0, z0 = crop_first_rois(frame, m, boxes, self.S)
        self.lstates = as_float32(self.lm.initialize(x0, tf.convert_to_tensor(dilate(z0, radius))))
        self.gstates = as_float32(self.gm.initial_states(len(masks)))
        self.theta = object_theta0(masks, (h, w), self.anchor)
        self.maps = tf.image.resize(m[..., None], [self.M, self.M])
        self.aspect = np.float32(w / h)
        self.t = 0
        return [TrackResult(mk.astype(np.float32), b) for mk, b in zip(masks, boxes)]

    def track(self, frame):
        if self.hw is None:
            raise RuntimeError("call init(frame, masks) first")
        frame = check_frame(frame, self.hw)
        self.t += 1
        full, boxes, self.theta, self.maps, self.gstates, self.lstates = self._step_fn(
            frame, self.maps, self.aspect, tf.constant(self.theta, tf.float32), self.gstates, self.lstates, np.float32(self.t)
        )
        return [TrackResult(p, b) for p, b in zip(full.numpy(), boxes.numpy())]


def centroid(prob: np.ndarray):
    """Eq. (5): theta_x = sum_i p_i x_i / sum_i p_i (pixel centres), likewise theta_y; None if sum p ~ 0."""
    p = np.asarray(prob, np.float64)
    s = p.sum()
    if s < CENTROID_EPS:
        return None
    ys = np.arange(p.shape[0]) + 0.5
    xs = np.arange(p.shape[1]) + 0.5
    return float((p.sum(0) * xs).sum() / s), float((p.sum(1) * ys).sum() / s)


class OneStageTracker(RoiTracker):
    """The 1-stage baseline (Sec. 5.3): a fixed-size ROI centred by Eq. (5) on the previous prediction.

    "replaces the global model with a simple predictor for the ROI center, described in Eq. (5) ...
    The ROI size is fixed." The size is the first frame's ROI (Sec. 3.3 rule). An empty previous
    prediction keeps the previous centre.
    """

    def _init_policy(self, frame, mask):
        self.side = float(self.box0[2] - self.box0[0])

    def next_box(self):
        c = centroid(self.prev_prob)
        if c is None:
            return self.box
        cx, cy = c
        h = self.side / 2
        return np.array([cx - h, cy - h, cx + h, cy + h], np.float32)

    def _step(self, frame):
        return self._local(frame, self.next_box())


class GroundTruthRoiTracker(RoiTracker):
    """Table 2's ROIs: ground truth at t - 5, centre smoothed by L_new = (1 - beta) L_old + beta L_{t-5}.

    "we use a exponential weighting on the ROI location center by L_new = (1-beta) L_old + beta L_{t-5}.
    The decay rate beta is set at 0.8." The side follows Sec. 3.3 step 2 on the mask at t - 5 (no
    random perturbation). ``gt_masks`` are the sequence's masks, frame 0 being the init frame.
    """

    def __init__(self, model, cfg, gt_masks=None):
        super().__init__(model, cfg)
        self.gt_masks = gt_masks
        self.beta = float(cfg.track.gt_beta)

    def set_ground_truth(self, gt_masks):
        self.gt_masks = gt_masks

    def _init_policy(self, frame, mask):
        if self.gt_masks is None:
            raise RuntimeError("GroundTruthRoiTracker needs set_ground_truth(masks) before init")
        self.centre = np.array([(self.box0[0] + self.box0[2]) / 2, (self.box0[1] + self.box0[3]) / 2])
        self.side = float(self.box0[2] - self.box0[0])

    def _step(self, frame):
        ref = max(self.t - 5, 0)
        m = self.gt_masks[ref] if ref < len(self.gt_masks) else None
        if m is not None and mask_box(m) is not None:
            d = self.cfg.data
            b = initial_box(m, d.roi_context, d.roi_min, d.roi_max)
            target = np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2])
            self.centre = (1 - self.beta) * self.centre + self.beta * target
            self.side = float(b[2] - b[0])
        h = self.side / 2
        box = np.array([self.centre[0] - h, self.centre[1] - h, self.centre[0] + h, self.centre[1] + h], np.float32)
        return self._local(frame, box)
