"""ROI segmenters: the local model (ConvLSTM, memory from the first ROI) and the FCN baseline
(fine-tuned on the first ROI). A tracker decides where the ROI is; a segmenter maps it to probabilities."""

from __future__ import annotations

import contextlib

import numpy as np
import tensorflow as tf

from pixtrack_tf.models import FCNModel
from pixtrack_tf.models.losses import cross_entropy
from pixtrack_tf.ops.roi import crop_roi, dilate, paste_roi
from pixtrack_tf.tracking.common import as_float32, crop_first_rois, shifted_copies, state_specs


class FirstRoiTuning:
    """Fine-tuning a segmenter's layers after the frozen backbone on a clip's first ROI.

    The FCN baseline's (Sec. 3.4: "we fine tune it on the first frame of testing video clips with
    small learning rate and few iterations, and apply the refined model to subsequent frames") and,
    with ``track.local_finetune_steps`` > 0, the local model's (not in the paper; docs/REPRODUCTION.md).

    The model's own weights never change: :meth:`run` copies them (as they are at that moment) into
    this object's variables and fine-tunes the copies with a fresh Adam state, and the model computes
    with the copies inside :meth:`scope` (a ``keras.StatelessScope``). So clips do not leak into each
    other, and trackers that share a model (Table 3's 2-stage and 1-stage trackers, several objects)
    each keep their own fine-tuned weights. The loss is the training loss's cross-entropy (Eq. 2's L,
    ``train.local_reduction`` / ``local_fg_weight``, or the ``reduction`` / ``fg_weight`` given). ``info``
    holds the first ROI's IoU (p > 0.5) before and after, so a reader can see that the model adapted to the object.

    ``first_prob(*roi)`` maps the first ROI's tensors (the last one its binary mask (K, S, S, 1)) to
    the probabilities the model gives it; ``specs`` are those tensors' TensorSpecs. K copies of the
    first ROI (``track.finetune_shift``, :func:`shifted_copies`; K = 1 when it is 0) form each Adam
    step's batch; the IoUs in ``info`` are the first copy's, the unshifted ROI.
    """

    def __init__(self, model_variables, first_prob, specs, cfg, steps, lr, fg_weight=None, reduction=None):
        import keras

        self.model_variables = list(model_variables)
        self.variables = [
            keras.Variable(np.array(v), dtype=v.dtype, trainable=True, name=f"tuned_{i}")  # a copy, not an alias
            for i, v in enumerate(self.model_variables)
        ]
        self.first_prob = first_prob
        self.steps = int(steps)
        self.fg_weight = float(cfg.train.local_fg_weight if fg_weight is None else fg_weight)
        self.reduction = cfg.train.local_reduction if reduction is None else reduction
        self.optimizer = keras.optimizers.Adam(lr)
        self.optimizer.build(self.variables)
        self.opt_init = [np.asarray(v) for v in self.optimizer.variables]
        self.info = {}
        self._ft_fn = tf.function(self._ft_graph, input_signature=specs)
        self._iou_fn = tf.function(self._iou_graph, input_signature=specs)

    def scope(self):
        """A scope in which the model computes with the fine-tuned copies of its weights."""
        import keras

        return keras.StatelessScope(state_mapping=[(m, t.value) for m, t in zip(self.model_variables, self.variables)])

    def _ft_graph(self, *roi):
        with tf.GradientTape() as tape:
            with self.scope():
                prob = self.first_prob(*roi)
            loss = tf.reduce_mean(cross_entropy(prob, roi[-1], self.fg_weight, self.reduction))
        grads = tape.gradient(loss, self.variables)
        self.optimizer.apply_gradients(zip(grads, self.variables))
        return loss

    def _iou_graph(self, *roi):
        roi = [r[:1] for r in roi]  # the unshifted first ROI
        z0 = roi[-1]
        with self.scope():
            p = tf.cast(self.first_prob(*roi) > 0.5, tf.float32)
        union = tf.reduce_sum(tf.maximum(p, z0))
        return tf.where(union > 0, tf.reduce_sum(p * z0) / tf.maximum(union, 1.0), 1.0)

    def run(self, *roi):
        """Copy the model's weights, then ``steps`` Adam steps on the first ROI."""
        for t, m in zip(self.variables, self.model_variables):
            t.assign(m.value)
        for v, w in zip(self.optimizer.variables, self.opt_init):
            v.assign(w)
        before = float(self._iou_fn(*roi))
        for _ in range(self.steps):
            self._ft_fn(*roi)
        self.info = {"finetune_iou_before": before, "finetune_iou_after": float(self._iou_fn(*roi))}


