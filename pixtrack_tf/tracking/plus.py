"""pixtrack+ (not the paper): the feature-affinity memory read, refined by a learned decoder.

Per frame, one pass of the frozen HED VGG16 over the frame resized by ``affinity.scale`` gives conv4_3
(L2-normalised: the keys the memory is read with, :class:`~pixtrack_tf.tracking.affinity.AffinityCore`)
and conv2_2 / conv3_3; :class:`~pixtrack_tf.models.plus.PlusDecoder` turns them and the read (each
object's probability) into the object's mask at stride 2 of the resized frame, upsampled to the frame.
The memory is the reference's (first frame + a ring buffer of recent frames, flat in the video's
length), its labels the read's own or, with ``plus.memory: refined``, the decoder's output; several
objects of a palette mask are read in one pass and refined as one batch. The ROI is the whole frame:
the read is computed there already, and the decoder's cost at stride 2 of the half-size frame is small
beside the backbone's (docs/REPRODUCTION.md, pixtrack+). With ``plus.mask_prior`` the decoder also
gets the previous frame's output (MaskTrack's prior), as it is or carried by optical flow. With
``plus.guided_radius`` > 0 the output is upsampled edge-aware (:func:`upsample_output`).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from pixtrack_tf.config import AFFINITY_LAYERS
from pixtrack_tf.tracking.affinity import AffinityCore, MultiAffinityTracker, feature_grid
from pixtrack_tf.tracking.common import check_frame
from pixtrack_tf.tracking.guided import guided_filter
from pixtrack_tf.tracking.reference import carry_by_flow, pixel_grid


class MaskFlow:
    """Masks carried from the previous frame into the next by DIS optical flow (``plus.mask_prior:
    flow``), at the resized frame's size ``size`` (h, w): as the optical-flow reference carries its
    mask (:func:`~pixtrack_tf.tracking.reference.carry_by_flow`), without the decision (they stay soft)."""

    def __init__(self, size):
        import cv2

        self.cv2, self.size = cv2, tuple(int(v) for v in size)
        self.flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        self.grid = pixel_grid(*self.size)

    def _grey(self, frame):
        small = self.cv2.resize(np.ascontiguousarray(frame), self.size[::-1], interpolation=self.cv2.INTER_AREA)
        return self.cv2.cvtColor(small, self.cv2.COLOR_RGB2GRAY)

    def start(self, frame):
        self.prev = self._grey(frame)

    def carry(self, frame, masks):
        """(K, h, w) masks of the previous frame -> the same carried into ``frame`` (H, W, 3)."""
        cur = self._grey(frame)
        warped = carry_by_flow(self.flow, cur, self.prev, self.grid, masks)
        self.prev = cur
        return np.stack(warped).astype(np.float32)


def resized_size(hw, acfg) -> tuple[int, int]:
    """(h, w) the frame is resized to before the backbone: 8 x the feature grid."""
    grid = feature_grid(hw, acfg)
    stride = AFFINITY_LAYERS[acfg.layer]
    return grid[0] * stride, grid[1] * stride


def upsample_output(p, frame, pcfg):
    """The decoder's probabilities ``p`` (K, h, w, 1) at the frame's size (K, H, W): bilinear, then with
    ``plus.guided_radius`` > 0 the guided filter with the frame (H, W, 3) as its guide, fitted at
    ``plus.guided_stride`` (graph code)."""
    up = tf.image.resize(p, tf.shape(frame)[:2])[..., 0]
    if pcfg.guided_radius > 0:
        up = guided_filter(frame, up, pcfg.guided_radius, pcfg.guided_eps, pcfg.guide, pcfg.guided_stride)
    return up


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
        self.acfg, self.pcfg, self.model = cfg.affinity, cfg.plus, model
        self.memory_from, self.mask_prior = cfg.plus.memory, cfg.plus.mask_prior
        self._features = tf.function(self._features_fn)
        self._refine = tf.function(self._refine_fn)

    def _features_fn(self, frame, size):
        return plus_features(self.model, self.core, frame, size)

    def _refine_fn(self, taps, read, previous, size, frame):
        """(refined probabilities (K, H, W), and with a mask prior the same at the resized frame's size
        (K, h, w), the next frame's prior; else None) from the taps (batch 1), the read (K, H, W),
        ``previous`` (K, h, w) or None, and the frame (H, W, 3)."""
        k = tf.shape(read)[0]
        prior = tf.image.resize(read[..., None], size)  # (K, h, w, 1)
        if previous is not None:
            prior = tf.concat([prior, previous[..., None]], axis=-1)
        batch = {n: tf.repeat(t, k, axis=0) for n, t in taps.items()}
        p = tf.sigmoid(self.model.decoder(batch, prior))  # at the decoder's stride
        return upsample_output(p, frame, self.pcfg), None if previous is None else tf.image.resize(p, size)[..., 0]

    def _start(self, frame, masks):
        self.size = resized_size(frame.shape[:2], self.acfg)
        _, q = self._features(tf.constant(frame), self.size)
        if self.mask_prior != "none":
            self.previous = tf.image.resize(np.asarray(masks, np.float32)[..., None], self.size, method="area")[..., 0]
            self.prior_flow = MaskFlow(self.size) if self.mask_prior == "flow" else None
            if self.prior_flow is not None:
                self.prior_flow.start(frame)
        return self.core.start(frame, masks, feats=q)

    def _mask_prior(self, frame):
        """The previous frame's output (K, h, w), carried into ``frame`` by optical flow with "flow"."""
        if self.prior_flow is None:
            return self.previous
        return tf.constant(self.prior_flow.carry(frame, self.previous.numpy()))

    def read_and_refine(self, frame):
        """(the memory read (K, H, W), the refined probabilities (K, H, W)) of the next frame. The frame's
        memory entry holds the read's own labels (``plus.memory`` "read", as the reference's), or the
        refined probabilities (``"refined"``)."""
        frame = tf.constant(check_frame(frame, self.hw))
        taps, q = self._features(frame, self.size)
        read, keys, labels = self.core.read(None, self.memory, feats=q)
        previous = None if self.mask_prior == "none" else self._mask_prior(frame.numpy())
        refined, self.previous = self._refine(taps, read, previous, self.size, frame)
        refined = refined.numpy()
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
