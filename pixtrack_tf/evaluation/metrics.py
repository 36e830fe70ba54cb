"""Metrics: Eq. 3 IoU at probability thresholds, pixel ROC / AUC (Fig. 4), DAVIS J and F.

Eq. 3: IOU(t) = 1/N_t sum_i |A_G^{it} n A_P^{it}| / |A_G^{it} u A_P^{it}|, the IoU of frame t
averaged over the N_t test clips; a table entry averages it over the clip's frames. "Threshold at
0.4 / 0.7": a pixel is object when its probability exceeds the threshold. A frame where both the
ground truth and the prediction are empty scores 1 (DAVIS's convention), one empty and the other
not scores 0.

DAVIS (Perazzi et al. 2016): J = IoU; F = boundary F-measure with a tolerance of
ceil(0.008 x image diagonal) pixels; per sequence the first and last frames are left out; recall =
share of frames scoring > 0.5; decay = mean of the first quarter minus mean of the last quarter.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage


def iou(pred, gt) -> float:
    pred, gt = np.asarray(pred, bool), np.asarray(gt, bool)
    union = np.logical_or(pred, gt).sum()
    if union == 0:
        return 1.0
    return float(np.logical_and(pred, gt).sum() / union)


def thresholded_iou(prob, gt, threshold: float) -> float:
    """Eq. 3 for one frame: IoU of (prob > threshold) with the ground truth."""
    return iou(np.asarray(prob) > threshold, gt)


class RocAccumulator:
    """Pixel-level ROC over many frames, from histograms of the predicted probability (Fig. 4)."""

    def __init__(self, bins: int = 256):
        self.bins = bins
        self.pos = np.zeros(bins, np.int64)
        self.neg = np.zeros(bins, np.int64)

    def add(self, prob, gt):
        q = np.clip((np.asarray(prob, np.float32) * (self.bins - 1)).round().astype(np.int64), 0, self.bins - 1)
        gt = np.asarray(gt, bool)
        self.pos += np.bincount(q[gt], minlength=self.bins)
        self.neg += np.bincount(q[~gt], minlength=self.bins)

    def merge(self, other: RocAccumulator):
        self.pos += other.pos
        self.neg += other.neg
        return self

    def curve(self):
        """(fpr, tpr) for thresholds from high to low, starting at (0, 0) and ending at (1, 1)."""
        tp = np.concatenate([[0], np.cumsum(self.pos[::-1])])
        fp = np.concatenate([[0], np.cumsum(self.neg[::-1])])
        tpr = tp / max(tp[-1], 1)
        fpr = fp / max(fp[-1], 1)
        return fpr, tpr

    def auc(self) -> float:
        fpr, tpr = self.curve()
        return float(np.trapezoid(tpr, fpr))


def seg2bmap(seg: np.ndarray) -> np.ndarray:
    """One-pixel-wide boundary of a binary mask, as in the DAVIS toolkit: a pixel is on the
    boundary when it differs from its east, south or south-east neighbour."""
    seg = np.asarray(seg, bool)
    e = np.zeros_like(seg)
    s = np.zeros_like(seg)
    se = np.zeros_like(seg)
    e[:, :-1] = seg[:, 1:]
    s[:-1, :] = seg[1:, :]
    se[:-1, :-1] = seg[1:, 1:]
    b = (seg ^ e) | (seg ^ s) | (seg ^ se)
    b[-1, :] = seg[-1, :] ^ e[-1, :]
    b[:, -1] = seg[:, -1] ^ s[:, -1]
    b[-1, -1] = False
    return b


def _disk(r: int) -> np.ndarray:
    y, x = np.ogrid[-r : r + 1, -r : r + 1]
    return x * x + y * y <= r * r


def boundary_f(pred, gt, bound_th: float = 0.008) -> float:
    """DAVIS F: boundary precision/recall within ceil(bound_th x diagonal) pixels."""
    pred, gt = np.asarray(pred, bool), np.asarray(gt, bool)
    tol = int(math.ceil(bound_th * math.hypot(*gt.shape))) if bound_th < 1 else int(bound_th)
    fb, gb = seg2bmap(pred), seg2bmap(gt)
    n_fg, n_gt = fb.sum(), gb.sum()
    if n_fg == 0 and n_gt == 0:
        return 1.0
    if n_fg == 0 or n_gt == 0:
        return 0.0
    disk = _disk(tol)
    gt_dil = ndimage.binary_dilation(gb, structure=disk)
    fg_dil = ndimage.binary_dilation(fb, structure=disk)
    precision = (fb & gt_dil).sum() / n_fg
    recall = (gb & fg_dil).sum() / n_gt
    return 0.0 if precision + recall == 0 else float(2 * precision * recall / (precision + recall))


def davis_statistics(per_frame) -> dict:
    """mean, recall (> 0.5) and decay (first quarter minus last quarter) of per-frame scores."""
    x = np.asarray(per_frame, np.float64)
    if x.size == 0:
        return {"mean": float("nan"), "recall": float("nan"), "decay": float("nan")}
    ids = np.round(np.linspace(1, len(x), 5) + 1e-10).astype(int) - 1
    bins = [x[ids[i] : ids[i + 1] + 1] for i in range(4)]
    return {
        "mean": float(x.mean()),
        "recall": float((x > 0.5).mean()),
        "decay": float(np.mean(bins[0]) - np.mean(bins[3])),
    }


def roi_measures(boxes, gts) -> dict:
    """How well the ROI follows the object (not in the paper; a constant box shows here).

    boxes: per frame ROI (x0, y0, x1, y1); gts: the ground-truth masks of the same frames. Returns
    ``inside`` (per frame with an object: the share of its pixels inside the ROI), ``centre_error``
    (per such frame: distance between the ROI's centre and the object box's centre over the
    object's longer side) and ``motion`` (path length of the ROI centre over that of the object's
    centre across the clip; 0 for a box that never moves, None when the object does not move).
    """
    from pixtrack_tf.data.sequence import mask_box

    inside, err, roi_c, obj_c = [], [], [], []
    for b, g in zip(boxes, gts):
        g = np.asarray(g, bool)
        obj = mask_box(g)
        if obj is None:
            continue
        n = int(g.sum())
        ox0, oy0, ox1, oy1 = obj
        x0, y0, x1, y1 = (float(v) for v in b)
        r0, r1 = int(np.clip(np.ceil(y0 - 0.5), 0, g.shape[0])), int(np.clip(np.ceil(y1 - 0.5), 0, g.shape[0]))
        c0, c1 = int(np.clip(np.ceil(x0 - 0.5), 0, g.shape[1])), int(np.clip(np.ceil(x1 - 0.5), 0, g.shape[1]))
        inside.append(float(g[r0:r1, c0:c1].sum()) / n)  # pixel centres inside the box
        rc, oc = np.array([(x0 + x1) / 2, (y0 + y1) / 2]), np.array([(ox0 + ox1) / 2, (oy0 + oy1) / 2])
        err.append(float(np.linalg.norm(rc - oc) / max(ox1 - ox0, oy1 - oy0)))
        roi_c.append(rc)
        obj_c.append(oc)
    motion = None
    if len(obj_c) > 1:
        path = lambda c: float(np.linalg.norm(np.diff(np.asarray(c), axis=0), axis=1).sum())  # noqa: E731
        if path(obj_c) > 1e-6:
            motion = path(roi_c) / path(obj_c)
    return {"inside": inside, "centre_error": err, "motion": motion}
