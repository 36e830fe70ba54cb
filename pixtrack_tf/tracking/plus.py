"""pixtrack+ (not the paper): the feature-affinity memory read, refined by a learned decoder.

Per frame, one pass of the frozen HED VGG16 over the frame resized by ``affinity.scale`` gives conv4_3
(L2-normalised: the keys the memory is read with, :class:`~pixtrack_tf.tracking.affinity.AffinityCore`)
and the skips' layers (conv2_2 / conv3_3, or conv1_2 too); :class:`~pixtrack_tf.models.plus.PlusDecoder`
turns them and the read (each object's probability) into the object's mask at the finest skip's stride
of the resized frame, upsampled to the frame. The memory is the reference's (first frame + a ring
buffer of recent frames, flat in the video's length), its labels the read's own, or with ``plus.memory:
refined`` the decoder's output, or with ``gated`` / ``pruned`` the read's own where the decoder keeps
the object (:func:`gate_labels`, :func:`memory_gate`); several objects of a palette mask are read in one
pass and refined as one batch. The ROI (docs/REPRODUCTION.md, pixtrack+) is the whole frame with
``plus.roi: frame``; with ``plus.roi: mask`` (configs/plus.yaml's) the backbone, the read's queries and
the decoder run only on a box around the previous frame's output (:class:`MaskROI`), the rest of the
frame being background.
With ``plus.mask_prior`` the decoder also gets the previous frame's output (MaskTrack's prior), as it
is or carried by optical flow. With ``plus.guided_radius`` > 0 the output is upsampled edge-aware
(:func:`upsample_output`); ``plus.threshold`` moves the reported 0.5 (:func:`report_threshold`). With
``plus.components: near`` the output's components away from the previous output are dropped
(:func:`keep_near`). With ``plus.finetune_steps`` > 0 the decoder is fine-tuned on each video's first
frame at ``init`` (:mod:`pixtrack_tf.tracking.plus_finetune`).
"""

from __future__ import annotations

import contextlib

import numpy as np
import tensorflow as tf

from pixtrack_tf.config import AFFINITY_LAYERS, PLUS_SKIPS
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


def keep_near(probs, previous, cell: int):
    """``plus.components: near`` -- each object's probabilities (K, H, W) with the connected components
    of its mask (>= 0.5, 8-connected) that do not overlap its ``previous`` mask (K, H, W bool) dilated by
    ``cell`` pixels set to 0; an object whose previous mask is empty keeps everything."""
    import cv2

    out = np.array(probs, np.float32, copy=True)
    kernel = np.ones((2 * cell + 1, 2 * cell + 1), np.uint8)
    for k, prev in enumerate(previous):
        on = (out[k] >= 0.5).astype(np.uint8)
        if not prev.any() or not on.any():
            continue
        n, label = cv2.connectedComponents(on, connectivity=8)
        near = cv2.dilate(prev.astype(np.uint8), kernel) > 0
        keep = np.zeros(n, bool)
        keep[np.unique(label[near & (on > 0)])] = True
        keep[0] = True  # the pixels below 0.5
        out[k][~keep[label]] = 0.0
    return out


def resized_size(hw, acfg) -> tuple[int, int]:
    """(h, w) the frame is resized to before the backbone: 8 x the feature grid."""
    grid = feature_grid(hw, acfg)
    stride = AFFINITY_LAYERS[acfg.layer]
    return grid[0] * stride, grid[1] * stride


def upsample_output(p, frame, pcfg, region=None):
    """The decoder's probabilities ``p`` (K, h, w, 1) at the frame's size (K, H, W): bilinear, then with
    ``plus.guided_radius`` > 0 the guided filter with the frame (H, W, 3) as its guide, fitted at
    ``plus.guided_stride`` (graph code), then :func:`report_threshold`. ``region`` (y0, y1, x0, x1) pixels:
    ``p`` is zero outside it (``plus.roi: mask``), so the filter runs on it grown by its reach (two windows,
    a stride-s fit and the bilinear spread: :func:`filter_reach`), zero beyond."""
    return report_threshold(_edge_aware(p, frame, pcfg, region), pcfg.threshold)


