"""Random warps and colour changes of frames and masks (NumPy / OpenCV): pixtrack+'s training crops
(:mod:`pixtrack_tf.training.plus`) and the copies of a first frame its decoder is fine-tuned on
(:mod:`pixtrack_tf.tracking.plus_finetune`) draw them alike."""

from __future__ import annotations

import numpy as np


def affine_warp(arrays, anchor, strength: float, rng, shift: float = 0.0):
    """The same random warp of each (h, w[, C]) array (bilinear, edges replicated): a zoom by exp(u),
    u uniform in [-strength, strength], and a rotation of at most 40 x strength degrees, about
    ``anchor`` (y, x), which stays where it is -- or, with ``shift`` > 0, moves by up to ``shift``
    pixels along each axis (uniform; drawn only then, so a warp without it repeats the draws before it)."""
    import cv2

    zoom = float(np.exp(rng.uniform(-strength, strength)))
    angle = float(rng.uniform(-40 * strength, 40 * strength))
    m = cv2.getRotationMatrix2D((float(anchor[1]), float(anchor[0])), angle, zoom)
    if shift > 0:
        m[1, 2] += rng.uniform(-shift, shift)
        m[0, 2] += rng.uniform(-shift, shift)
    out = []
    for a in arrays:
        h, w = a.shape[:2]
        warped = cv2.warpAffine(a, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        out.append(warped.reshape(a.shape))
    return out


def colour_jitter(frame, strength: float, rng):
    """A frame (h, w, 3) in [0, 255] with random brightness (gain and bias) and saturation changes of
    relative size up to ``strength`` (float32; nothing drawn with strength 0)."""
    if strength <= 0:
        return np.asarray(frame, np.float32)
    gain, bias = 1.0 + rng.uniform(-strength, strength), rng.uniform(-strength, strength) * 255
    mean = frame.mean(axis=-1, keepdims=True)
    sat = 1.0 + rng.uniform(-strength, strength)
    return np.clip((mean + (frame - mean) * sat) * gain + bias, 0, 255).astype(np.float32)
