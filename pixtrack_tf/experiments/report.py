"""The Markdown of ``reproduce``'s tables: our numbers beside the paper's (Tables 2 and 3), the
ROI-follows-the-object table and the DAVIS measures."""

from __future__ import annotations

import json
from pathlib import Path

from pixtrack_tf.experiments import paper

THRESHOLDS = {2: (0.4,), 3: (0.4, 0.7)}  # IoU thresholds of Table 2 and Table 3


def format_davis(davis_rows, published: bool) -> str:
    lines = [
        "## DAVIS measures (whole sequences, threshold 0.5, first and last frames left out)",
        "",
        "method | J mean | J recall | J decay | F mean | F recall | F decay",
        "---|---|---|---|---|---|---",
    ]
    for r in davis_rows:
        lines.append(
            f"{r['method']} (ours) | "
            + " | ".join(f"{r[f'{m}_{k}']:.3f}" for m in "JF" for k in ("mean", "recall", "decay"))
        )
    if published:
        for name, j in paper.DAVIS2016_VAL_J.items():
            lines.append(f"{name} (published, full val set) | {j:.3f} | - | - | - | - | -")
    lines += [
        "",
        f"Per sequence J mean ({davis_rows[0]['method']}): "
        + ", ".join(f"{s} {v['J']:.3f}" for s, v in davis_rows[0]["per_sequence"].items()),
        "",
    ]
    return "\n".join(lines)


def format_roi(roi_rows) -> str:
    """The ROI-follows-the-object table (not in the paper)."""
    lines = [
        "## Does the ROI follow the object? (not in the paper)",
        "",
        "Share of the object's pixels inside the ROI (mean over frames; share of frames with >= 0.9 inside), "
        "the ROI centre's distance to the object's centre over the object's longer side (median), and the "
        "ROI centre's path length over the object's (1 = moves as much as the object; 0 = a constant box).",
        "",
        "method | object inside | frames >= 0.9 inside | centre error | ROI / object motion | frames",
        "---|---|---|---|---|---",
    ]
    for r in roi_rows:
        lines.append(
            f"{r['method']} | {r['object_inside_mean']:.3f} | {r['frames_inside_0.9']:.3f} | "
            f"{r['centre_error_median']:.3f} | {r['motion_ratio_mean']:.3f} | {r['frames']}"
        )
    ft = [r for r in roi_rows if "finetune_iou_before" in r]
    if ft:
        lines += [
            "",
            "First-frame fine-tuning (the FCN's, Sec. 3.4; the local model's with track.local_finetune_steps), "
            "IoU (p > 0.5) on the first ROI before -> after: "
            + ", ".join(f"{r['method']} {r['finetune_iou_before']:.3f} -> {r['finetune_iou_after']:.3f}" for r in ft),
        ]
    return "\n".join(lines + [""])


def format_markdown(table, rows, paper_rows, auc, desc, prov, cfg_name, wall, lengths, figures, names) -> str:
    lines = [f"# Table {table} — reproduced", ""]
    if desc.get("dataset") == "embedded":
        lines += [
            "**Data: the embedded synthetic benchmark, NOT VOT2016.** Our numbers are not "
            "comparable with the paper's; they are shown side by side only to read the trends.",
            "",
        ]
    lines += [
        f"- data: `{json.dumps(desc)}`",
        f"- config: `{cfg_name}`, seed {prov['seed']}, commit `{prov['commit']}`",
        f"- machine: {prov['machine']['cpu']} ({prov['machine']['cpu_count']} cores), wall time {wall / 60:.1f} min",
        f"- command: `{prov['command']}`",
        f"- paper: {paper.SOURCE}",
        "",
    ]
    for thr in THRESHOLDS[table]:
        lines += [
            f"Ours — IoU at threshold {thr}, test length | " + " | ".join(str(L) for L in lengths),
            "|".join(["---"] * (len(lengths) + 1)),
        ]
        for n in names:
            ours = {r["length"]: r for r in rows if r["method"] == n and r["threshold"] == thr}
            lines.append(
                f"{n} | "
                + " | ".join(f"{ours[L]['iou']:.4f} ({ours[L]['clips']})" if L in ours else "-" for L in lengths)
            )
        lines += [
            "",
            f"Paper (VOT2016) — IoU at threshold {thr}, test length | " + " | ".join(str(L) for L in paper.LENGTHS),
            "|".join(["---"] * (len(paper.LENGTHS) + 1)),
        ]
        for n in names:
            theirs = {r["length"]: r["iou"] for r in paper_rows if r["method"] == n and r["threshold"] == thr}
            if theirs:
                lines.append(f"{n} | " + " | ".join(f"{theirs[L]:.4f}" for L in paper.LENGTHS))
        lines.append("")
    lines += [
        "(n) = number of test clips averaged. Rows marked (reference) "
        "need no training and are not the paper's methods: "
        "the first frame's mask copied to every frame, the mask carried from frame to frame by DIS optical flow, "
        "and labels propagated by feature affinity over the frozen VGG16 (no trained layer). "
        "A trained tracker is only worth something above them.",
        "",
    ]
    lines += ["Pixel ROC AUC (all tracked frames): " + ", ".join(f"{k} {v:.4f}" for k, v in auc.items()), ""]
    lines += ["Figures: " + ", ".join(f"[{Path(f).name}]({Path(f).name})" for f in figures), ""]
    return "\n".join(lines)
