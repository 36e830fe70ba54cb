"""ROI segmenters: the local model (ConvLSTM, memory from the first ROI) and the FCN baseline
(fine-tuned on the first ROI). A tracker decides where the ROI is; a segmenter maps it to probabilities."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from pixtrack_tf.layers.roi import crop_roi, paste_roi
from pixtrack_tf.models import FCNModel
from pixtrack_tf.models.losses import cross_entropy
from pixtrack_tf.tracking.common import as_float32, crop_first_roi, init_local_states, state_specs


class LstmSegmenter:
    """The local model as an ROI segmenter: memory from the first ROI (Sec. 3.2), then one step per frame."""

    def __init__(self, local_model, cfg):
        self.lm = local_model
        self.S = cfg.local.roi_size
        self.cfg = cfg
        state = state_specs(cfg)[1]
        frame = tf.TensorSpec((None, None, 3), tf.uint8)
        box = tf.TensorSpec((4,), tf.float32)
        self._init_fn = tf.function(
            self._init_graph, input_signature=[frame, tf.TensorSpec((None, None), tf.float32), box]
        )
        self._local_fn = tf.function(self._local_graph, input_signature=[frame, box, [state] * 4])
        self.states = None

    def _init_graph(self, frame, mask, box):
        x0, z0 = crop_first_roi(frame, mask, box, self.S)
        return init_local_states(self.lm, self.cfg, x0, z0)

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
        self._crop_fn = tf.function(
            lambda f, m, b: crop_first_roi(f, m, b, self.S),
            input_signature=[frame, tf.TensorSpec((None, None), tf.float32), box],
        )
        self._ft_fn = tf.function(self._ft_graph, input_signature=roi)
        self._iou_fn = tf.function(self._iou_graph, input_signature=roi)
        self._seg_fn = tf.function(self._seg_graph, input_signature=[frame, box])

    def _ft_graph(self, x0, z0):
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
    return FcnSegmenter(model, cfg) if isinstance(model, FCNModel) else LstmSegmenter(model, cfg)
