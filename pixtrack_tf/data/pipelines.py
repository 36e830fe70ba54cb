"""tf.data pipelines for the local model (Sec. 3.3) and the global model (Sec. 4, Sec. 5.1).

A Python sampler draws each training sample from a NumPy generator seeded by (seed, sample index),
so a pipeline repeats exactly under a seed, whatever its parallelism, and a resumed run continues
with the samples it would have seen (``start`` = samples already consumed). Decoding runs in
``tf.numpy_function`` under a parallel ``map``; ROI crops use ``tf.image.crop_and_resize``.

Local-model samples, Sec. 3.3 steps 1-4:

1. "select a frame from a sequence randomly as the initial frame" - a random frame whose mask is
   not empty (we cannot detect the paper's "artifacts", so an empty or tiny mask is what we avoid).
2. "The width of the square ROI is twice the longer length of the object along the horizontal and
   vertical directions. The ROI width is further truncated to within the range of [56, 672] ... the
   location is set according to the object mask at frame t - 5." The ROI of the initial frame uses
   its own mask; frame t uses the mask at max(t - 5, t_0); an empty mask there falls back to the
   last non-empty one.
3. "Random scaling is set in the range of [0.9, 1.1] and spatial shift [-10, 10] pixels."
4. "replace the ROI image at a randomly chosen time t_i with the ROI image for another randomly
   chosen video j at another time t_j. The ground truth segmentation maps for such ROI images are
   set to all zero."

Sequences shorter than T + 1 frames from the initial frame are stretched in time by repeating
frames (frame index floor(k (n - t_0) / (T + 1)) + t_0), as the paper does for short test videos.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf
from PIL import Image

from pixtrack_tf.data.sequence import DataError, Sequence, mask_box
from pixtrack_tf.ops.roi import crop_roi, dilate, roi_around

MIN_OBJECT_PIXELS = 16


def clip_indices(n: int, t0: int, length: int) -> np.ndarray:
    """``length`` frame indices from t0; stretched by repetition when fewer frames remain."""
    if n - t0 >= length:
        return t0 + np.arange(length)
    return t0 + (np.arange(length) * (n - t0)) // length


def perturb(box, rng, scale_jitter, shift_jitter):
    """Sec. 3.3 step 3: scale in [1 - s, 1 + s] and shift in [-d, d] pixels."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    side = (box[2] - box[0]) * rng.uniform(1 - scale_jitter, 1 + scale_jitter)
    cx += rng.uniform(-shift_jitter, shift_jitter)
    cy += rng.uniform(-shift_jitter, shift_jitter)
    return np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], np.float32)


@dataclass
class _SeqInfo:
    seq: Sequence
    boxes: list  # per frame mask box or None
    valid_starts: np.ndarray


def _scan(sequences: list[Sequence]) -> list[_SeqInfo]:
    infos = []
    for s in sequences:
        if not s.has_masks:
            raise DataError(f"{s.name}: training needs a mask for every frame")
        if len(s) < 2:
            raise DataError(f"{s.name}: one-frame sequence; training needs at least 2 frames")
        boxes, valid = [], []
        for i in range(len(s)):
            m = s.mask(i)
            if m is None:
                raise DataError(f"{s.name}: frame {i} has no mask")
            b = mask_box(m)
            boxes.append(b)
            if b is not None and m.sum() >= MIN_OBJECT_PIXELS and i < len(s) - 1:
                valid.append(i)
        if not valid:
            raise DataError(f"{s.name}: no frame with a non-empty mask to start from")
        infos.append(_SeqInfo(s, boxes, np.asarray(valid)))
    return infos


