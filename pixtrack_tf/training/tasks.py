"""Training tasks in the Model Garden manner: a task builds its model and data and defines its loss;
:func:`pixtrack_tf.training.loop.fit` is the generic loop.

* :class:`LocalTask` - the local model on Sec. 3.3 sequences with Eq. 2.
* :class:`GlobalTask` - the global model on ground-truth map sequences (Sec. 5.1 step 2) or on
  predicted ones (step 4) with Eq. 4.
* :class:`FCNTask` - the FCN baseline (Sec. 3.4), frame by frame on the same ROIs.

All three implement :class:`Task`, the only thing the loop knows about them.
"""

from __future__ import annotations

import abc

import tensorflow as tf

from pixtrack_tf.config import DTYPE_POLICIES
from pixtrack_tf.data.pipelines import global_dataset, global_dataset_from_predictions, local_dataset
from pixtrack_tf.layers.transformer import object_theta
from pixtrack_tf.models import FCNModel, GlobalModel, LocalModel
from pixtrack_tf.models.losses import cross_entropy, global_loss, local_loss


class Task(abc.ABC):
    """What :func:`pixtrack_tf.training.loop.fit` trains: a model, its data and its loss.

    Attributes: ``name`` (the run part's label), ``cfg``, ``steps``, ``lr``, ``init_weights`` (a
    weights file to start from, or None). Subclasses build the model (in ``train.precision``), the
    ``tf.data`` pipeline from a sample offset (so that a resumed run continues the same stream) and
    the per-example loss; ``scalars`` and ``images`` feed TensorBoard.
    """

    name = "task"

    def __init__(self, cfg, steps: int, lr: float, init_weights=None):
        self.cfg = cfg
        self.steps = int(steps)
        self.lr = float(lr)
        self.init_weights = init_weights

    def lr_at(self, step: int) -> float:
        """The learning rate of the step after ``step`` steps (the run's step, so a resumed run continues
        on the same curve): :attr:`lr` throughout, unless a task schedules it."""
        return self.lr

    @property
    def dtype_policy(self) -> str:
        """The Keras dtype policy the model is built with (``train.precision``)."""
        return DTYPE_POLICIES[self.cfg.train.precision]

    @abc.abstractmethod
    def build_model(self, dtype=None):
        """A new model (``dtype``: its policy, default :attr:`dtype_policy`)."""

    @abc.abstractmethod
    def dataset(self, start_sample: int, global_batch: int):
        """A ``tf.data.Dataset`` of batches, starting at sample ``start_sample``."""

    @abc.abstractmethod
    def per_example_loss(self, model, batch, training=True):
        """(loss per example (B,), extras for :meth:`scalars` / :meth:`images`)."""

    def scalars(self, batch, extras) -> dict:
        """Scalars for TensorBoard and the log besides the loss."""
        return {}

    def images(self, batch, extras) -> dict:
        """Image sequences for TensorBoard, {tag: (T, H, W, C)}."""
        return {}


