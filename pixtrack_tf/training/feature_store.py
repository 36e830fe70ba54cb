"""A store of the frozen backbone's features for local-model training (Sec. 3.1, Sec. 3.3).

"The weights of this feature extractor are kept the same during training" (Sec. 3.2): pool4 of a
training ROI is the same every time it is drawn, so it is computed once and read from disk. For every
frame t of every training sequence the store holds, for each of K pre-drawn jitters (Sec. 3.3 step 3,
``train.store_jitters``):

* ``lag``: pool4 of the ROI placed from the mask at t - ``roi_delay`` (Sec. 3.3 step 2), and the ROI
  crop of frame t's mask (the target z_t);
* ``own``: pool4 of the ROI placed from frame t's own mask (an initial frame, or a step-4
  replacement) and pool4 of the same crop masked by the dilated mask before pool1 (M-CNN's input,
  Sec. 3.2).

A store built from given ROI boxes (Sec. 5.1 step 5: the boxes Algorithm 1 placed with the updated
global model) holds one ``given`` crop per frame and its target instead.

Features are float16 (``.npy`` files read memory-mapped); targets uint8. An entry's key is a hash of
everything its content depends on (the sequence's files by name, size and content hash, so a copy
of the data or one with new modification times keeps its store; the ROI and jitter settings, the
seed, K, ROI size, the dilation, the feature scale, the backbone's weights themselves and, when not
float32, the arithmetic it was computed in, ``train.store_precision``), so a
changed config or weights file never reuses a stale store. Each sequence is
one entry, ``<root>/<key>/``, built and keyed on its own, so the sets that share a sequence (Sec. 5.1's
two halves and the whole training set) share its entry. An entry's arrays are written to a temporary
folder that is renamed into place when complete, so an interrupted build (even ``kill -9``) loses at
most the sequence it was writing, and the next build resumes there.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zlib
from pathlib import Path

import numpy as np
import tensorflow as tf

from pixtrack_tf.config import DTYPE_POLICIES
from pixtrack_tf.data.pipelines import perturb
from pixtrack_tf.data.sequence import DataError, mask_box
from pixtrack_tf.models.backbone import VGGPool4
from pixtrack_tf.ops.roi import crop_roi, dilate, roi_around

STORE_VERSION = 2  # 2: sequences fingerprinted by file content, not modification time
DEFAULT_ROOT = "out/feature_stores"  # where stores go when train.feature_store is empty
CHUNK_FRAMES = 8  # frames per backbone batch while building


def backbone_fingerprint(backbone) -> str:
    """sha256 of a backbone's weights and output scale: what its features depend on."""
    h = hashlib.sha256(f"scale={backbone.output_scale}".encode())
    for w in backbone.get_weights():
        h.update(np.ascontiguousarray(w, np.float32).tobytes())
    return h.hexdigest()


def sequence_fingerprint(seq) -> list:
    """Name, length, size and every frame and mask file's (name, size, content hash): a changed file
    changes it; a copy of the data elsewhere, or one with new modification times (a re-provisioned
    disk), keeps it, so its store is reused."""

    def stat(p):
        if p is None or not os.path.exists(str(p)):
            return [str(p)]
        h = hashlib.blake2b(digest_size=16)
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        return [os.path.basename(str(p)), os.path.getsize(str(p)), h.hexdigest()]

    files = [stat(p) for p in seq.frames] + [stat(p) for p in (seq.masks or [])]
    return [seq.name, len(seq), list(seq.size), hashlib.sha256(json.dumps(files).encode()).hexdigest()]


def entry_description(cfg, seq, fingerprint: str, jitters: int, given_boxes=None) -> dict:
    """Everything one sequence's stored arrays depend on (the entry's key is the hash of this)."""
    d = cfg.data
    desc = {
        "version": STORE_VERSION,
        "sequence": sequence_fingerprint(seq),
        "roi": [d.roi_context, d.roi_min, d.roi_max, d.roi_delay, d.scale_jitter, d.shift_jitter],
        "seed": cfg.seed,
        "jitters": int(jitters),
        "roi_size": cfg.local.roi_size,
        "mask_radius": cfg.local.mask_radius,
        "backbone": fingerprint,
    }
    if cfg.train.store_precision != "float32":  # float32 stores keep the keys they had before the switch
        desc["precision"] = cfg.train.store_precision
    if given_boxes is not None:
        desc["given_boxes"] = hashlib.sha256(np.ascontiguousarray(given_boxes, np.float32).tobytes()).hexdigest()
    return desc


