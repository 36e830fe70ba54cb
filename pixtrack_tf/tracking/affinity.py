"""Feature-affinity label propagation over the frozen VGG16: the third reference tracker.

Not the paper's method, and nothing in it is trained. It reads what the frozen backbone of the
local model already knows about the object, the way space-time correspondence work evaluates its
features on DAVIS (label propagation: CRW, Jabri et al. 2020; the DINO paper's DAVIS protocol):

1. the whole frame, resized by ``affinity.scale``, through the frozen HED VGG16 up to
   ``affinity.layer`` (conv4_3, stride 8), each position's feature L2-normalised over channels;
2. a memory of the first frame (its features and the one-hot labels of its mask, background +
   K objects, area-pooled to the feature grid) and of the last N frames (ring buffer: features and
   the labels the tracker gave them, ``affinity.memory_labels``);
3. for each position of the new frame, the cosine similarity to every first-frame position and to
   the recent frames' positions within ``affinity.radius`` cells (a square window), the top
   ``affinity.topk`` of them all, a softmax at temperature ``affinity.temperature`` over those, and the
   weighted mean of their labels;
4. optionally each label map stretched to [0, 1] (``affinity.normalise = minmax``, as the DINO
   protocol does before its argmax), bilinear upsampling to the frame, and the decision: a pixel is
   object k where p_k / (p_k + the best rival's p) >= ``affinity.threshold`` (0.5 = the argmax over
   background and objects, the DAVIS 2017 convention).

The probability a tracker reports is that share, moved so that the threshold sits at 0.5 (the
evaluator's and ``pixtrack track``'s object threshold). Memory does not grow with the video: the
first frame plus N recent frames, whatever its length.

:class:`AffinityCore` is the computation (TensorFlow, one graph per frame size: features,
propagation, decision and memory update in one call); :class:`AffinityTracker` (one object, the API
of the other reference trackers) and :class:`MultiAffinityTracker` (several objects of a palette mask
in one pass) own the memory.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from pixtrack_tf.config import AFFINITY_LAYERS, DTYPE_POLICIES, AffinityConfig
from pixtrack_tf.data.sequence import mask_box
from pixtrack_tf.ops.roi import roi_around
from pixtrack_tf.tracking.common import TrackResult, check_first, check_frame


def feature_grid(hw, acfg: AffinityConfig) -> tuple[int, int]:
    """(h, w) of the feature grid of a frame of size ``hw``: the frame resized by ``scale`` and divided
    by the layer's stride, rounded (the frame is resized to exactly ``stride`` x that grid, so each
    cell covers the same share of the frame)."""
    stride = AFFINITY_LAYERS[acfg.layer]
    return tuple(max(1, int(round(d * acfg.scale / stride))) for d in hw)


TILE = 8  # query positions are compared with the recent frames tile by tile (TILE x TILE cells)


class Layout:
    """The static geometry of one feature grid (h, w) and radius R: which memory positions each query
    position may read in the recent frames.

    With a window (R > 0) smaller than the grid, the queries go in tiles of ``tile`` x ``tile`` cells
    (T = tile^2 queries) and each tile reads the (tile + 2R)^2 cells around it (positions outside the
    grid point at a zero row), so the cost is that of the windows, not of (P x P) matrices; otherwise
    one tile holds every position and reads every position. ``allowed`` (tiles, T, window) says which of
    its window's cells each query may read: within R cells in y and in x, and inside the grid. The tile
    changes the speed only (larger tiles: fewer, larger products over more keys, of which the same are
    allowed)."""

    def __init__(self, grid, radius: int, tile: int = TILE):
        h, w = grid
        self.grid, self.P, self.tile = (h, w), h * w, tile
        side = tile + 2 * radius
        if radius <= 0 or side * side >= self.P:  # one tile: every position reads every position
            self.tiles, self.tile_size = 1, self.P
            self.query_idx = np.arange(self.P, dtype=np.int32)[None]
            self.window_idx = self.query_idx.copy()
            yy, xx = np.divmod(np.arange(self.P), w)
            near = (np.abs(yy[:, None] - yy[None]) <= radius) & (np.abs(xx[:, None] - xx[None]) <= radius)
            self.allowed = (near if radius > 0 else np.ones((self.P, self.P), bool))[None]
            self.back_idx = np.arange(self.P, dtype=np.int32)
            return
        ny, nx = -(-h // tile), -(-w // tile)
        self.tiles, self.tile_size = ny * nx, tile * tile
        ty, tx = np.divmod(np.arange(self.tiles), nx)
        i, j = np.divmod(np.arange(tile * tile), tile)  # a query's place in its tile
        u, v = np.divmod(np.arange(side * side), side)  # a key's place in its tile's window
        qy, qx = ty[:, None] * tile + i[None], tx[:, None] * tile + j[None]  # (tiles, T^2)
        ky, kx = ty[:, None] * tile - radius + u[None], tx[:, None] * tile - radius + v[None]  # (tiles, W^2)
        q_in = (qy < h) & (qx < w)
        k_in = (ky >= 0) & (ky < h) & (kx >= 0) & (kx < w)
        self.query_idx = np.where(q_in, qy * w + qx, self.P).astype(np.int32)
        self.window_idx = np.where(k_in, ky * w + kx, self.P).astype(np.int32)
        dy = np.abs(ky[:, None, :] - qy[:, :, None])
        dx = np.abs(kx[:, None, :] - qx[:, :, None])
        self.allowed = (dy <= radius) & (dx <= radius) & k_in[:, None, :]
        flat = np.full(self.P + 1, -1, np.int64)
        flat[self.query_idx.ravel()] = np.arange(self.query_idx.size)
        self.back_idx = flat[: self.P].astype(np.int32)

    def tile_span(self, region):
        """The tiles over ``region`` (y0, y1, x0, x1) feature cells: rows [ty0, ty1) and columns [tx0, tx1)
        of the tiles, and how many tiles a row has -- (ty0, ty1, tx0, tx1, nx), of ints or of tensors."""
        t, nx = (self.tile, -(-self.grid[1] // self.tile)) if self.tiles > 1 else (max(self.grid), 1)
        return region[0] // t, (region[1] + t - 1) // t, region[2] // t, (region[3] + t - 1) // t, nx

    def gather(self, values, idx):
        """Rows of ``values`` (P, X) at ``idx`` (any shape), index P reading zeros."""
        padded = tf.concat([values, tf.zeros_like(values[:1])], axis=0)
        return tf.gather(padded, idx)


def propagate(queries, first_feats, first_labels, recent_keys, recent_labels, recent_valid, allowed, topk, temperature):
    """Step 3 of the module docstring (the label propagation itself), tile by tile (:class:`Layout`).

    queries (tiles, T, C) and first_feats (P0, C): L2-normalised features; first_labels (P0, L);
    recent_keys / recent_labels: one (tiles, W, C) / (tiles, W, L) pair per ring-buffer slot, each
    tile's window; recent_valid (N,) bool: the slots that hold a frame; allowed (tiles, T, W) bool.
    Returns (tiles, T, L) float32 labels.

    The top ``topk`` of all the scores are found part by part: the top ``topk`` of the first frame's and
    of each recent frame's, then the top ``topk`` of those (the same keys as one top-k over every score,
    but no (tiles, T, P0 + N W) matrix is written and read again)."""
    minus_inf = tf.constant(-np.inf, tf.float32)

    def best(scores, labels, batch_dims):  # a part's top topk: (values, their labels (tiles, T, k, L))
        vals, idx = tf.math.top_k(scores, k=tf.minimum(topk, tf.shape(scores)[-1]))
        return vals, tf.gather(labels, idx, batch_dims=batch_dims)

    parts = [best(tf.cast(tf.einsum("tqc,pc->tqp", queries, first_feats), tf.float32), first_labels, 0)]
    for n, keys in enumerate(recent_keys):
        a = tf.cast(tf.matmul(queries, keys, transpose_b=True), tf.float32)
        parts.append(best(tf.where(tf.logical_and(allowed, recent_valid[n]), a, minus_inf), recent_labels[n], 1))
    vals, labels = (tf.concat(v, axis=2) for v in zip(*parts))  # (tiles, T, k (N + 1)), (..., L)
    vals, labels = best(vals, labels, 2)
    weights = tf.nn.softmax(vals / temperature, axis=-1)  # keys outside the window (-inf) weigh 0
    return tf.einsum("tqk,tqkl->tql", weights, labels)


def decide(labels, threshold: float):
    """(..., L) label maps (background first) -> (..., L - 1) object probabilities: each object's share
    p_k / (p_k + max of the other maps), mapped piecewise-linearly so that ``threshold`` goes to 0.5."""
    obj = labels[..., 1:]
    n = tf.shape(labels)[-1]
    # the best rival of object k: the max over every other map (background included)
    others = tf.where(tf.eye(n, dtype=tf.bool)[1:], tf.constant(-np.inf, labels.dtype), labels[..., None, :])
    rival = tf.reduce_max(others, axis=-1)
    share = obj / tf.maximum(obj + rival, 1e-6)
    t = threshold
    return tf.where(share < t, share * (0.5 / t), 0.5 + (share - t) * (0.5 / (1.0 - t)))


def _one_hot(masks):
    """(K, H, W) object masks in [0, 1] -> (H, W, 1 + K) maps: background, then the objects."""
    return tf.concat([1.0 - tf.reduce_max(masks, axis=0)[..., None], tf.transpose(masks, (1, 2, 0))], -1)


class AffinityCore:
    """The computation of one frame (features, propagation, decision, memory entry) as one
    TensorFlow graph per frame size and memory fill; the trackers own the memory it reads.

    Args:
        acfg: an :class:`~pixtrack_tf.config.AffinityConfig`.
        weights: the backbone's weights (``"hed"``: the bundled HED VGG16; ``"none"``: random, tests).
        tile: the side of the :class:`Layout`'s query tiles (speed only: every query reads the same keys).
    """

    def __init__(self, acfg: AffinityConfig | None = None, weights="hed", tile: int = TILE):
        from pixtrack_tf.models.backbone import VGGPool4

        self.acfg = acfg = AffinityConfig() if acfg is None else acfg
        self.stride = AFFINITY_LAYERS[acfg.layer]
        self.backbone = VGGPool4(weights=weights, dtype=DTYPE_POLICIES[acfg.precision])
        self.backbone.build((None, None, None, 3))  # reads the weights here, not inside a graph
        self.compute_dtype = tf.bfloat16 if acfg.precision == "bfloat16" else tf.float32
        self._step = tf.function(self._step_fn)
        self._init = tf.function(self.init_fn)
        self._read = tf.function(self._read_fn, reduce_retracing=True)  # region: its tiles vary
        self._layouts, self.tile = {}, tile

    def layout(self, grid) -> Layout:
        if grid not in self._layouts:
            self._layouts = {grid: Layout(grid, self.acfg.radius, self.tile)}  # one frame size at a time
        return self._layouts[grid]

    def features(self, frame, grid):
        """(P, C) L2-normalised features of a frame (H, W, 3) uint8 on ``grid`` (h, w)."""
        size = (grid[0] * self.stride, grid[1] * self.stride)
        x = tf.image.resize(tf.cast(frame, tf.float32)[None], size, antialias=True)
        (f,) = self.backbone.taps(x, [self.acfg.layer])
        return self.keys(f)

    def keys(self, tap):
        """(P, C) memory keys of a frame from its backbone tap (1, h, w, C): L2-normalised positions."""
        f = tf.math.l2_normalize(tf.cast(tap[0], tf.float32), axis=-1)
        return tf.cast(tf.reshape(f, (-1, tf.shape(f)[-1])), self.compute_dtype)

    def pool(self, maps, grid):
        """(H, W, L) label maps -> (P, L), each cell the mean over the pixels it covers."""
        return tf.reshape(tf.image.resize(maps, grid, method="area"), (grid[0] * grid[1], -1))

    def init_fn(self, frame, masks, grid):
        """The first frame's features (P, C) and labels (P, 1 + K) from its object masks (K, H, W)."""
        return self.features(frame, grid), self.pool(_one_hot(masks), grid)

    def _step_fn(self, frame, first_feats, first_labels, recent_keys, recent_labels, recent_valid, grid):
        q = self.features(frame, grid)
        hw = tf.shape(frame)[:2]
        return self._read_fn(q, hw, first_feats, first_labels, recent_keys, recent_labels, recent_valid, grid)

    def _read_fn(self, q, hw, first_feats, first_labels, recent_keys, recent_labels, recent_valid, grid, region=None):
        """Everything after the features: propagation, decision, the new memory entry."""
        args = (first_feats, first_labels, recent_keys, recent_labels, recent_valid, grid, region)
        probs, lab = self.propagate_fn(q, hw, *args)
        keys, labels = (q, lab) if self.acfg.memory > 0 else (None, None)
        return probs, keys, labels

    def propagate_fn(
        self, q, hw, first_feats, first_labels, recent_keys, recent_labels, recent_valid, grid, region=None
    ):
        """The frame's object probabilities (K, H, W) from its features q (P, C), and the labels (P, L)
        its memory entry keeps (soft: the propagated ones; hard: the decided mask, pooled). Graph code.
        The recent frames' keys (P, C) and labels (P, L) are gathered into each tile's window here, for
        the tiles read only: the memory holds each frame once, not once per tile whose window covers it.
        ``region`` (y0, y1, x0, x1) feature cells: only the :class:`Layout`'s tiles over it are read, and
        every position outside it gets the background's label (pixtrack+'s ``plus.roi: mask``)."""
        a, lay = self.acfg, self.layout(grid)
        query_idx, window_idx, allowed = lay.query_idx, lay.window_idx, tf.constant(lay.allowed)
        if region is not None:
            ty0, ty1, tx0, tx1, nx = lay.tile_span(region)
            ty, tx = tf.range(ty0, ty1), tf.range(tx0, tx1)
            tile_ids = tf.reshape(ty[:, None] * nx + tx[None], [-1])
            query_idx, window_idx = tf.gather(query_idx, tile_ids), tf.gather(window_idx, tile_ids)
            allowed = tf.gather(allowed, tile_ids)
        # a window's cells outside the grid are never read (``allowed`` is False there, their scores -inf),
        # so they may point at any row: no zero row is appended to each slot's (P, C) keys every frame
        window_idx = tf.minimum(window_idx, lay.P - 1)
        tiles = propagate(
            lay.gather(q, query_idx),
            first_feats,
            first_labels,
            [tf.gather(k, window_idx) for k in recent_keys],
            [tf.gather(v, window_idx) for v in recent_labels],
            recent_valid,
            allowed,
            a.topk,
            a.temperature,
        )
        flat = tf.reshape(tiles, (-1, tf.shape(tiles)[-1]))
        if region is None:
            lab = tf.gather(flat, lay.back_idx)  # (P, L)
        else:  # the tiles' positions into a background map (index P: outside the grid, dropped)
            background = tf.one_hot(tf.zeros(lay.P + 1, tf.int32), tf.shape(flat)[-1], dtype=flat.dtype)
            lab = tf.tensor_scatter_nd_update(background, tf.reshape(query_idx, (-1, 1)), flat)[: lay.P]
            yy, xx = (tf.constant(v) for v in np.divmod(np.arange(lay.P, dtype=np.int32), grid[1]))
            inside = (yy >= region[0]) & (yy < region[1]) & (xx >= region[2]) & (xx < region[3])
            lab = tf.where(inside[:, None], lab, background[: lay.P])
        if a.normalise == "minmax":
            lo, hi = tf.reduce_min(lab, axis=0), tf.reduce_max(lab, axis=0)
            lab = (lab - lo) / tf.maximum(hi - lo, 1e-6)
        up = tf.image.resize(tf.reshape(lab, (grid[0], grid[1], -1)), hw)  # bilinear
        probs = tf.transpose(decide(up, a.threshold), (2, 0, 1))  # (K, H, W)
        if a.memory_labels == "hard":
            lab = self.pool(_one_hot(tf.cast(probs >= 0.5, tf.float32)), grid)
        return probs, lab

    def start(self, frame, masks, feats=None):
        """The memory of a video from its first frame (H, W, 3) uint8 and object masks (K, H, W):
        a dict that :meth:`step` reads and updates (the first frame, and a ring buffer of the last
        ``memory`` frames' entries). ``feats``: the frame's :meth:`features`, when already computed."""
        grid = feature_grid(frame.shape[:2], self.acfg)
        lay = self.layout(grid)
        masks = tf.constant(np.asarray(masks, np.float32))
        if feats is None:
            f0, l0 = self._init(tf.constant(frame), masks, grid)
        else:
            f0, l0 = tf.cast(feats, self.compute_dtype), self.pool(_one_hot(masks), grid)
        # N empty slots (one graph whatever the fill): zeros, marked invalid
        n = self.acfg.memory
        empty = (tf.zeros((lay.P, f0.shape[-1]), f0.dtype), tf.zeros((lay.P, l0.shape[-1]), tf.float32))
        return {
            "grid": grid,
            "hw": tuple(frame.shape[:2]),
            "first_feats": f0,
            "first_labels": l0,
            "recent": [empty] * n,
            "valid": [False] * n,
            "next": 0,
        }

    def step(self, frame, memory, feats=None):
        """Object probabilities (K, H, W) float32 of the next frame; updates ``memory`` in place.
        ``feats``: the frame's :meth:`features`, when already computed (``frame`` may then be None)."""
        probs, keys, labels = self.read(frame, memory, feats)
        self.push(memory, keys, labels)
        return probs.numpy()

    def read(self, frame, memory, feats=None, region=None):
        """(the probabilities (K, H, W), the frame's memory entry: keys, labels) without changing ``memory``.
        ``region`` (with ``feats``): (y0, y1, x0, x1) feature cells, the only ones read (:meth:`propagate_fn`)."""
        m = memory
        keys, labels = [k for k, _ in m["recent"]], [v for _, v in m["recent"]]
        args = (m["first_feats"], m["first_labels"], keys, labels, tf.constant(m["valid"], tf.bool), m["grid"])
        if feats is None:
            return self._step(tf.constant(frame), *args)
        if region is not None:
            args = (*args, tf.constant(region, tf.int32))
        return self._read(tf.cast(feats, self.compute_dtype), tf.constant(m["hw"]), *args)

    def entry(self, memory, feats, masks):
        """The memory entry (keys, labels) of a frame from its features (P, C) and given object masks
        (K, H, W) in [0, 1] (pooled as the first frame's are), instead of the read's own labels."""
        labels = self.pool(_one_hot(tf.constant(masks, tf.float32)), memory["grid"])
        return tf.cast(feats, self.compute_dtype), labels

    def push(self, memory, keys, labels):
        """The ring buffer: the oldest slot takes the new frame's entry (nothing with ``memory`` 0)."""
        if self.acfg.memory > 0:
            m = memory
            slot = m["next"]
            m["recent"][slot], m["valid"][slot] = (keys, labels), True
            m["next"] = (slot + 1) % self.acfg.memory


