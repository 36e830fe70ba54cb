"""Figures: pixel ROC (Fig. 4 left), framewise IoU (Fig. 4 right), Fig. 7-style overlays, ROI centres over time."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from pixtrack_tf.data.draw import overlay  # noqa: E402


def plot_roc(results: dict, path, title="Pixel ROC") -> str:
    """results: method -> RocAccumulator."""
    fig, ax = plt.subplots(figsize=(4.5, 4.2))
    for name, roc in results.items():
        fpr, tpr = roc.curve()
        ax.plot(fpr, tpr, label=f"{name} (AUC {roc.auc():.3f})")
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return str(path)


def plot_iou_per_frame(curves: dict, path, title="Framewise IoU") -> str:
    """curves: method -> 1-D array of IoU at frames 1..L."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for name, c in curves.items():
        if len(c):
            ax.plot(np.arange(1, len(c) + 1), c, label=name)
    ax.set_xlabel("frame in clip")
    ax.set_ylabel("IoU")
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return str(path)


def overlay_strip(seq, meta: dict, probs, threshold=0.5, n=6, height=120) -> np.ndarray:
    """One row: n frames of a tracked clip with the predicted mask (green) and the ROI (yellow)."""
    picks = np.linspace(0, len(probs) - 1, n).round().astype(int)
    tiles = []
    for j in picks:
        i = meta["indices"][j + 1]
        frame = seq.frame(i)
        img = Image.fromarray(overlay(frame, probs[j] > threshold))
        d = ImageDraw.Draw(img)
        d.rectangle(meta["boxes"][j + 1], outline=(255, 220, 0), width=2)
        w = int(round(img.width * height / img.height))
        tiles.append(np.asarray(img.resize((w, height))))
        tiles.append(np.full((height, 3, 3), 255, np.uint8))
    return np.concatenate(tiles, axis=1)


def save_overlays(rows, path) -> str:
    """Stack strips (padded to the widest) into one PNG."""
    w = max(r.shape[1] for r in rows)
    padded = [np.pad(r, ((0, 3), (0, w - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    Image.fromarray(np.concatenate(padded, axis=0)).save(path)
    return str(path)


def plot_roi_follow(method_dirs: dict, sequences, path, length: int, n_clips=4) -> str:
    """ROI centre against the object's centre over time (x on top, y below), for the first
    ``n_clips`` clips of ``length`` frames that every method tracked: a box that follows the object
    traces the dashed line; a constant box is a flat line. method_dirs: name -> raw method folder."""
    import json
    from pathlib import Path

    from pixtrack_tf.data.sequence import mask_box

    by_name = {s.name: s for s in sequences}
    keys = None
    for d in method_dirs.values():
        found = {p.parent.relative_to(d) for p in Path(d).glob(f"*/L{length:04d}_*/frames.json")}
        keys = found if keys is None else keys & found
    keys = sorted(keys or [])[:n_clips]
    fig, axes = plt.subplots(2, max(len(keys), 1), figsize=(3.2 * max(len(keys), 1), 4.6), squeeze=False)
    for c, key in enumerate(keys):
        meta = json.loads((Path(next(iter(method_dirs.values()))) / key / "frames.json").read_text())
        seq = by_name[meta["sequence"]]
        obj = [mask_box(seq.mask(i)) for i in meta["indices"]]
        for r, (a, b) in enumerate(((0, 2), (1, 3))):
            ax = axes[r, c]
            ax.plot([np.nan if o is None else (o[a] + o[b]) / 2 for o in obj], "k--", lw=1.5, label="object")
            for name, d in method_dirs.items():
                boxes = np.asarray(json.loads((Path(d) / key / "frames.json").read_text())["boxes"])
                ax.plot((boxes[:, a] + boxes[:, b]) / 2, lw=1, label=name)
            ax.set_xlabel("frame in clip")
            ax.set_ylabel("centre x (px)" if r == 0 else "centre y (px)")
            if r == 0:
                ax.set_title(f"{meta['sequence']} {key.name}", fontsize=8)
    axes[0, 0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)