def entry_key(desc: dict) -> str:
    return hashlib.sha256(json.dumps(desc, sort_keys=True).encode()).hexdigest()[:24]


def _nearest_box(boxes, t):
    """The object box at frame t, else the nearest earlier one, else the nearest later one (None if none)."""
    for j in list(range(t, -1, -1)) + list(range(t + 1, len(boxes))):
        if boxes[j] is not None:
            return boxes[j]
    return None


def frame_boxes(seq, cfg, jitters: int):
    """The pre-drawn ROI boxes of every frame of ``seq``:
    ``lag`` and ``own``, (n, K, 4) each; the generator is seeded by (seed, sequence name, frame)."""
    d = cfg.data
    n = len(seq)
    h, w = seq.size
    obj = [mask_box(seq.mask(t)) for t in range(n)]
    whole = (0.0, 0.0, float(w), float(h))
    out = {"lag": np.empty((n, jitters, 4), np.float32), "own": np.empty((n, jitters, 4), np.float32)}
    for t in range(n):
        rng = np.random.default_rng([cfg.seed, zlib.crc32(seq.name.encode()), t, 11])
        refs = {"lag": _nearest_box(obj, max(t - d.roi_delay, 0)) or whole, "own": _nearest_box(obj, t) or whole}
        for slot, ref in refs.items():
            base = roi_around(ref, d.roi_context, d.roi_min, d.roi_max)
            for k in range(jitters):
                out[slot][t, k] = perturb(base, rng, d.scale_jitter, d.shift_jitter)
    return out


class FeatureStore:
    """The stored arrays of a set of sequences, read memory-mapped: ``arrays(name)`` -> {array name:
    (n, ...) array}. Each sequence is one entry ``<root>/<key>/`` (its ``.npy`` files and
    ``entry.json``), shared by every set that contains it (Sec. 5.1's halves and the whole set).

    Arrays: ``lag_pool4`` (n, K, f, f, 512), ``lag_mask`` (n, K, S, S), ``own_pool4``,
    ``own_masked_pool4`` (n, K, f, f, 512), ``lag_box`` / ``own_box`` (n, K, 4); a given-box store:
    ``given_pool4`` (n, f, f, 512), ``given_mask`` (n, S, S), ``given_box`` (n, 4).
    """

    def __init__(self, root, entries: dict, jitters: int, given: bool = False):
        self.root, self.entries, self.jitters, self.given = Path(root), dict(entries), int(jitters), bool(given)
        self._cache = {}

    def arrays(self, name: str) -> dict:
        if name not in self._cache:
            folder = self.root / self.entries[name]
            if not (folder / "entry.json").exists():
                raise DataError(f"{folder}: feature store entry of {name} is missing or unfinished; build it again")
            self._cache[name] = {f.stem: np.load(f, mmap_mode="r") for f in folder.glob("*.npy")}
        return self._cache[name]

    @property
    def size_bytes(self) -> int:
        return sum(f.stat().st_size for e in self.entries.values() for f in (self.root / e).glob("*.npy"))


class _Extractor:
    """The backbone's pool4 on ROI crops of one frame batch, compiled once per store build."""

    def __init__(self, backbone, size: int, radius: int):
        self.backbone, self.S, self.radius = backbone, size, radius
        frames = tf.TensorSpec((None, None, None, 3), tf.uint8)
        masks = tf.TensorSpec((None, None, None, 1), tf.uint8)
        boxes = tf.TensorSpec((None, 4), tf.float32)
        idx = tf.TensorSpec((None,), tf.int32)
        self.plain = tf.function(self._plain, input_signature=[frames, masks, boxes, idx])
        self.masked = tf.function(self._masked, input_signature=[frames, masks, boxes, idx])

    def _crop(self, frames, masks, boxes, idx):
        images = crop_roi(frames, boxes, self.S, box_indices=idx)
        target = tf.cast(crop_roi(masks, boxes, self.S, box_indices=idx) >= 0.5, tf.float32)
        return images, target

    def _plain(self, frames, masks, boxes, idx):
        images, target = self._crop(frames, masks, boxes, idx)
        return tf.cast(self.backbone(images), tf.float32), tf.cast(target[..., 0], tf.uint8)

    def _masked(self, frames, masks, boxes, idx):
        images, target = self._crop(frames, masks, boxes, idx)
        conv1 = tf.convert_to_tensor(dilate(target, self.radius))
        plain = tf.cast(self.backbone(images), tf.float32)
        return plain, tf.cast(self.backbone(images, conv1_mask=conv1), tf.float32)


