"""Training pixtrack+'s decoder (not the paper): the memory reads it learns to refine, and its task.

The decoder must see at training time what it gets at tracking time: the feature-affinity tracker's
read of each frame of each training video, tracked from that video's first mask with the config's
``affinity`` settings. :func:`build_reads` computes them once (the tracker over every frame, the
object's probability at the resized frame's size, uint8) into ``<root>/plus_reads/<key>/<seq>.npz``,
keyed by the settings and the sequence's files, so that the halves and the whole split share them;
they are rebuilt, not committed (about 4 frames/s on 2 cores in bfloat16).

:class:`PlusTask` then trains the decoder alone (the backbone is frozen) on random crops of
(frame, read, ground truth) of frames t >= 1, with flips, colour jitter and affine warps (``plus.*``): a
per-pixel binary cross-entropy at the resized frame's resolution (the logits upsampled bilinearly),
with ``plus.loss: bce+iou`` plus the soft Jaccard loss, with ``plus.boundary_weight`` > 0 weighted
towards the truth's boundary.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import tensorflow as tf

from pixtrack_tf.models.losses import boundary_weights, soft_jaccard_loss
from pixtrack_tf.models.plus import PlusModel
from pixtrack_tf.ops.augment import affine_warp, colour_jitter
from pixtrack_tf.training.tasks import Task

READS_DIR = "plus_reads"


def reads_key(cfg, seq) -> str:
    """What a sequence's reads depend on: the affinity settings, the files and their sizes."""
    acfg = {k: v for k, v in vars(cfg.affinity).items() if k != "precision"}
    files = [(Path(str(f)).name, Path(str(f)).stat().st_size) for f in seq.frames[:3]] + [len(seq)]
    return hashlib.sha1(json.dumps([acfg, cfg.backbone.weights, files], sort_keys=True).encode()).hexdigest()[:12]


def build_reads(cfg, sequences, root, progress=True) -> dict:
    """{sequence name: npz path} of each sequence's reads (``prior`` (T, h, w) uint8, frame 0 = its
    ground-truth mask), computed where missing."""
    from pixtrack_tf.tracking.affinity import MultiAffinityTracker
    from pixtrack_tf.tracking.plus import resized_size

    paths, tracker = {}, None
    for seq in sequences:
        path = Path(root) / READS_DIR / reads_key(cfg, seq) / f"{seq.name}.npz"
        paths[seq.name] = path
        if path.exists():
            continue
        tracker = tracker or MultiAffinityTracker(cfg)
        h, w = resized_size(seq.size, cfg.affinity)
        reads = [tracker.init(seq.frame(0), [seq.first_mask()])[0].prob]
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(seq) - 1, desc=f"reads {seq.name}", unit="frame")
        for i in range(1, len(seq)):
            reads.append(tracker.track(seq.frame(i))[0].prob)
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        small = tf.image.resize(np.stack(reads)[..., None], (h, w)).numpy()[..., 0]
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, prior=np.round(np.clip(small, 0, 1) * 255).astype(np.uint8))
        tmp.replace(path)
    return paths


