"""Dataset readers: DAVIS 2016, VOT2016 (+ Vojir & Matas masks), plain folders and video files, each
giving :class:`~pixtrack_tf.data.sequence.Sequence` objects (paths, decoded lazily)."""

from __future__ import annotations

import re
from collections.abc import Sequence as Seq
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from pixtrack_tf.data.sequence import IMAGE_EXTS, DataError, Sequence, list_images


# -- DAVIS 2016 ------------------------------------------------------------------------------------
def read_davis(
    root, split: str | None = None, names: Seq[str] | None = None, resolution: str = "480p"
) -> list[Sequence]:
    """DAVIS 2016: ``JPEGImages/480p/<seq>/00000.jpg``, ``Annotations/480p/<seq>/00000.png``,
    ``ImageSets/480p/{train,val}.txt``. ``split`` picks the sequences listed in that file."""
    root = Path(root)
    img_root, ann_root = root / "JPEGImages" / resolution, root / "Annotations" / resolution
    if not img_root.is_dir():
        raise DataError(f"{root}: not a DAVIS root (no JPEGImages/{resolution} folder)")
    if not ann_root.is_dir():
        raise DataError(f"{root}: not a DAVIS root (no Annotations/{resolution} folder)")
    if split is not None:
        listing = root / "ImageSets" / resolution / f"{split}.txt"
        if not listing.exists():
            raise DataError(f"{listing}: split file is missing")
        seen = []
        for line in listing.read_text().splitlines():
            if not line.strip():
                continue
            name = line.split()[0].strip("/").split("/")[-2]
            if name not in seen:
                seen.append(name)
        chosen = seen
    else:
        chosen = sorted(p.name for p in img_root.iterdir() if p.is_dir())
    if names is not None:
        missing = sorted(set(names) - set(chosen))
        if missing:
            raise DataError(f"{root}: no sequence(s) {', '.join(missing)}" + (f" in split {split}" if split else ""))
        chosen = [n for n in chosen if n in set(names)]
    out = []
    for name in chosen:
        frames = list_images(img_root / name) if (img_root / name).is_dir() else []
        if not frames:
            raise DataError(f"{img_root / name}: no frames")
        masks = [ann_root / name / (f.stem + ".png") for f in frames]
        for m in masks:
            if not m.exists():
                raise DataError(f"{m}: mask file is missing (frame {frames[masks.index(m)].name})")
        out.append(Sequence(name, frames, masks))
    return out


# -- VOT2016 with the Vojir & Matas masks -----------------------------------------------------------
def _polygon_mask(line: str, size: tuple[int, int], where: str) -> np.ndarray:
    try:
        v = [float(t) for t in line.replace(";", ",").split(",") if t.strip()]
    except ValueError:
        raise DataError(f"{where}: not a list of numbers: {line!r}") from None
    h, w = size
    img = Image.new("L", (w, h), 0)
    if len(v) == 4:  # x, y, w, h rectangle
        x, y, bw, bh = v
        v = [x, y, x + bw, y, x + bw, y + bh, x, y + bh]
    if len(v) < 6 or len(v) % 2:
        raise DataError(f"{where}: expected 4 or an even number >= 6 of values, got {len(v)}")
    ImageDraw.Draw(img).polygon([(v[i], v[i + 1]) for i in range(0, len(v), 2)], fill=1)
    return np.asarray(img) > 0