def _extract(ex, seq, boxes, slots):
    """Features of ``seq`` for ``boxes`` {slot: (n, K, 4)}; returns the arrays of the sequence."""
    n, K = len(seq), next(iter(boxes.values())).shape[1]
    out = {}
    for start in range(0, n, CHUNK_FRAMES):
        ts = list(range(start, min(start + CHUNK_FRAMES, n)))
        frames = tf.constant(np.stack([seq.frame(t) for t in ts]))
        masks = tf.constant(np.stack([seq.mask(t) for t in ts]).astype(np.uint8)[..., None])
        idx = tf.constant(np.repeat(np.arange(len(ts), dtype=np.int32), K))
        for slot in slots:
            b = tf.constant(boxes[slot][ts].reshape(-1, 4))
            if slot == "own":
                plain, masked = ex.masked(frames, masks, b, idx)
                parts = {"own_pool4": plain, "own_masked_pool4": masked}
            else:
                plain, target = ex.plain(frames, masks, b, idx)
                parts = {f"{slot}_pool4": plain, f"{slot}_mask": target}
            for key, v in parts.items():
                v = np.asarray(v).reshape((len(ts), K) + tuple(v.shape[1:]))
                out.setdefault(key, []).append(v.astype(np.float16) if key.endswith("pool4") else v)
    arrays = {k: np.concatenate(v) for k, v in out.items()}
    for slot in slots:
        arrays[f"{slot}_box"] = boxes[slot]
    if "given" in slots:  # one box per frame: drop the K axis
        arrays = {k: v[:, 0] if k.startswith("given") else v for k, v in arrays.items()}
    return arrays


def open_or_build(root, cfg, sequences, jitters=None, given=None, progress=True) -> FeatureStore:
    """The store of ``sequences`` under ``root`` for this config; entries that are missing are built
    first (one sequence at a time, with a progress bar), finished ones reused.

    ``given``: {sequence name: (n, 4) ROI boxes} for a Sec. 5.1 step-5 store (one crop per frame)."""
    jitters = 1 if given is not None else int(jitters or cfg.train.store_jitters)
    S = cfg.local.roi_size
    backbone = VGGPool4(
        weights=cfg.backbone.weights,
        output_scale=cfg.local.feature_scale,
        name="store_backbone",
        dtype=DTYPE_POLICIES[cfg.train.store_precision],
    )
    backbone.build((None, S, S, 3))
    fingerprint = backbone_fingerprint(backbone)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    entries, todo = {}, []
    for seq in sequences:
        boxes = None
        if given is not None:
            if seq.name not in given:
                raise DataError(f"{seq.name}: no given ROI boxes for the step-5 store")
            boxes = np.asarray(given[seq.name], np.float32)
        desc = entry_description(cfg, seq, fingerprint, jitters, boxes)
        entries[seq.name] = key = entry_key(desc)
        if not (root / key / "entry.json").exists():
            todo.append((seq, key, desc, boxes))
    if todo:
        ex = _Extractor(backbone, S, cfg.local.mask_radius)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            total = sum(len(t[0]) for t in todo)
            bar = tqdm(total=total, desc=f"feature store ({len(todo)} sequences)", unit="frame")
        for seq, key, desc, boxes in todo:
            if boxes is not None:
                arrays = _extract(ex, seq, {"given": boxes[:, None]}, ("given",))
            else:
                arrays = _extract(ex, seq, frame_boxes(seq, cfg, jitters), ("lag", "own"))
            tmp = root / f".tmp-{key}"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            for k, v in arrays.items():
                np.save(tmp / f"{k}.npy", v)
            (tmp / "entry.json").write_text(json.dumps({"name": seq.name, "config": cfg.name, **desc}, indent=1))
            shutil.rmtree(root / key, ignore_errors=True)
            os.replace(tmp, root / key)  # the entry appears whole or not at all
            if bar is not None:
                bar.update(len(seq))
        if bar is not None:
            bar.close()
    return FeatureStore(root, entries, jitters, given is not None)