def deform_mask(mask, rng):
    """MaskTrack's training prior (``plus.mask_prior``): a mask (h, w) in [0, 1] randomly deformed as a
    tracker's previous output can be wrong: empty (lost, 1 in 10), shifted and scaled about its centre
    (by ~3 % / 5 % of its size), dilated or eroded (up to 2 pixels), a part dropped (2 in 10), a false
    blob added elsewhere (2 in 10), its edge softened. On 300 random DAVIS train frames (at half size)
    the previous frame's mask so deformed overlaps the current one at IoU 0.49 mean / 0.57 median (0.74
    undeformed), about what a tracker's previous output gives; a first, stronger setting (IoU 0.43
    with 10 % shift, 6-pixel erosion) was dropped after one look at its training log, before any
    evaluation. Returns float32 (h, w)."""
    import cv2

    h, w = mask.shape
    m = (mask > 0.5).astype(np.float32)
    ys, xs = np.nonzero(m)
    if not len(ys) or rng.random() < 0.1:
        return np.zeros((h, w), np.float32)
    cy, cx = ys.mean(), xs.mean()
    size = max(ys.max() - ys.min(), xs.max() - xs.min(), 4)
    scale = float(np.exp(rng.normal(0, 0.05)))
    ty, tx = rng.normal(0, 0.03 * size, 2)
    a = np.array([[scale, 0, (1 - scale) * cx + tx], [0, scale, (1 - scale) * cy + ty]], np.float32)
    m = cv2.warpAffine(m, a, (w, h), flags=cv2.INTER_LINEAR)
    r = int(rng.integers(-2, 3))
    if r:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * abs(r) + 1, 2 * abs(r) + 1))
        m = (cv2.dilate if r > 0 else cv2.erode)(m, kernel)
    if rng.random() < 0.2:  # a part dropped
        ph, pw = (rng.uniform(0.15, 0.35, 2) * size).astype(int) + 1
        y0, x0 = int(cy + rng.uniform(-0.5, 0.5) * size), int(cx + rng.uniform(-0.5, 0.5) * size)
        m[max(y0 - ph // 2, 0) : max(y0 + ph // 2, 0), max(x0 - pw // 2, 0) : max(x0 + pw // 2, 0)] = 0
    if rng.random() < 0.2:  # a false blob
        axes = tuple(int(v) for v in rng.uniform(0.1, 0.3, 2) * size + 1)
        centre = (int(rng.integers(w)), int(rng.integers(h)))
        cv2.ellipse(m, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
    return np.clip(cv2.GaussianBlur(m, (5, 5), 1.0), 0, 1).astype(np.float32)


class _Samples:
    """Random (frame, prior, ground truth) crops of frames t >= 1, augmented; a numpy generator. The
    prior is the read, and with ``plus.mask_prior`` the previous frame's ground truth deformed
    (:func:`deform_mask`) as a second channel."""

    def __init__(self, cfg, sequences, reads: dict, seed: int):
        self.cfg, self.seqs, self.rng = cfg, list(sequences), np.random.default_rng(seed)
        self.priors = {s.name: np.load(reads[s.name])["prior"] for s in self.seqs}

    def one(self):
        p = self.cfg.plus
        seq = self.seqs[self.rng.integers(len(self.seqs))]
        t = int(self.rng.integers(1, len(seq)))
        prior = self.priors[seq.name][t].astype(np.float32) / 255.0
        h, w = prior.shape
        frame = tf.image.resize(seq.frame(t)[None].astype(np.float32), (h, w), antialias=True).numpy()[0]

        def small(mask):
            return tf.image.resize(mask[None, ..., None].astype(np.float32), (h, w), method="area").numpy()[0, ..., 0]

        gt = small(seq.mask(t))
        prior = prior[..., None]
        if p.mask_prior != "none":
            prior = np.concatenate([prior, deform_mask(small(seq.mask(t - 1)), self.rng)[..., None]], axis=-1)
        c = min(p.crop, h // 8 * 8, w // 8 * 8)
        ys, xs = np.nonzero(gt > 0.5)
        around = len(ys) and self.rng.random() < 0.8  # mostly around the object, sometimes anywhere
        if around:
            k = self.rng.integers(len(ys))
            anchor = (ys[k], xs[k])
        if p.affine > 0:  # (no draw without it: the samples of plus.affine 0 are those of the code before it)
            centre = anchor if around else (self.rng.integers(h), self.rng.integers(w))
            frame, prior, gt = affine_warp((frame, prior, gt), centre, p.affine, self.rng)
        if around:
            y0, x0 = anchor[0] - self.rng.integers(c), anchor[1] - self.rng.integers(c)
        else:
            y0, x0 = self.rng.integers(h - c + 1), self.rng.integers(w - c + 1)
        y0, x0 = int(np.clip(y0, 0, h - c)), int(np.clip(x0, 0, w - c))
        crop = (slice(y0, y0 + c), slice(x0, x0 + c))
        frame, prior, gt = frame[crop], prior[crop], gt[crop]
        if p.flip and self.rng.random() < 0.5:
            frame, prior, gt = frame[:, ::-1], prior[:, ::-1], gt[:, ::-1]
        frame = colour_jitter(frame, p.jitter, self.rng)
        return (
            np.ascontiguousarray(frame, np.float32),
            np.ascontiguousarray(prior, np.float32),
            np.ascontiguousarray(gt[..., None], np.float32),
        )


class PlusTask(Task):
    """pixtrack+'s decoder on random crops of the training videos' frames and reads (``plus.*``)."""

    name = "plus"

    def __init__(self, cfg, sequences, reads: dict, init_weights=None):
        super().__init__(cfg, cfg.plus.steps, cfg.plus.lr, init_weights)
        self.sequences, self.reads = list(sequences), reads

    def build_model(self, dtype=None):
        return PlusModel.from_cfg(self.cfg, dtype=dtype or self.dtype_policy)

    def lr_at(self, step: int) -> float:
        """``plus.lr``, or with ``plus.lr_schedule: cosine`` (not the paper: selection/RULE.md round 19) the
        cosine decay lr * (1 + cos(pi * step / steps)) / 2, from lr at step 0 to 0 at the last."""
        if self.cfg.plus.lr_schedule == "cosine":
            return self.lr * 0.5 * (1.0 + math.cos(math.pi * min(step, self.steps) / self.steps))
        return self.lr

    def dataset(self, start_sample, global_batch):
        samples = _Samples(self.cfg, self.sequences, self.reads, self.cfg.seed + 7919 * start_sample)

        def gen():
            while True:
                yield samples.one()

        c = self.cfg.plus.crop
        k = 1 if self.cfg.plus.mask_prior == "none" else 2
        spec = (
            tf.TensorSpec((None, None, 3), tf.float32),
            tf.TensorSpec((None, None, k), tf.float32),
            tf.TensorSpec((None, None, 1), tf.float32),
        )
        ds = tf.data.Dataset.from_generator(gen, output_signature=spec)
        ds = ds.map(lambda f, p, g: {"frame": f, "prior": p, "gt": g})
        return ds.padded_batch(global_batch, {"frame": (c, c, 3), "prior": (c, c, k), "gt": (c, c, 1)}).prefetch(2)

    def per_example_loss(self, model, batch, training=True):
        logits = model(batch["frame"], batch["prior"], training=training)
        size = tf.shape(batch["gt"])[1:3]
        logits = tf.image.resize(logits, size)  # bilinear, to the resized frame's pixels
        bce = tf.nn.sigmoid_cross_entropy_with_logits(labels=batch["gt"], logits=logits)
        if self.cfg.plus.boundary_weight > 0:  # not the paper's: selection/RULE.md round 20
            bce *= boundary_weights(batch["gt"], self.cfg.plus.boundary_band, self.cfg.plus.boundary_weight)
        loss = tf.reduce_mean(bce, axis=[1, 2, 3])
        if self.cfg.plus.loss == "bce+iou":  # not the paper's: selection/RULE.md round 11
            loss += soft_jaccard_loss(logits, batch["gt"])
        return loss, {"logits": logits}

    def scalars(self, batch, extras) -> dict:
        gt = batch["gt"] > 0.5

        def iou(pred):
            inter = tf.reduce_sum(tf.cast(pred & gt, tf.float32))
            return inter / tf.maximum(tf.reduce_sum(tf.cast(pred | gt, tf.float32)), 1.0)

        out = {"iou_refined": iou(extras["logits"] > 0), "iou_read": iou(batch["prior"][..., :1] >= 0.5)}
        if self.cfg.plus.mask_prior != "none":
            out["iou_mask_prior"] = iou(batch["prior"][..., 1:] >= 0.5)
        return out

    def images(self, batch, extras) -> dict:
        return {
            "frame": batch["frame"][:1] / 255.0,
            "read": batch["prior"][:1, ..., :1],
            "refined": tf.sigmoid(extras["logits"][:1]),
            "truth": batch["gt"][:1],
        }