class LocalSampler:
    """Draws local-model samples (Sec. 3.3); see the module docstring.

    ``roi_boxes`` (name -> (n, 4) pixel boxes) replaces steps 2-3 for frames after the first with
    given ROIs, e.g. those placed by the updated global model (Sec. 5.1 step 5), except in a share
    ``gt_fraction`` of the samples, which keep the ground-truth rule.
    """

    def __init__(self, sequences, data_cfg, seed=0, roi_boxes=None, gt_fraction=0.0):
        if not sequences:
            raise DataError("no sequences to sample from")
        self.infos = _scan(list(sequences))
        self.cfg = data_cfg
        self.seed = int(seed)
        self.roi_boxes = roi_boxes or {}
        self.gt_fraction = float(gt_fraction)

    def _box_at(self, info, ref, t0):
        for j in range(ref, t0 - 1, -1):
            if info.boxes[j] is not None:
                return info.boxes[j]
        return info.boxes[t0]

    def plan(self, index: int) -> dict:
        """The draws of sample ``index`` that do not depend on how ROIs become pixels: sequence ``k``,
        initial frame ``t0``, the frame indices ``idx`` (T + 1), whether frames after the first use
        the given ROIs (``given``), the step-4 replacement (video ``rep_k``, time ``rep_tj``, position
        ``rep_t``, -1 for none) and the generator ``rng`` to draw the ROI jitter from."""
        c = self.cfg
        rng = np.random.default_rng([self.seed, int(index), 3])
        T = c.seq_len
        k = int(rng.integers(len(self.infos)))
        info = self.infos[k]
        n = len(info.seq)
        fits = info.valid_starts[info.valid_starts <= n - 1 - T]
        t0 = int(rng.choice(fits if fits.size else info.valid_starts))
        given = self.roi_boxes.get(info.seq.name)
        if given is not None and self.gt_fraction > 0 and rng.random() < self.gt_fraction:
            given = None
        # step 4: an ROI from another video at another time, with an all-zero mask
        others = [i for i in range(len(self.infos)) if i != k] or [k]
        rep_k = int(rng.choice(others))
        rep_tj = int(rng.integers(len(self.infos[rep_k].seq)))
        rep_t = int(rng.integers(1, T + 1)) if c.replace_frame else -1
        return {
            "k": k,
            "t0": t0,
            "idx": clip_indices(n, t0, T + 1),
            "given": given,
            "rep_k": rep_k,
            "rep_tj": rep_tj,
            "rep_t": rep_t,
            "rng": rng,
        }

    def __call__(self, index: int) -> dict:
        c = self.cfg
        p = self.plan(index)
        info, t0, idx, given, rng = self.infos[p["k"]], p["t0"], p["idx"], p["given"], p["rng"]
        boxes = np.empty((len(idx), 4), np.float32)
        for j, t in enumerate(idx):
            if j > 0 and given is not None:
                boxes[j] = given[t]
                continue
            ref = t0 if j == 0 else max(int(t) - c.roi_delay, t0)
            base = roi_around(self._box_at(info, ref, t0), c.roi_context, c.roi_min, c.roi_max)
            boxes[j] = perturb(base, rng, c.scale_jitter, c.shift_jitter)
        frames = np.stack([info.seq.frame(int(t)) for t in idx])
        masks = np.stack([info.seq.mask(int(t)) for t in idx]).astype(np.uint8)
        other, tj = self.infos[p["rep_k"]], p["rep_tj"]
        ob = self._box_at(other, tj, 0) or (0.0, 0.0, float(other.seq.size[1]), float(other.seq.size[0]))
        rep_box = perturb(roi_around(ob, c.roi_context, c.roi_min, c.roi_max), rng, c.scale_jitter, c.shift_jitter)
        return {
            "frames": frames,
            "masks": masks,
            "boxes": boxes,
            "rep_frame": other.seq.frame(tj),
            "rep_box": rep_box,
            "rep_t": np.int32(p["rep_t"]),
            "seq_index": np.int32(p["k"]),
        }


def numpy_map(fn, spec):
    """Wrap a Python ``index -> dict`` sampler as a tf.data map function."""
    keys = list(spec)

    def py(i):
        out = fn(int(i))
        return [np.asarray(out[k], dtype=spec[k][1].as_numpy_dtype) for k in keys]

    def tf_fn(i):
        vals = tf.numpy_function(py, [i], [spec[k][1] for k in keys], stateful=False)
        return {k: tf.ensure_shape(v, spec[k][0]) for k, v in zip(keys, vals)}

    return tf_fn


