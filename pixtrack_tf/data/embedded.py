"""The embedded benchmark: seeded, deterministic VOT-like sequences generated on first use.

Used by ``reproduce`` when no dataset is given, and by the tests. Each sequence shows one
textured object moving over a cluttered, textured background, with a ground-truth mask per frame.
Attributes, in the spirit of VOT's (camera motion, illumination change, motion change, occlusion,
size change): scale change, non-rigid deformation, partial occlusion by a passing occluder,
look-alike distractors (same texture family, similar shape), motion blur, illumination change
(global gain and a moving spatial gradient), small objects, camera pan, several resolutions and
aspect ratios. Every sequence has at least two attributes; attribute sets cycle with the index so
that every attribute appears in every group of 8 sequences.

This is NOT VOT2016: numbers measured on it are not comparable with the paper's tables.

Files are written to a cache folder (``$PIXTRACK_CACHE`` or ``~/.cache/pixtrack_tf``), never
committed: ``<cache>/embedded-v1-s<seed>-n<N>-f<F>/<name>/{frames,masks}/%05d.{jpg,png}``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from pixtrack_tf.data.readers import read_folder
from pixtrack_tf.data.sequence import Sequence

VERSION = "v1"
SIZES = [(240, 320), (216, 384), (240, 360), (256, 256), (320, 240), (180, 320), (288, 352), (224, 400)]
ATTRIBUTES = ("scale", "deform", "occlusion", "distractor", "blur", "illumination", "small", "camera")


def cache_root() -> Path:
    return Path(os.environ.get("PIXTRACK_CACHE", Path.home() / ".cache" / "pixtrack_tf"))


def _smooth_noise(rng, h, w, cells, channels=3):
    """Smooth colour noise: a coarse random grid upsampled bicubically."""
    grid = rng.uniform(0, 255, (max(2, cells), max(2, int(cells * w / h)), channels)).astype(np.uint8)
    img = Image.fromarray(grid.squeeze() if channels == 1 else grid).resize((w, h), Image.BICUBIC)
    return np.asarray(img, np.float32).reshape(h, w, channels)


def _texture(rng, h, w, base_rgb, contrast):
    """Object / background texture: tinted multi-scale noise plus stripes or spots."""
    t = 0.6 * _smooth_noise(rng, h, w, rng.integers(3, 8)) + 0.4 * _smooth_noise(rng, h, w, rng.integers(10, 30))
    t = (t - t.mean()) * contrast + np.asarray(base_rgb, np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    kind = rng.integers(3)
    if kind == 0:  # stripes
        ang, period = rng.uniform(0, np.pi), rng.uniform(4, 14)
        s = np.sin((xx * np.cos(ang) + yy * np.sin(ang)) * 2 * np.pi / period)
        t += (s[..., None] * rng.uniform(15, 45)) * rng.uniform(0.5, 1, 3)
    elif kind == 1:  # spots
        img = Image.new("L", (w, h), 0)
        d = ImageDraw.Draw(img)
        for _ in range(int(h * w / 120)):
            x, y, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(1, 4)
            d.ellipse([x - r, y - r, x + r, y + r], fill=255)
        t += (np.asarray(img, np.float32)[..., None] / 255.0) * rng.uniform(-60, 60, 3)
    return t


def _background(rng, h, w):
    bg = _texture(rng, h, w, rng.uniform(60, 190, 3), rng.uniform(0.5, 1.1))
    img = Image.fromarray(np.clip(bg, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(img)
    for _ in range(rng.integers(15, 40)):  # clutter
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        s = rng.uniform(4, min(h, w) / 6)
        col = tuple(int(c) for c in rng.uniform(0, 255, 3))
        if rng.random() < 0.5:
            d.ellipse([x - s, y - s * rng.uniform(0.4, 1.5), x + s, y + s], fill=col)
        else:
            d.rectangle([x - s, y - s * rng.uniform(0.3, 1.2), x + s * rng.uniform(0.5, 2), y + s], fill=col)
    return np.asarray(img, np.float32)


class _Blob:
    """A textured star-shaped object: r(phi, t) = R(t) (1 + sum_k a_k(t) cos(k phi + p_k))."""

    def __init__(self, rng, radius, frame_hw, n, texture_rgb, deform, scale_amp, speed):
        self.rng = rng
        h, w = frame_hw
        self.r0 = radius
        self.k = np.arange(2, 6)
        self.a0 = rng.uniform(0.0, 0.25, 4) / self.k
        self.phase = rng.uniform(0, 2 * np.pi, 4)
        self.deform = deform
        self.freq = rng.uniform(0.03, 0.12, 4)
        self.rot_speed = rng.uniform(-0.04, 0.04)
        self.scale = np.exp(scale_amp * np.sin(np.arange(n) * rng.uniform(0.02, 0.06) + rng.uniform(0, 6.28)))
        # trajectory: damped random acceleration with bounces inside the frame
        pos = np.empty((n, 2))
        p = np.array([rng.uniform(0.25, 0.75) * w, rng.uniform(0.25, 0.75) * h])
        v = rng.normal(0, speed, 2)
        for t in range(n):
            v = 0.95 * v + rng.normal(0, speed * 0.25, 2)
            p = p + v
            rmax = radius * self.scale[t] * 1.3
            for d, lim in ((0, w), (1, h)):
                lo, hi = min(rmax, lim / 2), max(lim - rmax, lim / 2)
                if p[d] < lo or p[d] > hi:
                    v[d] = -v[d]
                    p[d] = np.clip(p[d], lo, hi)
            pos[t] = p
        self.pos = pos
        self.vel = np.vstack([pos[1:] - pos[:-1], pos[-1:] - pos[-2:-1]])
        side = int(2 * radius * 2.2) + 4
        self.tex = _texture(rng, side, side, texture_rgb, rng.uniform(0.6, 1.2))

    def render(self, canvas, t, mask_out=None):
        """Alpha-composite frame t onto canvas (H, W, 3) in place; returns the object's alpha map."""
        h, w = canvas.shape[:2]
        r = self.r0 * self.scale[t]
        amp = self.a0 * (1 + self.deform * np.sin(self.freq * t * 2 * np.pi + self.phase))
        cx, cy = self.pos[t]
        rmax = r * (1 + amp.sum()) + 2
        x0, x1 = int(max(0, np.floor(cx - rmax))), int(min(w, np.ceil(cx + rmax)))
        y0, y1 = int(max(0, np.floor(cy - rmax))), int(min(h, np.ceil(cy + rmax)))
        alpha_full = np.zeros((h, w), np.float32)
        if x1 <= x0 or y1 <= y0:
            return alpha_full
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        dx, dy = xx + 0.5 - cx, yy + 0.5 - cy
        rho = np.hypot(dx, dy)
        phi = np.arctan2(dy, dx) + self.rot_speed * t
        edge = r * (
            1 + (amp[:, None, None] * np.cos(self.k[:, None, None] * phi[None] + self.phase[:, None, None])).sum(0)
        )
        alpha = np.clip(edge - rho + 0.5, 0, 1)
        s = self.tex.shape[0]
        ty = np.clip((dy / self.scale[t] + s / 2).astype(int), 0, s - 1)
        tx = np.clip((dx / self.scale[t] + s / 2).astype(int), 0, s - 1)
        patch = canvas[y0:y1, x0:x1]
        patch += alpha[..., None] * (self.tex[ty, tx] - patch)
        alpha_full[y0:y1, x0:x1] = alpha
        return alpha_full