def read_vot(root, names: Seq[str] | None = None, masks_root=None) -> list[Sequence]:
    """VOT2016: ``<root>/list.txt``, ``<root>/<seq>/00000001.jpg``, ``<seq>/groundtruth.txt``.

    Pixel masks (Vojir & Matas 2017): one 0/255 PNG per frame named ``%08d.png`` in
    ``<seq>/masks/`` or ``<masks_root>/<seq>/``. Their tool numbers masks from 0 while frames start
    at 1: masks ``0..N-1`` for N frames map to frames ``1..N``; masks ``1..N`` map one to one; any
    other numbering is refused. Without mask files, masks are rasterised from the polygons.
    """
    root = Path(root)
    listing = root / "list.txt"
    if not listing.exists():
        raise DataError(f"{root}: not a VOT root (no list.txt)")
    seq_names = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
    if names is not None:
        missing = sorted(set(names) - set(seq_names))
        if missing:
            raise DataError(f"{listing}: no sequence(s) {', '.join(missing)}")
        seq_names = [n for n in seq_names if n in set(names)]
    out = []
    for name in seq_names:
        d = root / name
        frames = [p for p in list_images(d) if re.fullmatch(r"\d{8}", p.stem)] if d.is_dir() else []
        if not frames:
            raise DataError(f"{d}: no frames named like 00000001.jpg")
        mdir = (Path(masks_root) / name) if masks_root is not None else d / "masks"
        if mdir.is_dir() and list_images(mdir):
            mfiles = list_images(mdir)
            idx = [int(p.stem) for p in mfiles]
            if idx == list(range(len(frames))):
                offset = 1  # the tool wrote masks from 0
            elif idx == list(range(1, len(frames) + 1)):
                offset = 0
            else:
                raise DataError(
                    f"{mdir}: {len(mfiles)} masks numbered {idx[0]}..{idx[-1]} do not match {len(frames)} frames "
                    f"numbered 1..{len(frames)}"
                )
            by_index = {int(p.stem) + offset: p for p in mfiles}
            masks = [by_index[int(f.stem)] for f in frames]
            out.append(Sequence(name, frames, masks))
            continue
        gt = d / "groundtruth.txt"
        if not gt.exists():
            raise DataError(f"{d}: neither mask files in {mdir} nor groundtruth.txt")
        lines = [line for line in gt.read_text().splitlines() if line.strip()]
        if len(lines) != len(frames):
            raise DataError(f"{gt}: {len(lines)} lines for {len(frames)} frames")
        seq = Sequence(name, frames, None)
        seq.mask_fn = (lambda s, ls, g: lambda i: _polygon_mask(ls[i], s.size, f"{g} line {i + 1}"))(seq, lines, gt)
        out.append(seq)
    return out


# -- plain folders and videos -----------------------------------------------------------------------
def read_folder(frames_dir, masks_dir=None, name: str | None = None) -> Sequence:
    """A folder of frames (sorted naturally) and an optional folder of masks matched by file stem."""
    frames_dir = Path(frames_dir)
    frames = list_images(frames_dir)
    if not frames:
        raise DataError(f"{frames_dir}: no images ({', '.join(IMAGE_EXTS)})")
    masks = None
    if masks_dir is not None:
        masks_dir = Path(masks_dir)
        by_stem = {p.stem: p for p in list_images(masks_dir)}
        if not by_stem:
            raise DataError(f"{masks_dir}: no mask images")
        masks = [by_stem.get(f.stem) for f in frames]
        if masks[0] is None:
            raise DataError(
                f"{masks_dir}: no mask for the first frame {frames[0].name} (expected {frames[0].stem}.png)"
            )
    return Sequence(name or frames_dir.name, frames, masks)


def read_video(path, name: str | None = None, max_frames: int | None = None) -> Sequence:
    """A video file (mp4, avi, ...) through imageio's ffmpeg plugin. Frames are decoded on first
    access and kept, since video files cannot be read at random cheaply."""
    import imageio.v3 as iio

    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: video file is missing")
    frames: list[np.ndarray] = []
    try:
        for i, fr in enumerate(iio.imiter(path)):
            if max_frames is not None and i >= max_frames:
                break
            frames.append(np.ascontiguousarray(np.asarray(fr)[..., :3]))
    except Exception as e:  # noqa: BLE001 - imageio raises many kinds
        if not frames:
            raise DataError(f"{path}: cannot decode video ({type(e).__name__}: {e})") from None
    if not frames:
        raise DataError(f"{path}: the video has no frames")
    seq = Sequence(name or path.stem, [f"{path}#{i}" for i in range(len(frames))])
    seq.frame_fn = frames.__getitem__
    return seq
