"""Draw a batch of local-model samples to a PNG: each row one sample, the ROI crops with their
masks overlaid in green; the frame replaced by Sec. 3.3 step 4 is framed in red."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw


def overlay(image: np.ndarray, mask: np.ndarray, color=(0, 255, 0), alpha=0.45) -> np.ndarray:
    """RGB uint8 image with a boolean/probability mask tinted on top."""
    img = np.asarray(image, np.float32)
    m = np.asarray(mask, np.float32).reshape(img.shape[:2])[..., None]
    out = img * (1 - alpha * m) + np.asarray(color, np.float32) * alpha * m
    return np.clip(out, 0, 255).astype(np.uint8)


def draw_local_batch(batch: dict, path, max_frames: int = 12) -> str:
    """Save a batch from :func:`pixtrack_tf.data.pipelines.local_dataset` as a PNG grid."""
    first = np.asarray(batch["first_image"])
    fmask = np.asarray(batch["first_mask"])
    imgs, masks = np.asarray(batch["images"]), np.asarray(batch["masks"])
    replaced = np.asarray(batch["replaced"])
    b, t, s = imgs.shape[0], min(imgs.shape[1], max_frames), imgs.shape[2]
    pad = 3
    canvas = Image.new("RGB", ((t + 1) * (s + pad) + pad, b * (s + pad) + pad), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for i in range(b):
        y = pad + i * (s + pad)
        canvas.paste(Image.fromarray(overlay(first[i], fmask[i], (0, 120, 255))), (pad, y))
        for k in range(t):
            x = pad + (k + 1) * (s + pad)
            canvas.paste(Image.fromarray(overlay(imgs[i, k], masks[i, k])), (x, y))
            if replaced[i, k]:
                draw.rectangle([x - 2, y - 2, x + s + 1, y + s + 1], outline=(255, 0, 0), width=2)
    canvas.save(path)
    return str(path)