def local_dataset(
    sequences, cfg, seed=None, start=0, batch_size=None, roi_boxes=None, num_samples=None, gt_fraction=0.0
):
    """Batches of local-model samples (Sec. 3.3) for ``LocalModel.call``.

    Each element: ``first_image`` (B, S, S, 3) float32 in [0, 255], ``first_mask`` (B, S, S, 1)
    dilated, ``images`` (B, T, S, S, 3), ``masks`` (B, T, S, S, 1) in {0, 1}, ``replaced``
    (B, T) bool (the frame of step 4). ``start``: index of the first sample (for resuming).
    """
    d, S = cfg.data, cfg.local.roi_size
    seed = cfg.seed if seed is None else seed
    batch_size = batch_size or d.batch_size
    sampler = LocalSampler(sequences, d, seed, roi_boxes, gt_fraction)
    T = d.seq_len
    spec = {
        "frames": ((T + 1, None, None, 3), tf.uint8),
        "masks": ((T + 1, None, None), tf.uint8),
        "boxes": ((T + 1, 4), tf.float32),
        "rep_frame": ((None, None, 3), tf.uint8),
        "rep_box": ((4,), tf.float32),
        "rep_t": ((), tf.int32),
        "seq_index": ((), tf.int32),
    }
    radius = cfg.local.mask_radius

    def crop(x):
        imgs = crop_roi(x["frames"], x["boxes"], S)
        msk = tf.cast(crop_roi(x["masks"][..., None], x["boxes"], S) >= 0.5, tf.float32)
        rep = crop_roi(x["rep_frame"][None], x["rep_box"][None], S)
        t = tf.range(T + 1)
        is_rep = tf.equal(t, x["rep_t"])
        imgs = tf.where(is_rep[:, None, None, None], rep, imgs)
        msk = tf.where(is_rep[:, None, None, None], tf.zeros_like(msk), msk)
        return {
            "first_image": imgs[0],
            "first_mask": tf.convert_to_tensor(dilate(msk[:1], radius))[0],
            "images": imgs[1:],
            "masks": msk[1:],
            "replaced": is_rep[1:],
            "seq_index": x["seq_index"],
        }

    end = None if num_samples is None else start + num_samples
    ds = tf.data.Dataset.range(start, end if end is not None else np.iinfo(np.int64).max)
    ds = ds.map(numpy_map(sampler, spec), num_parallel_calls=d.num_parallel_calls, deterministic=True)
    ds = ds.map(crop, num_parallel_calls=d.num_parallel_calls, deterministic=True)
    return ds.batch(batch_size, drop_remainder=num_samples is None).prefetch(d.prefetch)


def resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """Full-frame bool mask -> size x size uint8 {0, 1} (the frame's aspect ratio is dropped here
    and passed separately to the global model, Sec. 2)."""
    im = Image.fromarray(mask.astype(np.uint8) * 255).resize((size, size), Image.BILINEAR)
    return (np.asarray(im) >= 128).astype(np.uint8)


def scaled_kernels(kernels, map_size: int, reference: int = 224) -> tuple[int, ...]:
    """``data.global_dilation`` gives kernel sides for a ``reference`` (224) map, the paper's size;
    on another map they scale with it (odd sides, 0 stays 0), so a 112 map gets (15, 11, 5, 3, 0)
    for (31, 21, 11, 5, 0) instead of kernels that cover twice as much of the map."""
    out = []
    for k in kernels:
        k = int(k)
        out.append(0 if k <= 0 else max(1, 2 * int(round((k * map_size / reference - 1) / 2)) + 1))
    return tuple(out)


