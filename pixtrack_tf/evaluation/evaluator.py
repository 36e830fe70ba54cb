"""The evaluator: reads raw results (see :mod:`pixtrack_tf.evaluation.protocol`) and the ground
truth, computes Eq. 3 IoU per frame at each threshold, pixel ROC, and DAVIS J / F, and builds the
tables. Metrics can be recomputed here without tracking again::

    pixtrack evaluate --raw DIR/raw --dataset embedded [--root PATH]
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from pixtrack_tf.evaluation.metrics import (
    RocAccumulator,
    boundary_f,
    davis_statistics,
    iou,
    roi_measures,
    thresholded_iou,
)
from pixtrack_tf.evaluation.protocol import read_clip


def evaluate_method(method_dir: Path, sequences, thresholds, davis=False) -> dict:
    """Per-clip records of one method: ``{"clips": [...], "roc": RocAccumulator}``."""
    by_name = {s.name: s for s in sequences}
    roc = RocAccumulator()
    clips = []
    for d in sorted(p.parent for p in Path(method_dir).glob("*/*/frames.json")):
        meta, probs = read_clip(d)
        seq = by_name.get(meta["sequence"])
        if seq is None:
            continue
        gts = [seq.mask(i) for i in meta["indices"][1:]]
        rec = {
            "sequence": meta["sequence"],
            "start": meta["start"],
            "length": meta["length"],
            "iou": {},
            "seconds": float(np.mean(meta["seconds"][1:] or [0])),
        }
        for thr in thresholds:
            rec["iou"][thr] = [thresholded_iou(p, g, thr) for p, g in zip(probs, gts)]
        for p, g in zip(probs, gts):
            roc.add(p, g)
        rec["roi"] = roi_measures(meta["boxes"][1:], gts)
        if meta.get("init_info"):
            rec["init_info"] = meta["init_info"]
        if davis:
            # DAVIS: binary masks at 0.5, first and last frames left out (the first is not tracked)
            masks = [p > 0.5 for p in probs][:-1]
            rec["J"] = [iou(m, g) for m, g in zip(masks, gts)]
            rec["F"] = [boundary_f(m, g) for m, g in zip(masks, gts)]
        clips.append(rec)
    return {"clips": clips, "roc": roc}


def iou_rows(method: str, result: dict, thresholds, lengths) -> list[dict]:
    """Table rows: mean over clips of the clip's mean per-frame IoU (Eq. 3), per threshold and length."""
    rows = []
    for thr in thresholds:
        for L in lengths:
            per_clip = [np.mean(c["iou"][thr]) for c in result["clips"] if c["length"] == L and c["iou"][thr]]
            if per_clip:
                rows.append(
                    {
                        "method": method,
                        "threshold": thr,
                        "length": int(L),
                        "iou": float(np.mean(per_clip)),
                        "clips": len(per_clip),
                        "source": "ours",
                    }
                )
    return rows


def roi_row(method: str, result: dict) -> dict:
    """ROI-follows-the-object summary of one method over all its clips (see :func:`roi_measures`):
    mean share of the object inside the ROI, share of frames with at least 0.9 of it inside, median
    centre error, mean ROI/object motion ratio; and the FCN's first-frame IoU before/after its
    fine-tuning when recorded."""
    inside = [v for c in result["clips"] for v in c["roi"]["inside"]]
    err = [v for c in result["clips"] for v in c["roi"]["centre_error"]]
    motion = [c["roi"]["motion"] for c in result["clips"] if c["roi"]["motion"] is not None]
    row = {
        "method": method,
        "object_inside_mean": float(np.mean(inside)) if inside else float("nan"),
        "frames_inside_0.9": float(np.mean(np.asarray(inside) >= 0.9)) if inside else float("nan"),
        "centre_error_median": float(np.median(err)) if err else float("nan"),
        "motion_ratio_mean": float(np.mean(motion)) if motion else float("nan"),
        "frames": len(inside),
    }
    ft = [c["init_info"] for c in result["clips"] if "finetune_iou_before" in c.get("init_info", {})]
    if ft:
        row["finetune_iou_before"] = float(np.mean([f["finetune_iou_before"] for f in ft]))
        row["finetune_iou_after"] = float(np.mean([f["finetune_iou_after"] for f in ft]))
    return row


def iou_per_frame(result: dict, length: int, threshold: float) -> np.ndarray:
    """Framewise IoU curve (Fig. 4, right): Eq. 3's IOU(t) averaged over the clips of one length."""
    curves = [c["iou"][threshold] for c in result["clips"] if c["length"] == length]
    return np.mean(np.asarray(curves), axis=0) if curves else np.zeros(0)


def davis_rows(method: str, result: dict) -> dict:
    """DAVIS J and F statistics averaged over sequences."""
    per_seq = defaultdict(dict)
    for c in result["clips"]:
        per_seq[c["sequence"]]["J"] = davis_statistics(c["J"])
        per_seq[c["sequence"]]["F"] = davis_statistics(c["F"])
    out = {"method": method}
    for m in ("J", "F"):
        for k in ("mean", "recall", "decay"):
            out[f"{m}_{k}"] = float(np.mean([v[m][k] for v in per_seq.values()])) if per_seq else float("nan")
    out["per_sequence"] = {s: {m: v[m]["mean"] for m in ("J", "F")} for s, v in per_seq.items()}
    return out