class MultiAffinityTracker:
    """Feature-affinity propagation of several objects in one pass (one feature computation per frame,
    one label map per object plus background): ``init(frame, [masks])`` -> [TrackResult],
    ``track(frame)`` -> [TrackResult]. Each result's box is the Sec. 3.3 ROI around the object's current
    mask (the previous box while the mask is empty), as for the other reference trackers."""

    name = "affinity"

    def __init__(self, cfg=None, core: AffinityCore | None = None):
        from pixtrack_tf.config import Config

        cfg = Config() if cfg is None else cfg
        d = cfg.data
        self.context, self.lo, self.hi = float(d.roi_context), float(d.roi_min), float(d.roi_max)
        self.core = core if core is not None else AffinityCore(cfg.affinity, cfg.backbone.weights)
        self.hw = None

    def init(self, frame, masks):
        checked = [check_first(frame, m) for m in masks]
        frame = checked[0][0]
        masks = np.stack([m for _, m in checked]).astype(np.float32)
        self.hw = frame.shape[:2]
        self.boxes = [roi_around(mask_box(m > 0), self.context, self.lo, self.hi) for m in masks]
        self.memory = self._start(frame, masks)
        return [TrackResult(m, b.copy()) for m, b in zip(masks, self.boxes)]

    def _start(self, frame, masks):
        """The memory of the video from its first frame and masks (K, H, W)."""
        return self.core.start(frame, masks)

    def _probs(self, frame):
        """The objects' probabilities (K, H, W) of the next (checked) frame."""
        return self.core.step(frame, self.memory)

    def track(self, frame):
        if self.hw is None:
            raise RuntimeError("call init(frame, masks) first")
        probs = self._probs(check_frame(frame, self.hw))
        out = []
        for k, p in enumerate(probs):
            b = mask_box(p >= 0.5)
            if b is not None:
                self.boxes[k] = roi_around(b, self.context, self.lo, self.hi)
            out.append(TrackResult(p.astype(np.float32), self.boxes[k].copy()))
        return out


class AffinityTracker(MultiAffinityTracker):
    """:class:`MultiAffinityTracker` for one object, with the reference trackers' API:
    ``init(frame, mask)`` -> TrackResult, ``track(frame)`` -> TrackResult."""

    def init(self, frame, mask):
        return super().init(frame, [mask])[0]

    def track(self, frame):
        return super().track(frame)[0]
