"""Figures: pixel ROC (Fig. 4 left), framewise IoU (Fig. 4 right) and Fig. 7-style overlays."""
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
