"""The global model in open loop against Eq. 5: does theta say more than the previous map does?

Not in the paper. Algorithm 1 feeds the global model its own predictions, so a global model can
lose the object for two reasons: the local model's maps, or the global model itself. This check
takes the second alone: it runs the global model on **ground-truth** maps Z_{0:t-1} of each
sequence (the input of Sec. 5.1 step 2) and compares theta_t with the object of Z_t, beside the
two rules that need no training: Eq. 5's centre of Z_{t-1} and the size of Z_{t-1}'s object.

A global model worth its place predicts the next centre better than Eq. 5 (it has learned the
motion) and the next size about as well as the previous object's. The embedded model of session 8
did neither: after Sec. 5.1 step 4 its centre lay 0.058 (normalised coordinates; 2.9 % of the
frame's height) below Eq. 5's on average, a constant shift learned from the frames where step 3
had lost the object (docs/REPRODUCTION.md, Sec. 5.1).
"""

from __future__ import annotations

import numpy as np

from pixtrack_tf.data.pipelines import resize_mask
from pixtrack_tf.data.sequence import mask_box
from pixtrack_tf.evaluation.metrics import roi_measures, thresholded_iou
from pixtrack_tf.layers.transformer import mass_centre, object_theta


def open_loop(gm, cfg, sequences, max_frames: int = 40, burn_in: int | None = None) -> dict:
    """The global model on each sequence's first ``max_frames`` ground-truth maps; statistics over
    the frames t >= ``burn_in`` (default ``train.loss_from``, the frames Eq. 4 trains) whose maps
    Z_{t-1} and Z_t hold the object. Centres are in theta's normalised [-1, 1] frame coordinates,
    scales as log(theta's scale / the object square's)."""
    burn_in = cfg.train.loss_from if burn_in is None else int(burn_in)
    S, anchor = cfg.global_.map_size, float(cfg.global_.anchor_size[0])
    rows = []
    for seq in sequences:
        n = min(len(seq), max_frames)
        if n < 2:
            continue
        maps = np.stack([resize_mask(seq.mask(i), S) for i in range(n)]).astype(np.float32)[..., None]
        h, w = seq.size
        aspect = np.full((n, 1), w / h, np.float32)
        centre, found = (np.asarray(x) for x in mass_centre(maps))
        obj, valid = (np.asarray(x) for x in object_theta(maps, aspect, anchor))
        # theta_t = tau(Z_{0:t-1}) for t = 1 .. n - 1, one call over the sequence
        thetas = np.asarray(gm({"maps": maps[None, :-1], "aspect": aspect[:1]}), np.float64)[0]
        for t in range(max(burn_in, 1), n):
            if not (found[t - 1] and found[t] and valid[t - 1] and valid[t]):
                continue
            theta = thetas[t - 1]
            rows.append(
                np.concatenate(
                    [
                        theta[1:] - centre[t],  # the model's centre error
                        centre[t - 1] - centre[t],  # Eq. 5's
                        theta[1:] - centre[t - 1],  # the model's displacement from Eq. 5
                        [np.log(theta[0] / obj[t, 0]), np.log(obj[t - 1, 0] / obj[t, 0])],
                    ]
                )
            )
    if not rows:
        raise ValueError("no frame with the object in two consecutive ground-truth maps")
    r = np.asarray(rows)
    motion = -r[:, 2:4]  # the object's displacement c_t - c_{t-1}

    def corr(a, b):
        return float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else 0.0

    return {
        "frames": int(len(r)),
        "sequences": len(sequences),
        "centre_error": float(np.linalg.norm(r[:, 0:2], axis=1).mean()),
        "eq5_centre_error": float(np.linalg.norm(r[:, 2:4], axis=1).mean()),
        "displacement_mean": [float(v) for v in r[:, 4:6].mean(0)],
        "motion_mean": [float(v) for v in motion.mean(0)],
        "displacement_motion_corr": [corr(r[:, 4], motion[:, 0]), corr(r[:, 5], motion[:, 1])],
        "scale_log_bias": float(r[:, 6].mean()),
        "scale_log_error": float(np.abs(r[:, 6]).mean()),
        "previous_scale_log_error": float(np.abs(r[:, 7]).mean()),
    }


def format_report(rep: dict) -> str:
    """The check as lines a user reads."""
    dx, dy = rep["displacement_mean"]
    mx, my = rep["motion_mean"]
    cx, cy = rep["displacement_motion_corr"]
    return "\n".join(
        [
            f"Global model on ground-truth maps (open loop): {rep['frames']} frames of {rep['sequences']} sequences",
            f"  centre error (normalised frame coordinates): model {rep['centre_error']:.4f}, "
            f"Eq. 5 (previous map's centre) {rep['eq5_centre_error']:.4f}",
            f"  model's displacement from Eq. 5: mean ({dx:+.4f}, {dy:+.4f}); object's motion: mean ({mx:+.4f}, "
            f"{my:+.4f}); correlation x {cx:.2f}, y {cy:.2f}",
            f"  scale, |log(model / object)|: {rep['scale_log_error']:.3f} (bias {rep['scale_log_bias']:+.3f}); "
            f"the previous object's size: {rep['previous_scale_log_error']:.3f}",
        ]
    )


def closed_loop_tracks(tracks: dict, sequences, threshold: float = 0.4) -> dict:
    """Sec. 5.1's stored tracks in closed loop (``step3_tracks.npz`` / ``step5_tracks.npz`` of a run
    folder: Algorithm 1 over every training video with the cross-assigned step-1 local models): the
    share of the object inside the ROI (:func:`roi_measures`, as every table's ROI columns) and Eq. 3's
    IoU of the predicted map with the ground-truth map (:func:`thresholded_iou` at ``threshold``),
    means over frames 1..; the ROI side over the object's longer side (median). The training split's
    closed-loop view of a global model, without reading a test sequence."""
    by_name = {s.name: s for s in sequences}
    inside, iou, ratio = [], [], []
    for name in sorted({k.split("/")[0] for k in tracks}):
        if name not in by_name:
            raise ValueError(f"tracks of {name!r}, which is not among the given sequences")
        seq, boxes = by_name[name], np.asarray(tracks[f"{name}/boxes"], np.float64)
        pred, gt = np.asarray(tracks[f"{name}/pred"]) / 255.0, np.asarray(tracks[f"{name}/gt"]) >= 0.5
        masks = {t: seq.mask(t) for t in range(1, len(boxes))}  # each read (decoded) once
        frames = [t for t, m in masks.items() if m.any()]
        inside += roi_measures(boxes[frames], [masks[t] for t in frames])["inside"]
        iou += [thresholded_iou(pred[t], gt[t], threshold) for t in frames]
        for t in frames:
            x0, y0, x1, y1 = mask_box(masks[t])
            ratio.append((boxes[t, 2] - boxes[t, 0]) / max(x1 - x0, y1 - y0))
    if not inside:
        raise ValueError("no tracked frame with the object")
    return {
        "frames": len(inside),
        "object_inside": float(np.mean(inside)),
        "map_iou": float(np.mean(iou)),
        "roi_side_over_object": float(np.median(ratio)),
    }