class LocalTask(Task):
    """Local model, Eq. 2: VGG frozen, memory initialised by M-CNN from the first frame.

    With ``train.feature_store`` set (or ``store=True``), samples come from the backbone feature store
    (:mod:`pixtrack_tf.training.feature_store`, built on first use) and the model is trained through its
    ``pool4`` entry point; otherwise from images (:func:`local_dataset`)."""

    name = "local"

    def __init__(
        self, cfg, sequences, roi_boxes=None, init_weights=None, steps=None, lr=None, store=None, progress=True
    ):
        super().__init__(cfg, steps or cfg.train.local_steps, lr or cfg.train.local_lr, init_weights)
        self.sequences = sequences
        self.roi_boxes = roi_boxes
        self.store = bool(cfg.train.feature_store) if store is None else bool(store)
        self.progress = progress

    def build_model(self, dtype=None):
        return LocalModel.from_cfg(self.cfg, dtype=dtype or self.dtype_policy)

    def dataset(self, start_sample, global_batch):
        gt_fraction = self.cfg.train.refine_gt_fraction if self.roi_boxes else 0.0
        if self.store:
            return self._store_dataset(start_sample, global_batch, gt_fraction)
        return local_dataset(
            self.sequences,
            self.cfg,
            start=start_sample,
            batch_size=global_batch,
            roi_boxes=self.roi_boxes,
            gt_fraction=gt_fraction,
        )

    def _store_dataset(self, start_sample, global_batch, gt_fraction):
        from pixtrack_tf.training.feature_store import DEFAULT_ROOT, open_or_build, store_dataset

        root = self.cfg.train.feature_store or DEFAULT_ROOT
        store = open_or_build(root, self.cfg, self.sequences, progress=self.progress)
        given = None
        if self.roi_boxes:
            given = open_or_build(root, self.cfg, self.sequences, given=self.roi_boxes, progress=self.progress)
        return store_dataset(
            store,
            self.sequences,
            self.cfg,
            start=start_sample,
            batch_size=global_batch,
            given=given,
            gt_fraction=gt_fraction,
        )

    @staticmethod
    def model_inputs(batch) -> dict:
        """The model's inputs in a batch: stored pool4 features, or images."""
        keys = (
            ("first_pool4", "first_masked_pool4", "pool4")
            if "pool4" in batch
            else ("first_image", "first_mask", "images")
        )
        return {k: batch[k] for k in keys}

    def per_example_loss(self, model, batch, training=True):
        probs = model(self.model_inputs(batch), training=training)
        tc = self.cfg.train
        loss = local_loss(probs, batch["masks"], tc.tv_lambda, tc.tv_beta, tc.local_reduction, tc.local_fg_weight)
        return loss, {"prob": probs}

    def scalars(self, batch, extras):
        """Is the model confident on the object? Mean probability on object and background pixels."""
        return object_confidence(extras["prob"], batch["masks"])

    def images(self, batch, extras):
        """ROI (when training from images), target and prediction of the first sequence's frames (for TensorBoard)."""
        out = {"target": batch["masks"][0], "prediction": extras["prob"][0]}
        if "images" in batch:
            out["roi"] = tf.cast(batch["images"][0], tf.float32) / 255.0
        return out