class StoreSampler:
    """Sec. 3.3 samples (the draws of :meth:`LocalSampler.plan`) read from a store: pool4 of the
    initial frame's ROI plain and masked, pool4 and targets of frames 1..T, the step-4 replacement
    (an ``own`` crop of another video, target zero). Each crop is one of the K pre-drawn jitters.
    With ``given`` (a step-5 store), frames after the first read the given ROIs, except in the share
    ``gt_fraction`` of samples that the plan keeps on the ground-truth rule."""

    def __init__(self, store: FeatureStore, sequences, cfg, seed=0, given: FeatureStore | None = None, gt_fraction=0.0):
        from pixtrack_tf.data.pipelines import LocalSampler

        boxes = {s.name: given.arrays(s.name)["given_box"] for s in sequences} if given is not None else None
        self.plan = LocalSampler(sequences, cfg.data, seed, boxes, gt_fraction).plan
        self.names = [s.name for s in sequences]
        self.store, self.given, self.K = store, given, store.jitters

    def choose(self, index: int) -> dict:
        """Which stored crops sample ``index`` reads: ``first`` (sequence, t0, k), ``frames`` (slot,
        sequence, t, k) for frames 1..T (slot ``lag``, ``given`` or ``own`` for the replacement),
        ``rep_t`` and the sequence index ``k``."""
        p = self.plan(index)
        rng, idx, name = p["rng"], p["idx"], self.names[p["k"]]
        first = (name, p["t0"], int(rng.integers(self.K)))
        frames = []
        for j in range(1, len(idx)):
            if j == p["rep_t"]:
                frames.append(("own", self.names[p["rep_k"]], p["rep_tj"], int(rng.integers(self.K))))
            elif p["given"] is not None:
                frames.append(("given", name, int(idx[j]), 0))
            else:
                frames.append(("lag", name, int(idx[j]), int(rng.integers(self.K))))
        return {"first": first, "frames": frames, "rep_t": p["rep_t"], "k": p["k"]}

    def _read(self, slot, name, t, k):
        if slot == "given":
            g = self.given.arrays(name)
            return g["given_pool4"][t], g["given_mask"][t]
        a = self.store.arrays(name)
        if slot == "own":  # a step-4 replacement: another video's object, target all zero
            return a["own_pool4"][t, k], np.zeros(a["lag_mask"].shape[2:], np.uint8)
        return a["lag_pool4"][t, k], a["lag_mask"][t, k]

    def __call__(self, index: int) -> dict:
        c = self.choose(index)
        name, t0, k0 = c["first"]
        a = self.store.arrays(name)
        pool4, masks = zip(*(self._read(*f) for f in c["frames"]))
        return {
            "first_pool4": a["own_pool4"][t0, k0],
            "first_masked_pool4": a["own_masked_pool4"][t0, k0],
            "pool4": np.stack(pool4),
            "masks": np.stack(masks)[..., None].astype(np.float32),
            "replaced": np.arange(1, len(masks) + 1) == c["rep_t"],
            "seq_index": np.int32(c["k"]),
        }


def store_dataset(
    store, sequences, cfg, seed=None, start=0, batch_size=None, given=None, gt_fraction=0.0, num_samples=None
):
    """Batches of stored local-model samples for ``LocalModel.call`` (the ``pool4`` entry point):
    ``first_pool4``, ``first_masked_pool4`` (B, f, f, 512) and ``pool4`` (B, T, f, f, 512) float16,
    ``masks`` (B, T, S, S, 1), ``replaced`` (B, T). ``start``: index of the first sample (resuming)."""
    from pixtrack_tf.data.pipelines import numpy_map

    d, S, f = cfg.data, cfg.local.roi_size, cfg.local.roi_size // 16
    seed = cfg.seed if seed is None else seed
    sampler = StoreSampler(store, sequences, cfg, seed, given, gt_fraction)
    T = d.seq_len
    spec = {
        "first_pool4": ((f, f, 512), tf.float16),
        "first_masked_pool4": ((f, f, 512), tf.float16),
        "pool4": ((T, f, f, 512), tf.float16),
        "masks": ((T, S, S, 1), tf.float32),
        "replaced": ((T,), tf.bool),
        "seq_index": ((), tf.int32),
    }
    end = np.iinfo(np.int64).max if num_samples is None else start + num_samples
    ds = tf.data.Dataset.range(start, end)
    ds = ds.map(numpy_map(sampler, spec), num_parallel_calls=d.num_parallel_calls, deterministic=True)
    return ds.batch(batch_size or d.batch_size, drop_remainder=num_samples is None).prefetch(d.prefetch)