def _box_blur(img, length, axis):
    """Motion blur: a centred box filter of the given length along one axis (edges replicated)."""
    pad = [(0, 0)] * img.ndim
    pad[axis] = (length // 2 + 1, length - length // 2 - 1)
    c = np.cumsum(np.pad(img, pad, mode="edge"), axis=axis)
    n = img.shape[axis]
    hi = np.take(c, np.arange(length, length + n), axis=axis)
    lo = np.take(c, np.arange(0, n), axis=axis)
    return (hi - lo) / length


def _attributes(index: int, rng) -> tuple[str, ...]:
    base = {ATTRIBUTES[index % 8], ATTRIBUTES[(index // 8 + 3 * index + 1) % 8]}
    for a in ATTRIBUTES:
        if rng.random() < 0.2:
            base.add(a)
    return tuple(a for a in ATTRIBUTES if a in base)


def generate_sequence(seed: int, index: int, out_dir, n_frames: int = 100) -> str:
    """Write one sequence into out_dir/<name>/{frames,masks}; returns its name."""
    rng = np.random.default_rng([seed, index, 7])
    attrs = _attributes(index, rng)
    h, w = SIZES[rng.integers(len(SIZES))]
    n = int(rng.integers(int(n_frames * 0.8), int(n_frames * 1.2) + 1))
    margin = int(0.15 * max(h, w)) if "camera" in attrs else 0
    bg = _background(rng, h + 2 * margin, w + 2 * margin)
    base_rgb = rng.uniform(30, 225, 3)
    radius = rng.uniform(5, 9) if "small" in attrs else rng.uniform(0.08, 0.18) * min(h, w)
    speed = rng.uniform(0.8, 2.5) * (2.5 if "blur" in attrs else 1.0)
    target = _Blob(
        rng, radius, (h, w), n, base_rgb, 0.8 if "deform" in attrs else 0.15, 0.45 if "scale" in attrs else 0.08, speed
    )
    distractors = []
    if "distractor" in attrs:
        for _ in range(rng.integers(1, 4)):
            distractors.append(
                _Blob(
                    rng,
                    radius * rng.uniform(0.8, 1.2),
                    (h, w),
                    n,
                    base_rgb + rng.normal(0, 12, 3),
                    0.3,
                    0.1,
                    rng.uniform(0.8, 2.5),
                )
            )
    occluder = None
    if "occlusion" in attrs:
        t_occ = int(rng.integers(n // 4, 3 * n // 4))
        occluder = (t_occ, _texture(rng, h, w, rng.uniform(30, 225, 3), 0.8), rng.uniform(0.6, 1.2) * radius)
    cam = np.cumsum(rng.normal(0, 0.6, (n, 2)), axis=0) if margin else np.zeros((n, 2))
    if margin:
        cam = np.clip(cam, -margin + 1, margin - 1)
    gain_amp = rng.uniform(0.25, 0.45) if "illumination" in attrs else 0.0
    gain_freq = rng.uniform(0.03, 0.1)
    seq_name = f"emb{index:03d}-" + "-".join(attrs)
    fdir, mdir = Path(out_dir) / seq_name / "frames", Path(out_dir) / seq_name / "masks"
    fdir.mkdir(parents=True, exist_ok=True)
    mdir.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for t in range(n):
        ox, oy = int(margin + cam[t, 0]), int(margin + cam[t, 1])
        canvas = bg[oy : oy + h, ox : ox + w].copy()
        for d in distractors:
            d.render(canvas, t)
        alpha = target.render(canvas, t)
        mask = alpha >= 0.5
        if occluder is not None:
            t_occ, tex, half = occluder
            # a vertical bar sweeping across the target's position around t_occ
            cx = target.pos[t_occ, 0] + (t - t_occ) * 3.0
            bar = np.abs(xx + 0.5 - cx) < half
            canvas[bar] = tex[bar]
            mask &= ~bar
        if gain_amp:
            ang = gain_freq * t * 3
            grad = (np.cos(ang) * (xx / w - 0.5) + np.sin(ang) * (yy / h - 0.5))[..., None]
            canvas *= (1 + gain_amp * np.sin(gain_freq * t * 2 * np.pi)) * (1 + 0.5 * gain_amp * grad)
        if "blur" in attrs:
            vx, vy = target.vel[t]
            length = int(min(9, np.hypot(vx, vy) * 1.5))
            if length >= 2:
                canvas = _box_blur(canvas, length, axis=1 if abs(vx) >= abs(vy) else 0)
        Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8)).save(fdir / f"{t:05d}.jpg", quality=90)
        Image.fromarray((mask * 255).astype(np.uint8)).save(mdir / f"{t:05d}.png")
    return seq_name


def _generate_one(args):
    return generate_sequence(*args)


def embedded_dir(seed: int = 0, num_sequences: int = 60, n_frames: int = 100, cache_dir=None) -> Path:
    """Generate (once) and return the folder of an embedded benchmark."""
    root = Path(cache_dir) if cache_dir is not None else cache_root()
    final = root / f"embedded-{VERSION}-s{seed}-n{num_sequences}-f{n_frames}"
    if (final / "index.json").exists():
        return final
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=final.name + ".", dir=root))
    jobs = [(seed, i, tmp, n_frames) for i in range(num_sequences)]
    workers = min(len(jobs), os.cpu_count() or 1)
    if workers > 1:
        with ProcessPoolExecutor(workers) as ex:
            names = list(ex.map(_generate_one, jobs))
    else:
        names = [_generate_one(j) for j in jobs]
    (tmp / "index.json").write_text(json.dumps({"version": VERSION, "seed": seed, "sequences": names}, indent=1))
    try:
        tmp.rename(final)
    except OSError:  # another process finished first
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def load_embedded(seed: int = 0, num_sequences: int = 60, n_frames: int = 100, cache_dir=None) -> list[Sequence]:
    """The embedded benchmark as :class:`Sequence` objects (generated on first use)."""
    d = embedded_dir(seed, num_sequences, n_frames, cache_dir)
    names = json.loads((d / "index.json").read_text())["sequences"]
    return [read_folder(d / n / "frames", d / n / "masks", name=n) for n in names]