class GlobalTask(Task):
    """Global model, Eq. 4, on ground-truth maps (with the shrinking dilation of Sec. 4) or on
    predicted maps from Algorithm 1 (``predictions`` = (pred_maps, gt_maps, aspects))."""

    name = "global"

    def __init__(self, cfg, sequences=None, predictions=None, init_weights=None, steps=None, lr=None):
        if (sequences is None) == (predictions is None):
            raise ValueError("GlobalTask needs either sequences or predictions")
        super().__init__(cfg, steps or cfg.train.global_steps, lr or cfg.train.global_lr, init_weights)
        self.sequences = sequences
        self.predictions = predictions

    def build_model(self, dtype=None):
        return GlobalModel.from_cfg(self.cfg, dtype=dtype or self.dtype_policy)

    def dataset(self, start_sample, global_batch):
        if self.sequences is not None:
            return global_dataset(self.sequences, self.cfg, start=start_sample, batch_size=global_batch)
        pred, gt, aspect = self.predictions
        ds = global_dataset_from_predictions(pred, gt, aspect, self.cfg, batch_size=global_batch)
        return ds.skip(start_sample // max(global_batch, 1))

    def per_example_loss(self, model, batch, training=True):
        theta = model({"maps": batch["maps"], "aspect": batch["aspect"]}, training=training)
        b, t = tf.shape(theta)[0], tf.shape(theta)[1]
        aspect = tf.repeat(tf.reshape(batch["aspect"], (-1, 1)), t, axis=0)
        boxes = model.render(tf.reshape(theta, (-1, 3)), aspect)
        m = self.cfg.global_.map_size
        boxes = tf.reshape(boxes, (b, t, m, m, 1))
        tc = self.cfg.train
        target, valid = object_theta(
            tf.reshape(batch["targets"], (-1, m, m, 1)), aspect, float(self.cfg.global_.anchor_size[0])
        )
        loss = global_loss(
            theta,
            boxes,
            batch["targets"],
            tc.fg_weight,
            tc.smooth_lambda,
            tc.loss_from,
            tc.box_lambda,
            tf.reshape(target, (b, t, 3)),
            tf.reshape(valid, (b, t)),
            batch.get("weight"),
        )
        return loss, {"prob": boxes, "theta": theta, "target_theta": tf.reshape(target, (b, t, 3))}

    def scalars(self, batch, extras):
        """The boxes the model places (TensorBoard): a model that learned one constant box shows a
        centre spread near zero while the objects' spread is not."""
        th, tg = extras["theta"][:, -1], extras["target_theta"][:, -1]  # last frame of each sequence
        return {
            "box/scale_mean": tf.reduce_mean(th[:, 0]),
            "box/centre_spread": tf.reduce_mean(tf.math.reduce_std(th[:, 1:], axis=0)),
            "box/object_centre_spread": tf.reduce_mean(tf.math.reduce_std(tg[:, 1:], axis=0)),
            "box/centre_error": tf.reduce_mean(tf.norm(th[:, 1:] - tg[:, 1:], axis=-1)),
        }

    def images(self, batch, extras):
        return {"input": batch["maps"][0], "target": batch["targets"][0], "prediction": extras["prob"][0]}


class FCNTask(Task):
    """The FCN baseline, trained frame-wise on the local pipeline's ROIs with the summed pixel
    cross-entropy of Eq. 2. Frames replaced by Sec. 3.3 step 4 are left out: a frame-wise model
    cannot know that another video's object is not the target."""

    name = "fcn"

    def __init__(self, cfg, sequences, steps=None, lr=None, store=None, progress=True):
        super().__init__(cfg, steps or cfg.train.local_steps, lr or cfg.train.local_lr)
        self.local = LocalTask(cfg, sequences, store=store, progress=progress)

    def build_model(self, dtype=None):
        return FCNModel.from_cfg(self.cfg, dtype=dtype or self.dtype_policy)

    def dataset(self, start_sample, global_batch):
        return self.local.dataset(start_sample, global_batch)

    def per_example_loss(self, model, batch, training=True):
        masks = batch["masks"]
        b, t = tf.shape(masks)[0], tf.shape(masks)[1]
        s, f = self.cfg.local.roi_size, self.cfg.local.roi_size // 16
        if "pool4" in batch:  # stored backbone features
            probs = model.head(tf.reshape(batch["pool4"], (-1, f, f, 512)))
        else:
            probs = model(tf.reshape(batch["images"], (-1, s, s, 3)), training=training)
        tc = self.cfg.train
        ce = cross_entropy(probs, tf.reshape(masks, (-1, s, s, 1)), tc.local_fg_weight, tc.local_reduction)
        keep = 1.0 - tf.cast(tf.reshape(batch["replaced"], (-1,)), tf.float32)
        loss = tf.reduce_sum(tf.reshape(ce * keep, (b, t)), axis=1)
        if tc.local_reduction == "mean":
            loss = loss / tf.cast(t, tf.float32)
        return loss, {"prob": tf.reshape(probs, (b, t, s, s, 1))}

    def scalars(self, batch, extras):
        return object_confidence(extras["prob"], batch["masks"])

    def images(self, batch, extras):
        return self.local.images(batch, extras)


def object_confidence(probs, masks):
    """Mean predicted probability on object pixels and on background pixels, and Eq. 2's L as
    written (unweighted cross-entropy summed over pixels and frames, mean over the batch): a loss
    that runs with other ``local_reduction`` / ``local_fg_weight`` settings can be compared on it."""
    p, y = tf.cast(probs, tf.float32), tf.cast(masks, tf.float32)
    return {
        "prob/object": tf.reduce_sum(p * y) / tf.maximum(tf.reduce_sum(y), 1.0),
        "prob/background": tf.reduce_sum(p * (1 - y)) / tf.maximum(tf.reduce_sum(1 - y), 1.0),
        "loss/eq2_sum": tf.reduce_mean(cross_entropy(p, y, 1.0, "sum")),
    }


def summarize_images(tag_images: dict, step, max_frames=4):
    for tag, x in tag_images.items():
        x = tf.convert_to_tensor(x)
        if x.shape.rank == 4:  # (T, H, W, C)
            x = x[:max_frames]
        tf.summary.image(
            tag,
            tf.cast(tf.clip_by_value(tf.cast(x, tf.float32), 0.0, 1.0), tf.float32),
            step=step,
            max_outputs=max_frames,
        )