def dilation_kernel(step: int, kernels, every: int) -> int:
    """Sec. 5.1 step 2: "shrink dilation kernel size every ten thousand iterations"."""
    return int(kernels[min(step // max(every, 1), len(kernels) - 1)])


class GlobalSampler:
    """Ground-truth map sequences Z_{0:T} (Sec. 4), resized to map_size, with the aspect ratio."""

    def __init__(self, sequences, data_cfg, map_size, seed=0):
        self.infos = _scan(list(sequences))
        self.cfg = data_cfg
        self.size = int(map_size)
        self.seed = int(seed)

    def __call__(self, index: int) -> dict:
        rng = np.random.default_rng([self.seed, int(index), 5])
        T = self.cfg.seq_len
        info = self.infos[int(rng.integers(len(self.infos)))]
        n = len(info.seq)
        fits = info.valid_starts[info.valid_starts <= n - 1 - T]
        t0 = int(rng.choice(fits if fits.size else info.valid_starts))
        idx = clip_indices(n, t0, T + 1)
        maps = np.stack([resize_mask(info.seq.mask(int(t)), self.size) for t in idx])
        h, w = info.seq.size
        return {"z": maps, "aspect": np.array([w / h], np.float32)}


def global_dataset(sequences, cfg, seed=None, start=0, batch_size=None, dilation_every=None, num_samples=None):
    """Batches for the global model (Eq. 4) built from ground-truth masks.

    Each element: ``maps`` (B, T, S, S, 1) = Z_{0:T-1} (inputs: theta_t = tau(Z_{0:t-1})),
    ``targets`` (B, T, S, S, 1) = Z_{1:T}, ``aspect`` (B, 1) = W / H, ``kernel`` (B,) the dilation
    kernel used. Both are dilated by a square kernel that shrinks every ``dilation_every`` steps
    through ``data.global_dilation`` (Sec. 4: "we apply a dilation kernel on our input sequence Z1:t
    and gradually shrink the size of the dilation kernel until convergence").
    """
    d, S = cfg.data, cfg.global_.map_size
    seed = cfg.seed if seed is None else seed
    batch_size = batch_size or d.batch_size
    every = cfg.train.dilation_every if dilation_every is None else dilation_every
    sampler = GlobalSampler(sequences, d, S, seed)
    T = d.seq_len
    kernels = scaled_kernels(d.global_dilation, S)

    def sample(i):
        out = sampler(i)
        out["kernel"] = np.int32(dilation_kernel(i // batch_size, kernels, every))
        return out

    spec = {"z": ((T + 1, S, S), tf.uint8), "aspect": ((1,), tf.float32), "kernel": ((), tf.int32)}

    def build(x):
        z = tf.cast(x["z"], tf.float32)[..., None]
        k = x["kernel"]
        z = tf.switch_case(
            tf.argmax(tf.cast(tf.constant(kernels) == k, tf.int32), output_type=tf.int32),
            [(lambda kk=kk: tf.convert_to_tensor(dilate(z, kk // 2))) for kk in kernels],
        )
        return {"maps": z[:-1], "targets": z[1:], "aspect": x["aspect"], "kernel": k}

    end = None if num_samples is None else start + num_samples
    ds = tf.data.Dataset.range(start, end if end is not None else np.iinfo(np.int64).max)
    ds = ds.map(numpy_map(sample, spec), num_parallel_calls=d.num_parallel_calls, deterministic=True)
    ds = ds.map(build, num_parallel_calls=d.num_parallel_calls, deterministic=True)
    return ds.batch(batch_size, drop_remainder=num_samples is None).prefetch(d.prefetch)


def follows_object(pred, gt, share):
    """Sec. 5.1 step 4's frame selection (``train.refine_follow``): (N, T) bool, whether at least
    ``share`` of each predicted map's probability mass lies on the object (>= 0.5) of the ground-truth
    map of the same frame. An empty prediction follows nothing; ``share`` 0 keeps every frame."""
    pred, gt = np.asarray(pred, np.float32), np.asarray(gt, np.float32)
    if share <= 0:
        return np.ones(pred.shape[:2], bool)
    mass = pred.sum(axis=(2, 3))
    on = (pred * (gt >= 0.5)).sum(axis=(2, 3))
    return (mass > 1e-3) & (on >= share * np.maximum(mass, 1e-12))


def global_dataset_from_predictions(pred_maps, gt_maps, aspects, cfg, seed=None, batch_size=None):
    """Sec. 5.1 step 4: inputs Z-bar_{0:T-1} = {Z_0, Z-hat_1, ...} from Algorithm 1, targets Z_{1:T}.

    pred_maps, gt_maps: (N, T + 1, S, S) arrays in [0, 1] (pred_maps[:, 0] is replaced by Z_0);
    aspects: (N,). Each element also holds ``weight`` (T,): 1 where frame t enters Eq. 4, 0 where the
    input Z-bar_{t-1} lost the object (:func:`follows_object` with ``train.refine_follow``; all 1 when
    it is 0, as written); clips with no such frame from ``train.loss_from`` on are dropped. Shuffled
    under the seed, repeated forever.
    """
    pred = np.asarray(pred_maps, np.float32).copy()
    gt = np.asarray(gt_maps, np.float32)
    if pred.shape != gt.shape or pred.ndim != 4:
        raise ValueError(f"predicted maps {pred.shape} and ground truth {gt.shape} must both be (N, T + 1, S, S)")
    pred[:, 0] = gt[:, 0]
    weight = follows_object(pred[:, :-1], gt[:, :-1], cfg.train.refine_follow).astype(np.float32)
    keep = weight[:, max(cfg.train.loss_from - 1, 0) :].any(axis=1)  # a clip with no frame in Eq. 4 teaches nothing
    if not keep.any():
        raise ValueError(
            f"no predicted clip follows its object in the frames Eq. 4 counts (train.refine_follow "
            f"{cfg.train.refine_follow}): step 3 lost every object; lower train.refine_follow or check the local model"
        )
    pred, gt, weight, aspects = pred[keep], gt[keep], weight[keep], np.asarray(aspects, np.float32).reshape(-1)[keep]
    seed = cfg.seed if seed is None else seed
    ds = tf.data.Dataset.from_tensor_slices(
        {
            "maps": pred[:, :-1, ..., None],
            "targets": gt[:, 1:, ..., None],
            "aspect": np.asarray(aspects, np.float32).reshape(-1, 1),
            "weight": weight,
        }
    )
    ds = ds.shuffle(len(pred), seed=seed, reshuffle_each_iteration=True).repeat()
    return ds.batch(batch_size or cfg.data.batch_size, drop_remainder=True).prefetch(cfg.data.prefetch)
