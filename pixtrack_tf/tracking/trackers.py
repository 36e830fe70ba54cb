"""Trackers with one API, in the pysot manner: ``init(frame, mask)``, then ``track(frame)``.

* :class:`TwoStageTracker` - Algorithm 1: the global model places the ROI, the local model segments it.
* :class:`OneStageTracker` - the 1-stage baseline of Sec. 5.3: ROI centre by Eq. 5 on the previous
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

import numpy as np
import tensorflow as tf

from pixtrack_tf.data.sequence import DataError, mask_box
from pixtrack_tf.tracking.algorithm1 import two_stage_step, two_stage_step_batch
from pixtrack_tf.tracking.common import (
    OBJECT_P,
    TrackResult,
    as_float32,
    centroid,
    check_first,
    check_frame,
    crop_first_rois,
    init_local_states,
    initial_box,
    object_theta0,
    state_specs,
)
from pixtrack_tf.tracking.segmenters import as_segmenter


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
        with self.segmenter.scope():  # the local model's first-frame fine-tuning, when on
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
            frame,
            self.map,
            self.aspect,
            tf.constant(self.theta, tf.float32),
            self.gstates,
            seg.states,
            np.float32(self.t),
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
    It does not fine-tune the local model per object: with ``track.local_finetune_steps`` > 0 it
    refuses (use one :class:`TwoStageTracker` per object; they may share the models).
    """

    def __init__(self, local_model, global_model, cfg):
        if cfg.track.local_finetune_steps > 0:
            raise ValueError(
                "MultiObjectTracker's batched step cannot fine-tune the local model per object "
                f"(track.local_finetune_steps = {cfg.track.local_finetune_steps}): use one TwoStageTracker per object"
            )
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
        return two_stage_step_batch(
            self.lm, self.gm, self.cfg, frame, prev_maps, aspect, theta_old, gstates, lstates, t
        )

    def init(self, frame, masks):
        frame = check_frame(frame)
        masks = [np.asarray(m).astype(bool) for m in masks]
        if not masks:
            raise DataError("no object mask given")
        for k, m in enumerate(masks):
            if m.shape != frame.shape[:2]:
                raise DataError(
                    f"mask {k} is {m.shape[1]}x{m.shape[0]} but the frame is {frame.shape[1]}x{frame.shape[0]}"
                )
            if not m.any():
                raise DataError(f"mask {k} is empty (no object pixel)")
        d = self.cfg.data
        self.hw = frame.shape[:2]
        h, w = self.hw
        boxes = np.stack([initial_box(m, d.roi_context, d.roi_min, d.roi_max) for m in masks])
        m = np.stack(masks).astype(np.float32)
        x0, z0 = crop_first_rois(frame, m, boxes, self.S)
        self.lstates = init_local_states(self.lm, self.cfg, x0, z0)
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
            frame,
            self.maps,
            self.aspect,
            tf.constant(self.theta, tf.float32),
            self.gstates,
            self.lstates,
            np.float32(self.t),
        )
        return [TrackResult(p, b) for p, b in zip(full.numpy(), boxes.numpy())]


class OneStageTracker(RoiTracker):
    """The 1-stage baseline (Sec. 5.3): a fixed-size ROI centred by Eq. 5 on the previous prediction.

    "replaces the global model with a simple predictor for the ROI center, described in Eq. 5 ...
    The ROI size is fixed." The size is the first frame's ROI (Sec. 3.3 rule). An empty previous
    prediction keeps the previous centre (and, with ``track.search_growth``, widens the ROI).
    """

    def _init_policy(self, frame, mask):
        self.side = float(self.box0[2] - self.box0[0])

    def next_box(self):
        """Eq. 5's centre (the previous one when sum p = 0) and the fixed side; with
        ``track.search_growth`` g > 1, while the previous prediction holds no object pixel
        (p >= ``OBJECT_P``) the side is the previous ROI's times g (up to ``data.roi_max``)."""
        c = centroid(self.prev_prob)
        cx, cy = c if c is not None else ((self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2)
        side = self.side
        g = float(self.cfg.track.search_growth)
        if g != 1.0 and not (self.prev_prob >= OBJECT_P).any():
            side = min(float(self.box[2] - self.box[0]) * g, max(float(self.cfg.data.roi_max), self.side))
        h = side / 2
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