def _pool4_specs(cfg, *channels):
    """pool4 tensors (one per channel count) and a binary ROI mask, any batch."""
    f = cfg.local.roi_size // 16
    return [tf.TensorSpec((None, f, f, c)) for c in channels] + [
        tf.TensorSpec((None, cfg.local.roi_size, cfg.local.roi_size, 1))
    ]


class _FirstCopies:
    """The boxes a first-ROI fine-tuning trains on: :func:`shifted_copies` of the first ROI by
    ``track.finetune_shift`` (``track.finetune_copies`` of them, scale by ``data.scale_jitter``), from
    a generator seeded by the config's seed, so a run repeats."""

    def __init__(self, cfg):
        self.shift = float(cfg.track.finetune_shift)
        self.n = int(cfg.track.finetune_copies)
        self.scale = float(cfg.data.scale_jitter)
        self.rng = np.random.default_rng([int(cfg.seed), 11])

    def __call__(self, box):
        return tf.constant(shifted_copies(box, self.n, self.shift, self.scale, self.rng))


class LstmSegmenter:
    """The local model as an ROI segmenter: memory from the first ROI (Sec. 3.2), then one step per frame.

    With ``track.local_finetune_steps`` > 0 (not in the paper; off by default), ``init`` first
    fine-tunes F-CNN, M-CNN, the ConvLSTMs and the decoder on the first ROI as the FCN baseline is
    fine-tuned (:class:`FirstRoiTuning`: M-CNN's memory from (x_0, z_0), one step on x_0, its map
    against z_0; with ``track.finetune_shift`` the step on shifted copies of x_0 against their z_0,
    the memory still from the first ROI), then computes the memory with the tuned weights. A tracker
    that calls the local model itself (Algorithm 1) does so inside :meth:`scope`.
    """

    def __init__(self, local_model, cfg):
        self.lm = local_model
        self.S = cfg.local.roi_size
        self.cfg = cfg
        state = state_specs(cfg)[1]
        frame = tf.TensorSpec((None, None, 3), tf.uint8)
        box = tf.TensorSpec((4,), tf.float32)
        boxes = tf.TensorSpec((None, 4), tf.float32)
        self.copies = _FirstCopies(cfg)
        self._first_fn = tf.function(
            self._first_graph, input_signature=[frame, tf.TensorSpec((None, None), tf.float32), boxes]
        )
        p4 = tf.TensorSpec((1, self.S // 16, self.S // 16, 512))
        self._init_fn = tf.function(self._init_graph, input_signature=[p4, p4])
        self._local_fn = tf.function(self._local_graph, input_signature=[frame, box, [state] * 4])
        self.states = None
        steps = int(cfg.track.local_finetune_steps)
        self.tuning = None
        if steps > 0:
            self.tuning = FirstRoiTuning(
                local_model.head_variables(),
                self._tuned_prob,
                _pool4_specs(cfg, 512, 512, 512),
                cfg,
                steps,
                cfg.track.local_finetune_lr,
            )

    def _first_graph(self, frame, mask, boxes):
        """For the first ROI boxes (K, 4), the first of them the ROI itself: pool4 of the first ROI and
        of that ROI masked by its dilated mask (Sec. 3.2; M-CNN's input), pool4 of all K and their masks."""
        x, z = crop_first_rois(frame, tf.repeat(mask[None], tf.shape(boxes)[0], 0), boxes, self.S)
        p4, masked = as_float32(self.lm.first_pool4(x, dilate(z, self.cfg.local.mask_radius)))
        return p4[:1], masked[:1], p4, z

    def scope(self):
        """Where the local model computes with this clip's fine-tuned weights (a no-op when off)."""
        return self.tuning.scope() if self.tuning is not None else contextlib.nullcontext()

    def _init_graph(self, p4, masked):
        with self.scope():
            return as_float32(self.lm.initialize_pool4(p4, masked))

    def _tuned_prob(self, p4_first, masked, p4, z):
        """The memory from the first ROI (as at tracking time), one step on each of the K copies."""
        k = tf.shape(p4)[0]
        memory = self.lm.initialize_pool4(tf.repeat(p4_first, k, 0), tf.repeat(masked, k, 0))
        prob, _ = self.lm.step_pool4(p4, memory)
        return prob

    def _local_graph(self, frame, box, states):
        x = crop_roi(frame[None], box[None], self.S)
        with self.scope():
            prob, states = self.lm.step(x, states)
        full = paste_roi(prob, box[None], tf.shape(frame)[:2])[0, :, :, 0]
        return full, as_float32(states)

    @property
    def init_info(self) -> dict:
        return self.tuning.info if self.tuning is not None else {}

    def init(self, frame, mask, box):
        boxes = self.copies(box) if self.tuning is not None else tf.constant(np.asarray(box, np.float32)[None])
        p4_first, masked, p4, z = self._first_fn(frame, mask.astype(np.float32), boxes)
        if self.tuning is not None:
            self.tuning.run(p4_first, masked, p4, z)
        self.states = self._init_fn(p4_first, masked)

    def segment(self, frame, box):
        full, self.states = self._local_fn(frame, tf.constant(box, tf.float32), self.states)
        return full.numpy()


class FcnSegmenter:
    """The FCN baseline as an ROI segmenter: fine-tuned on the first ROI, then frame by frame (Sec. 3.4).

    The fine-tuning (:class:`FirstRoiTuning`) trains the layers after the frozen backbone for
    ``track.fcn_finetune_steps`` Adam steps at ``track.fcn_finetune_lr``; ``init_info`` reports the
    first ROI's IoU before and after.
    """

    def __init__(self, fcn_model, cfg):
        self.model = fcn_model
        self.S = cfg.local.roi_size
        frame = tf.TensorSpec((None, None, 3), tf.uint8)
        box = tf.TensorSpec((4,), tf.float32)
        self.copies = _FirstCopies(cfg)
        self._first_fn = tf.function(
            self._first_graph,
            input_signature=[frame, tf.TensorSpec((None, None), tf.float32), tf.TensorSpec((None, 4), tf.float32)],
        )
        self._seg_fn = tf.function(self._seg_graph, input_signature=[frame, box])
        self.tuning = FirstRoiTuning(
            fcn_model.head_variables(),
            lambda p4, z0: self.model.head(p4),
            _pool4_specs(cfg, 512),
            cfg,
            cfg.track.fcn_finetune_steps,
            cfg.track.fcn_finetune_lr,
        )

    def _first_graph(self, frame, mask, boxes):
        x, z = crop_first_rois(frame, tf.repeat(mask[None], tf.shape(boxes)[0], 0), boxes, self.S)
        return as_float32([self.model.backbone(x)])[0], z

    def _seg_graph(self, frame, box):
        with self.tuning.scope():
            prob = self.model(crop_roi(frame[None], box[None], self.S))
        return paste_roi(prob, box[None], tf.shape(frame)[:2])[0, :, :, 0]

    @property
    def init_info(self) -> dict:
        return self.tuning.info

    def init(self, frame, mask, box):
        self.tuning.run(*self._first_fn(frame, mask.astype(np.float32), self.copies(box)))

    def segment(self, frame, box):
        return self._seg_fn(frame, tf.constant(box, tf.float32)).numpy()


def as_segmenter(model, cfg):
    """A LocalModel -> :class:`LstmSegmenter`, an FCNModel -> :class:`FcnSegmenter`."""
    return FcnSegmenter(model, cfg) if isinstance(model, FCNModel) else LstmSegmenter(model, cfg)
