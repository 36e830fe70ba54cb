"""ROI segmenters: the local model (ConvLSTM, memory from the first ROI) and the FCN baseline
(fine-tuned on the first ROI). A tracker decides where the ROI is; a segmenter maps it to probabilities."""

from __future__ import annotations

import contextlib

import numpy as np
import tensorflow as tf

from pixtrack_tf.layers.roi import crop_roi, dilate, paste_roi
from pixtrack_tf.models import FCNModel
from pixtrack_tf.models.losses import cross_entropy
from pixtrack_tf.tracking.common import as_float32, crop_first_roi, state_specs


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
    ``train.local_reduction`` / ``local_fg_weight``). ``info`` holds the first ROI's IoU (p > 0.5)
    before and after, so a reader can see that the model adapted to the object.

    ``first_prob(*roi)`` maps the first ROI's tensors (the last one its binary mask (1, S, S, 1)) to
    the probabilities the model gives it; ``specs`` are those tensors' TensorSpecs.
    """

    def __init__(self, model_variables, first_prob, specs, cfg, steps, lr):
        import keras

        self.model_variables = list(model_variables)
        self.variables = [
            keras.Variable(np.array(v), dtype=v.dtype, trainable=True, name=f"tuned_{i}")  # a copy, not an alias
            for i, v in enumerate(self.model_variables)
        ]
        self.first_prob = first_prob
        self.steps = int(steps)
        self.fg_weight = float(cfg.train.local_fg_weight)
        self.reduction = cfg.train.local_reduction
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
    f = cfg.local.roi_size // 16
    return [tf.TensorSpec((1, f, f, c)) for c in channels] + [
        tf.TensorSpec((1, cfg.local.roi_size, cfg.local.roi_size, 1))
    ]


class LstmSegmenter:
    """The local model as an ROI segmenter: memory from the first ROI (Sec. 3.2), then one step per frame.

    With ``track.local_finetune_steps`` > 0 (not in the paper; off by default), ``init`` first
    fine-tunes F-CNN, M-CNN, the ConvLSTMs and the decoder on the first ROI as the FCN baseline is
    fine-tuned (:class:`FirstRoiTuning`: M-CNN's memory from (x_0, z_0), one step on x_0, its map
    against z_0), then computes the memory with the tuned weights. A tracker that calls the local
    model itself (Algorithm 1) does so inside :meth:`scope`.
    """

    def __init__(self, local_model, cfg):
        self.lm = local_model
        self.S = cfg.local.roi_size
        self.cfg = cfg
        state = state_specs(cfg)[1]
        frame = tf.TensorSpec((None, None, 3), tf.uint8)
        box = tf.TensorSpec((4,), tf.float32)
        self._first_fn = tf.function(
            self._first_graph, input_signature=[frame, tf.TensorSpec((None, None), tf.float32), box]
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
                _pool4_specs(cfg, 512, 512),
                cfg,
                steps,
                cfg.track.local_finetune_lr,
            )

    def _first_graph(self, frame, mask, box):
        """pool4 of the first ROI, of the ROI masked by the dilated mask (Sec. 3.2), and the mask."""
        x0, z0 = crop_first_roi(frame, mask, box, self.S)
        return *as_float32(self.lm.first_pool4(x0, dilate(z0, self.cfg.local.mask_radius))), z0

    def scope(self):
        """Where the local model computes with this clip's fine-tuned weights (a no-op when off)."""
        return self.tuning.scope() if self.tuning is not None else contextlib.nullcontext()

    def _init_graph(self, p4, masked):
        with self.scope():
            return as_float32(self.lm.initialize_pool4(p4, masked))

    def _tuned_prob(self, p4, masked, z0):
        prob, _ = self.lm.step_pool4(p4, self.lm.initialize_pool4(p4, masked))
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
        p4, masked, z0 = self._first_fn(frame, mask.astype(np.float32), tf.constant(box, tf.float32))
        if self.tuning is not None:
            self.tuning.run(p4, masked, z0)
        self.states = self._init_fn(p4, masked)

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
        self._first_fn = tf.function(
            self._first_graph, input_signature=[frame, tf.TensorSpec((None, None), tf.float32), box]
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

    def _first_graph(self, frame, mask, box):
        x0, z0 = crop_first_roi(frame, mask, box, self.S)
        return as_float32([self.model.backbone(x0)])[0], z0

    def _seg_graph(self, frame, box):
        with self.tuning.scope():
            prob = self.model(crop_roi(frame[None], box[None], self.S))
        return paste_roi(prob, box[None], tf.shape(frame)[:2])[0, :, :, 0]

    @property
    def init_info(self) -> dict:
        return self.tuning.info

    def init(self, frame, mask, box):
        self.tuning.run(*self._first_fn(frame, mask.astype(np.float32), tf.constant(box, tf.float32)))

    def segment(self, frame, box):
        return self._seg_fn(frame, tf.constant(box, tf.float32)).numpy()


def as_segmenter(model, cfg):
    """A LocalModel -> :class:`LstmSegmenter`, an FCNModel -> :class:`FcnSegmenter`."""
    return FcnSegmenter(model, cfg) if isinstance(model, FCNModel) else LstmSegmenter(model, cfg)