def _edge_aware(p, frame, pcfg, region):
    """:func:`upsample_output` before :func:`report_threshold`."""
    hw = tf.shape(frame)[:2]
    up = tf.image.resize(p, hw)[..., 0]
    if pcfg.guided_radius <= 0:
        return up
    args = (pcfg.guided_radius, pcfg.guided_eps, pcfg.guide, pcfg.guided_stride)
    if region is None:
        return guided_filter(frame, up, *args)
    s, m = pcfg.guided_stride, filter_reach(pcfg, tf.cast(hw[0] // tf.shape(p)[1], tf.int32))
    y0, x0 = tf.maximum(region[0] - m, 0) // s * s, tf.maximum(region[2] - m, 0) // s * s
    y1, x1 = tf.minimum(region[1] + m, hw[0]), tf.minimum(region[3] + m, hw[1])
    q = guided_filter(frame[y0:y1, x0:x1], up[:, y0:y1, x0:x1], *args)
    return tf.pad(q, [[0, 0], [y0, hw[0] - y1], [x0, hw[1] - x1]])


def cell_max(probs, grid):
    """Each feature cell's highest probability (P, K) of ``probs`` (K, H, W): resized bilinearly to the
    resized frame (8 x ``grid``), then max-pooled over each cell's 8 x 8 pixels."""
    s = AFFINITY_LAYERS["block4_conv3"]
    up = tf.image.resize(tf.cast(probs, tf.float32)[..., None], (grid[0] * s, grid[1] * s))
    cells = tf.nn.max_pool2d(up, s, s, "VALID")[..., 0]  # (K, h, w)
    return tf.transpose(tf.reshape(cells, (tf.shape(cells)[0], -1)))


GATED_MEMORY = ("gated", "pruned")  # the plus.memory values whose entries are the read's labels gated


def memory_gate(probs, grid, memory: str):
    """The gate (P, K) of ``plus.memory`` ``gated`` (each cell's :func:`cell_max` of the decoder's output
    ``probs``) or ``pruned`` (1 where that is above 0.5, else 0: the labels kept whole or moved away)."""
    g = cell_max(probs, grid)
    return tf.cast(g > 0.5, g.dtype) if memory == "pruned" else g


def gate_labels(labels, gate):
    """``plus.memory: gated`` / ``pruned`` -- memory labels (..., 1 + K) (background first) with each object's label
    multiplied by its ``gate`` (..., K) in [0, 1] (:func:`memory_gate` of the decoder's output) and the mass
    taken off added to the background's: the cells the decoder rejects lose the object, the others keep
    the read's own values (those the decoder was trained on); the memory never gains object mass."""
    obj = labels[..., 1:] * tf.cast(gate, labels.dtype)
    bg = labels[..., :1] + tf.reduce_sum(labels[..., 1:] - obj, axis=-1, keepdims=True)
    return tf.concat([bg, obj], axis=-1)


def report_threshold(p, t: float):
    """``plus.threshold`` t: ``p`` as sigmoid(logit p - logit t), so that t is reported as 0.5 (the
    threshold of the masks, the evaluation and the next box), monotone, 0 and 1 kept within 1e-5; t = 0.5: ``p``."""
    if t == 0.5:
        return p
    p = tf.clip_by_value(tf.cast(p, tf.float32), 1e-6, 1.0 - 1e-6)
    return tf.sigmoid(tf.math.log(p / (1.0 - p)) - float(np.log(t / (1.0 - t))))


def filter_reach(pcfg, cell):
    """How far (pixels) outside the decoder's nonzero region the upsampled, filtered output can be
    nonzero: the guided filter's two windows (2 r), its stride-s fit (2 s) and one decoder cell of
    bilinear spread, plus one more of each for rounding."""
    return 2 * pcfg.guided_radius + 4 * pcfg.guided_stride + 2 * cell


class MaskROI:
    """``plus.roi: mask`` -- the box of the feature grid a frame is computed in: the previous frame's
    output (every object's pixels >= 0.5) in feature cells, grown by ``margin`` cells on each side and
    clipped to the grid; the whole grid when the output is empty (the read may then find the object
    again anywhere, from the first frame).

    ``box(masks)`` -> (y0, y1, x0, x1) cells; ``context(box)`` -> the box grown by ``context`` cells
    (``plus.roi_context``) and clipped: what the backbone sees."""

    def __init__(self, hw, grid, margin: int, context: int):
        self.hw, self.grid, self.margin, self.context_cells = tuple(hw), tuple(grid), int(margin), int(context)

    def box(self, masks):
        gh, gw = self.grid
        on = (np.asarray(masks) >= 0.5).any(axis=0)
        if not on.any():
            return (0, gh, 0, gw)
        rows, cols = np.flatnonzero(on.any(axis=1)), np.flatnonzero(on.any(axis=0))
        H, W = self.hw
        y0, y1 = rows[0] * gh // H - self.margin, rows[-1] * gh // H + 1 + self.margin
        x0, x1 = cols[0] * gw // W - self.margin, cols[-1] * gw // W + 1 + self.margin
        return (max(0, int(y0)), min(gh, int(y1)), max(0, int(x0)), min(gw, int(x1)))

    def context(self, box):
        y0, y1, x0, x1 = box
        c, (gh, gw) = self.context_cells, self.grid
        return (max(0, y0 - c), min(gh, y1 + c), max(0, x0 - c), min(gw, x1 + c))

    def share(self, box) -> float:
        """The box's share of the grid's area."""
        return (box[1] - box[0]) * (box[3] - box[2]) / (self.grid[0] * self.grid[1])


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
        # plus.roi mask: one graph whatever the box (its size changes from frame to frame)
        self._roi_features = tf.function(self._roi_features_fn, reduce_retracing=True)
        self._roi_refine = tf.function(self._roi_refine_fn, reduce_retracing=True)
        self.roi_shares = []  # plus.roi mask: each tracked frame's box, as a share of the frame
        self.finetuning = None  # plus.finetune_steps > 0: the decoder fine-tuned on each video's first frame
        if cfg.plus.finetune_steps > 0:
            from pixtrack_tf.tracking.plus_finetune import PlusFineTuning

            self.finetuning = PlusFineTuning(self, cfg)

    @property
    def init_info(self) -> dict:
        """The first-frame fine-tuning's IoUs and time (``plus.finetune_steps``; empty when off)."""
        return dict(self.finetuning.info) if self.finetuning is not None else {}

    def _decoder(self, taps, prior):
        """The decoder's probabilities, with this video's fine-tuned weights when ``plus.finetune_steps``."""
        scope = self.finetuning.scope() if self.finetuning is not None else contextlib.nullcontext()
        with scope:
            return tf.sigmoid(self.model.decoder(taps, prior))

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
        p = self._decoder(batch, prior)  # at the decoder's stride
        return upsample_output(p, frame, self.pcfg), None if previous is None else tf.image.resize(p, size)[..., 0]

    def _roi_features_fn(self, frame, size, box, context):
        """plus.roi mask: (the backbone's taps inside ``box``, the memory keys (P, C) of the whole grid,
        zero outside the box) from one backbone pass over ``context`` (boxes (y0, y1, x0, x1) in
        feature cells; graph code)."""
        s = AFFINITY_LAYERS["block4_conv3"]
        x = tf.image.resize(tf.cast(frame, tf.float32)[None], size, antialias=True)
        x = x[:, context[0] * s : context[1] * s, context[2] * s : context[3] * s]
        taps = {}
        for name, t in self.model.taps(x).items():
            f = s // PLUS_SKIPS.get(name, s)  # the tap's positions per feature cell
            dy, dx = (box[0] - context[0]) * f, (box[2] - context[2]) * f
            taps[name] = t[:, dy : dy + (box[1] - box[0]) * f, dx : dx + (box[3] - box[2]) * f]
        grid = (size[0] // s, size[1] // s)
        pad = [[0, 0], [box[0], grid[0] - box[1]], [box[2], grid[1] - box[3]], [0, 0]]
        return taps, self.core.keys(tf.pad(taps["block4_conv3"], pad))

    def _roi_refine_fn(self, taps, read, size, frame, box):
        """plus.roi mask: :meth:`_refine_fn` inside ``box`` (cells), zero probability outside it."""
        s, d = AFFINITY_LAYERS["block4_conv3"], self.model.decoder.stride
        k = tf.shape(read)[0]
        prior = tf.image.resize(read[..., None], size)[:, box[0] * s : box[1] * s, box[2] * s : box[3] * s]
        batch = {n: tf.repeat(t, k, axis=0) for n, t in taps.items()}
        p = self._decoder(batch, prior)  # (K, box at the decoder's stride, 1)
        f, (h, w) = s // d, (size[0] // d, size[1] // d)
        p = tf.pad(p, [[0, 0], [box[0] * f, h - box[1] * f], [box[2] * f, w - box[3] * f], [0, 0]])
        H, W = tf.shape(frame)[0], tf.shape(frame)[1]
        lo = lambda c, n, full: c * s * full // n  # noqa: E731 -- a cell's first pixel of the frame
        hi = lambda c, n, full: -(-c * s * full // n)  # noqa: E731 -- past its last
        region = (lo(box[0], size[0], H), hi(box[1], size[0], H), lo(box[2], size[1], W), hi(box[3], size[1], W))
        return upsample_output(p, frame, self.pcfg, region)

    def _start(self, frame, masks):
        self.size = resized_size(frame.shape[:2], self.acfg)
        if self.pcfg.roi == "mask":
            grid = feature_grid(frame.shape[:2], self.acfg)
            margin = self.acfg.radius if self.pcfg.roi_margin < 0 else self.pcfg.roi_margin
            self.roi = MaskROI(frame.shape[:2], grid, margin, self.pcfg.roi_context)
            self.box = self.roi.box(masks)
            self.roi_shares = []
        if self.pcfg.components == "near":
            self.cell = max(1, int(round(frame.shape[0] / feature_grid(frame.shape[:2], self.acfg)[0])))
            self.previous_out = np.asarray(masks) >= 0.5
        _, q = self._features(tf.constant(frame), self.size)
        if self.mask_prior != "none":
            self.previous = tf.image.resize(np.asarray(masks, np.float32)[..., None], self.size, method="area")[..., 0]
            self.prior_flow = MaskFlow(self.size) if self.mask_prior == "flow" else None
            if self.prior_flow is not None:
                self.prior_flow.start(frame)
        memory = self.core.start(frame, masks, feats=q)
        if self.finetuning is not None:
            self.finetuning.run(frame, masks, memory, self.size)
        return memory

    def _mask_prior(self, frame):
        """The previous frame's output (K, h, w), carried into ``frame`` by optical flow with "flow"."""
        if self.prior_flow is None:
            return self.previous
        return tf.constant(self.prior_flow.carry(frame, self.previous.numpy()))

    def read_and_refine(self, frame):
        """(the memory read (K, H, W), the refined probabilities (K, H, W)) of the next frame. The frame's
        memory entry holds the read's own labels (``plus.memory`` "read", as the reference's), the
        refined probabilities (``"refined"``), or the read's labels gated by them (``"gated"``, ``"pruned"``)."""
        frame = tf.constant(check_frame(frame, self.hw))
        if self.pcfg.roi == "mask":
            return self._read_and_refine_roi(frame)
        taps, q = self._features(frame, self.size)
        read, keys, labels = self.core.read(None, self.memory, feats=q)
        previous = None if self.mask_prior == "none" else self._mask_prior(frame.numpy())
        refined, self.previous = self._refine(taps, read, previous, self.size, frame)
        refined = self._components(refined.numpy())
        if self.memory_from == "refined":
            keys, labels = self.core.entry(self.memory, q, refined)
        self.core.push(self.memory, keys, self._gated(labels, refined))
        return read.numpy(), refined

    def _gated(self, labels, refined):
        """A memory entry's labels (P, 1 + K), gated by the output (K, H, W) with ``plus.memory: gated`` or
        ``pruned`` (:func:`gate_labels`); else as they are."""
        if self.memory_from not in GATED_MEMORY:
            return labels
        return gate_labels(labels, memory_gate(refined, self.memory["grid"], self.memory_from))

    def _components(self, refined):
        """The output (K, H, W) with ``plus.components: near``'s components dropped (:func:`keep_near`)."""
        if self.pcfg.components == "all":
            return refined
        refined = keep_near(refined, self.previous_out, self.cell)
        self.previous_out = refined >= 0.5
        return refined

    def _read_and_refine_roi(self, frame):
        """:meth:`read_and_refine` with ``plus.roi: mask``: everything inside the box around the previous
        output; the next frame's box from this frame's output."""
        box = self.box
        self.roi_shares.append(self.roi.share(box))
        b = tf.constant(box, tf.int32)
        taps, q = self._roi_features(frame, self.size, b, tf.constant(self.roi.context(box), tf.int32))
        read, keys, labels = self.core.read(None, self.memory, feats=q, region=box)
        refined = self._components(self._roi_refine(taps, read, self.size, frame, b).numpy())
        self.core.push(self.memory, keys, self._gated(labels, refined))
        self.box = self.roi.box(refined)
        return read.numpy(), refined

    def _probs(self, frame):
        return self.read_and_refine(frame)[1]


class SinglePlusTracker(PlusTracker):
    """:class:`PlusTracker` for one object, with the API of the protocol's trackers."""

    def init(self, frame, mask):
        return super().init(frame, [mask])[0]

    def track(self, frame):
        return super().track(frame)[0]
