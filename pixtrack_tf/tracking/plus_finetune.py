"""pixtrack+'s first-frame fine-tuning (not the paper; ``plus.finetune_steps`` > 0; issue #31's element 5).

At ``init`` the decoder (the backbone stays frozen) is fine-tuned on the video's first frame as the
FCN baseline's layers are (Sec. 3.4's "we fine tune it on the first frame of testing video clips with
small learning rate and few iterations"), with the same machinery (:class:`~pixtrack_tf.tracking.
segmenters.FirstRoiTuning`: the trained weights copied, a fresh Adam, the copies used inside the
tracking graphs, nothing carried from one video to the next). Its examples must look like what the
decoder meets when tracking, a read that is not the truth: ``plus.finetune_copies`` copies of the
first frame and its masks, each warped (:func:`first_frame_copies`), each read from the first frame's
memory exactly as a tracked frame is (one backbone pass, the affinity read over the whole grid), and
the loss the decoder's training loss (mean per-pixel binary cross-entropy at the resized frame's size)
of the copies against their warped masks.
"""

from __future__ import annotations

import time

import numpy as np
import tensorflow as tf

from pixtrack_tf.models.plus import TAP_CHANNELS
from pixtrack_tf.ops.augment import affine_warp, colour_jitter
from pixtrack_tf.tracking.segmenters import FirstRoiTuning

FINETUNE_AFFINE = 0.25  # the copies' zoom (x0.78-1.28) and rotation (up to 10 degrees), as plus.affine 0.25
FINETUNE_SHIFT_CELLS = 3  # and their shift, up to this many feature cells along each axis


def first_frame_copies(frame, masks, n: int, rng, shift: float, strength: float = FINETUNE_AFFINE, jitter=0.0):
    """``n`` warped copies of a first frame (H, W, 3) uint8 and its masks (K, H, W): each a zoom and
    rotation (:func:`~pixtrack_tf.ops.augment.affine_warp`, ``strength``) about the objects' centre
    shifted by up to ``shift`` pixels, then the frame's colours jittered by ``jitter``. Returns
    ((n, H, W, 3) uint8, (n, K, H, W) float32)."""
    masks = np.asarray(masks, np.float32)
    ys, xs = np.nonzero((masks >= 0.5).any(axis=0))
    anchor = (ys.mean(), xs.mean()) if len(ys) else (frame.shape[0] / 2, frame.shape[1] / 2)
    frames, warped = [], []
    for _ in range(n):
        f, *m = affine_warp((np.asarray(frame, np.float32), *masks), anchor, strength, rng, shift)
        frames.append(np.round(colour_jitter(f, jitter, rng)).astype(np.uint8))
        warped.append(np.clip(np.stack(m), 0.0, 1.0))
    return np.stack(frames), np.stack(warped).astype(np.float32)


class PlusFineTuning:
    """The fine-tuning of a :class:`~pixtrack_tf.tracking.plus.PlusTracker`'s decoder on its first frame.

    ``run(frame, masks, memory, size)`` at ``init`` (the memory holding the first frame only); the
    tracker calls the decoder inside :meth:`scope`. The copies are drawn from the config's seed afresh
    for each video, so a video's result does not depend on the videos tracked before it. ``info``:
    the first copy's IoU before and after (``finetune_iou_before`` / ``_after``) and the seconds taken."""

    def __init__(self, tracker, cfg):
        p = cfg.plus
        self.tracker, self.seed = tracker, int(cfg.seed)
        self.n, self.jitter = int(p.finetune_copies), float(p.jitter)
        self.names = tracker.model.tap_names
        specs = [tf.TensorSpec((None, None, None, TAP_CHANNELS[n])) for n in self.names]
        specs += [tf.TensorSpec((None, None, None, 1))] * 2  # the read, the truth
        variables = tracker.model.decoder.trainable_variables
        self.info = {}
        self.tuning = FirstRoiTuning(
            variables, self._prob, specs, cfg, p.finetune_steps, p.finetune_lr, fg_weight=1.0, reduction="mean"
        )

    def _prob(self, *tensors):
        """The decoder's probabilities at the truth's size, as in training (logits resized, then sigmoid)."""
        k = len(self.names)
        taps, prior, truth = dict(zip(self.names, tensors[:k])), tensors[k], tensors[k + 1]
        logits = self.tracker.model.decoder(taps, prior)
        return tf.sigmoid(tf.image.resize(logits, tf.shape(truth)[1:3]))

    def scope(self):
        return self.tuning.scope()

    def examples(self, frame, masks, memory, size) -> list:
        """The fine-tuning's tensors: the copies' taps (one per tap name), reads and truths (each object
        of each copy one example)."""
        cell = frame.shape[0] / memory["grid"][0]
        rng = np.random.default_rng([self.seed, 12])
        frames, warped = first_frame_copies(frame, masks, self.n, rng, FINETUNE_SHIFT_CELLS * cell, jitter=self.jitter)
        taps, reads, truths = {n: [] for n in self.names}, [], []
        for f, m in zip(frames, warped):
            t, q = self.tracker._features(tf.constant(f), size)
            read = self.tracker.core.read(None, memory, feats=q)[0]  # (K, H, W)
            for n in self.names:
                taps[n].append(tf.repeat(tf.cast(t[n], tf.float32), len(m), axis=0))
            reads.append(tf.image.resize(read[..., None], size))
            truths.append(tf.image.resize(m[..., None], size, method="area"))
        return [tf.concat(taps[n], 0) for n in self.names] + [tf.concat(reads, 0), tf.concat(truths, 0)]

    def run(self, frame, masks, memory, size):
        t0 = time.perf_counter()
        self.tuning.run(*self.examples(frame, masks, memory, size))
        self.info = {**self.tuning.info, "finetune_seconds": time.perf_counter() - t0}
