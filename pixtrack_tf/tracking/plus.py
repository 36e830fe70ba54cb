"""pixtrack+ (not the paper): the feature-affinity memory read, refined by a learned decoder.

Per frame, one pass of the frozen HED VGG16 over the frame resized by ``affinity.scale`` gives conv4_3
(L2-normalised: the keys the memory is read with, :class:`~pixtrack_tf.tracking.affinity.AffinityCore`)
and conv2_2 / conv3_3; :class:`~pixtrack_tf.models.plus.PlusDecoder` turns them and the read (each
object's probability) into the object's mask at stride 2 of the resized frame, upsampled to the frame.
The memory is the reference's (first frame + a ring buffer of recent frames, flat in the video's
length), its labels the read's own or, with ``plus.memory: refined``, the decoder's output; several
objects of a palette mask are read in one pass and refined
as one batch. The ROI is the whole frame: the read is computed there already, and the decoder's cost
at stride 2 of the half-size frame is small beside the backbone's (docs/REPRODUCTION.md, pixtrack+).
"""

from __future__ import annotations

import tensorflow as tf

from pixtrack_tf.config import AFFINITY_LAYERS
from pixtrack_tf.tracking.affinity import AffinityCore, MultiAffinityTracker, feature_grid
from pixtrack_tf.tracking.common import check_frame


def resized_size(hw, acfg) -> tuple[int, int]:
    """(h, w) the frame is resized to before the backbone: 8 x the feature grid."""
    grid = feature_grid(hw, acfg)
    stride = AFFINITY_LAYERS[acfg.layer]
    return grid[0] * stride, grid[1] * stride


def plus_features(model, core, frame, size):
    """(the model's backbone taps, the memory keys (P, C)) of a frame (H, W, 3) resized to ``size``:
    one backbone pass for the read and the decoder (graph code)."""
    x = tf.image.resize(tf.cast(frame, tf.float32)[None], size, antialias=True)
    taps = model.taps(x)
    return taps, core.keys(taps["block4_conv3"])


class PlusTracker(MultiAffinityTracker):
    """pixtrack+ for one or several objects: ``init(frame, [masks])`` -> [TrackResult], ``track(frame)``
    -> [TrackResult]; boxes are the Sec. 3.3 ROI around each object's mask, as for the references.

    Args:
        cfg: a :class:`~pixtrack_tf.config.Config` (``affinity``: the memory read, ``data``: the boxes).
        model: a trained :class:`~pixtrack_tf.models.plus.PlusModel` (its backbone makes every feature).
    """

    name = "plus"

    def __init__(self, cfg, model):
        if cfg.affinity.layer != "block4_conv3":
            raise ValueError(f"pixtrack+ reads the memory with conv4_3; affinity.layer is {cfg.affinity.layer}")
        # the core propagates only: every feature comes from the model's backbone, in one pass
        super().__init__(cfg, core=AffinityCore(cfg.affinity, weights="none"))
        self.acfg, self.model = cfg.affinity, model
        self.memory_from = cfg.plus.memory
        self._features = tf.function(self._features_fn)
        self._refine = tf.function(self._refine_fn)

    def _features_fn(self, frame, size):
        return plus_features(self.model, self.core, frame, size)

    def _refine_fn(self, taps, read, size, hw):
        """(K, H, W) refined probabilities from the taps (batch 1) and the read (K, H, W)."""
        k = tf.shape(read)[0]
        prior = tf.image.resize(read[..., None], size)  # (K, h, w, 1)
        batch = {n: tf.repeat(t, k, axis=0) for n, t in taps.items()}
        p = tf.sigmoid(self.model.decoder(batch, prior))
        return tf.image.resize(p, hw)[..., 0]

    def _start(self, frame, masks):
        self.size = resized_size(frame.shape[:2], self.acfg)
        _, q = self._features(tf.constant(frame), self.size)
        return self.core.start(frame, masks, feats=q)

    def read_and_refine(self, frame):
        """(the memory read (K, H, W), the refined probabilities (K, H, W)) of the next frame. The frame's
        memory entry holds the read's own labels (``plus.memory`` "read", as the reference's), or the
        refined probabilities (``"refined"``)."""
        taps, q = self._features(tf.constant(check_frame(frame, self.hw)), self.size)
        read, keys, labels = self.core.read(None, self.memory, feats=q)
        refined = self._refine(taps, read, self.size, self.hw).numpy()
        if self.memory_from == "refined":
            keys, labels = self.core.entry(self.memory, q, refined)
        self.core.push(self.memory, keys, labels)
        return read.numpy(), refined

    def _probs(self, frame):
        return self.read_and_refine(frame)[1]


class SinglePlusTracker(PlusTracker):
    """:class:`PlusTracker` for one object, with the API of the protocol's trackers."""

    def init(self, frame, mask):
        return super().init(frame, [mask])[0]

    def track(self, frame):
        return super().track(frame)[0]
