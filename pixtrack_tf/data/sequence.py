"""One sequence type and readers for DAVIS 2016, VOT2016 (+ Vojir & Matas masks), plain folders
and video files.

Frames decode lazily: a :class:`Sequence` holds paths, not pixels. ``frame(i)`` decodes one frame
(through a small per-process cache, so that training pipelines do not decode the same JPEG over and
over); ``mask(i)`` reads one mask as a boolean array. Masks stored as {0, 1}, {0, 255}, palette or
RGB all read as binary (any non-zero value / palette index / channel is object).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from collections.abc import Sequence as Seq
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".gif")


class DataError(ValueError):
    """Input data that cannot be used; the message names the file and what is wrong."""


def _natural_key(p: Path):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)]


def list_images(folder: Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder")
    return sorted(
        (p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTS and not p.name.startswith(".")), key=_natural_key
    )


@functools.lru_cache(maxsize=3072)
def _decode_rgb(path: str) -> np.ndarray:
    return decode_rgb(path)


def decode_rgb(path) -> np.ndarray:
    """(H, W, 3) uint8 RGB of an image file, uncached (for streaming); DataError naming the file."""
    try:
        with Image.open(path) as im:
            im.load()
            arr = np.asarray(im.convert("RGB"))
    except FileNotFoundError:
        raise DataError(f"{path}: frame file is missing") from None
    except Exception as e:  # noqa: BLE001 - PIL raises many kinds on damaged files
        raise DataError(f"{path}: cannot decode image ({e})") from None
    arr.setflags(write=False)
    return arr


def read_frame(path) -> np.ndarray:
    """(H, W, 3) uint8 RGB; a clear :class:`DataError` for a missing or corrupt file."""
    return _decode_rgb(str(path))


def mask_to_binary(arr: np.ndarray) -> np.ndarray:
    """{0,1}, {0,255}, palette indices or RGB -> bool (H, W)."""
    arr = np.asarray(arr)
    if arr.ndim == 3:
        arr = arr[..., :3].max(axis=-1) if arr.shape[-1] >= 3 else arr[..., 0]
    return arr > 0


def read_object_masks(path, objects=None, warn=None) -> dict:
    """{object id: (H, W) bool} of a mask file.

    A palette (indexed) PNG holds one object per index, DAVIS 2017 / YouTube-VOS style (index k =
    object k, 0 = background): every index present, or those in ``objects``. Any other mask is one
    object (id 1): binary {0, 1} or {0, 255} (8 or 16 bit) and RGB as :func:`read_mask` reads them; a
    grey (soft) mask is thresholded at half its range, and ``warn`` (a callable taking a message) is
    told so; RGBA reads the alpha channel when it is not constant, else the colour.
    """
    try:
        with Image.open(path) as im:
            im.load()
            mode = im.mode
            arr = np.asarray(im)
    except FileNotFoundError:
        raise DataError(f"{path}: mask file is missing") from None
    except Exception as e:  # noqa: BLE001 - PIL raises many kinds on damaged files
        raise DataError(f"{path}: cannot decode mask ({e})") from None
    if mode == "P":
        ids = [int(v) for v in np.unique(arr) if v != 0]
        if objects is not None:
            missing = [k for k in objects if k not in ids]
            if missing:
                raise DataError(f"{path}: no object with index {missing} (the mask has {ids or 'none'})")
            ids = list(objects)
        if not ids:
            raise DataError(f"{path}: the mask is empty (no object pixel)")
        return {k: arr == k for k in ids}
    if objects is not None and list(objects) != [1]:
        raise DataError(f"{path}: --objects needs a palette (indexed) PNG; this mask ({mode}) holds one object")
    if mode in ("RGBA", "LA") and arr[..., -1].min() != arr[..., -1].max():
        arr = arr[..., -1]
    elif arr.ndim == 3:
        arr = arr[..., :3].max(axis=-1) if arr.shape[-1] >= 3 else arr[..., 0]
    values = np.unique(arr)
    if values.size > 2 or (values.size == 2 and values[0] != 0):
        top = 65535 if arr.dtype.itemsize > 1 or values.max() > 255 else 255
        threshold = (top + 1) // 2
        if warn is not None:
            warn(f"{path}: not a binary mask ({values.size} grey levels); object = pixels >= {threshold} of {top}")
        return {1: arr >= threshold}
    return {1: arr > 0}


def read_mask(path) -> np.ndarray:
    """(H, W) bool. Any non-zero value is object: {0,1}, {0,255}, palette and RGB masks all work."""
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode == "P":  # palette: index 0 is background
                arr = np.asarray(im)
            elif im.mode in ("RGBA", "LA"):
                arr = np.asarray(im.convert("RGB"))
            else:
                arr = np.asarray(im)
    except FileNotFoundError:
        raise DataError(f"{path}: mask file is missing") from None
    except Exception as e:  # noqa: BLE001 - PIL raises many kinds on damaged files
        raise DataError(f"{path}: cannot decode mask ({e})") from None
    return mask_to_binary(arr)


def image_size(path) -> tuple[int, int]:
    """(H, W) from the file header, without decoding."""
    try:
        with Image.open(path) as im:
            w, h = im.size
    except FileNotFoundError:
        raise DataError(f"{path}: file is missing") from None
    except Exception as e:  # noqa: BLE001 - PIL raises many kinds on damaged files
        raise DataError(f"{path}: cannot read image ({e})") from None
    return h, w


@dataclass
class Sequence:
    """A video with (optionally) one object mask per frame.

    ``frames``: frame file paths in order. ``masks``: mask paths, one per frame (``None`` where a
    frame has none), or ``None`` for a sequence without masks. ``mask_fn`` can produce masks instead
    of files (VOT polygons). ``size`` (H, W) is read from the first frame's header when needed.
    """

    name: str
    frames: list = field(repr=False)
    masks: list | None = field(default=None, repr=False)
    mask_fn: Callable[[int], np.ndarray] | None = field(default=None, repr=False)
    _size: tuple[int, int] | None = field(default=None, repr=False)
    frame_fn: Callable[[int], np.ndarray] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def size(self) -> tuple[int, int]:
        if self._size is None:
            self._size = image_size(self.frames[0]) if self.frame_fn is None else self.frame(0).shape[:2]
        return self._size

    @property
    def has_masks(self) -> bool:
        return self.masks is not None or self.mask_fn is not None

    def frame(self, i: int) -> np.ndarray:
        if self.frame_fn is not None:
            return self.frame_fn(i)
        arr = read_frame(self.frames[i])
        if self._size is not None and arr.shape[:2] != self._size:
            raise DataError(
                f"{self.frames[i]}: frame is {arr.shape[1]}x{arr.shape[0]}, "
                f"the sequence's first frame {self._size[1]}x{self._size[0]}"
            )
        return arr

    def mask(self, i: int) -> np.ndarray | None:
        if self.mask_fn is not None:
            return self.mask_fn(i)
        if self.masks is None or self.masks[i] is None:
            return None
        m = read_mask(self.masks[i])
        if m.shape != tuple(self.size):
            raise DataError(
                f"{self.masks[i]}: mask is {m.shape[1]}x{m.shape[0]} but frame {Path(str(self.frames[i])).name} "
                f"is {self.size[1]}x{self.size[0]}"
            )
        return m

    def first_mask(self) -> np.ndarray:
        """The first frame's mask; a :class:`DataError` if it is missing or empty."""
        m = self.mask(0)
        src = self.masks[0] if self.masks is not None else f"{self.name} frame 0"
        if m is None:
            raise DataError(f"{self.name}: the first frame has no mask")
        if not m.any():
            raise DataError(f"{src}: the first mask is empty (no object pixel)")
        return m

    def validate(self, min_frames: int = 1) -> Sequence:
        """Cheap checks on headers only: files exist, masks match frame sizes, enough frames."""
        if len(self.frames) < min_frames:
            raise DataError(f"{self.name}: {len(self.frames)} frame(s); at least {min_frames} needed")
        if self.frame_fn is not None:
            return self
        for p in self.frames:
            if not Path(p).exists():
                raise DataError(f"{p}: frame file is missing")
        h, w = self.size
        if self.masks is not None:
            if len(self.masks) != len(self.frames):
                raise DataError(f"{self.name}: {len(self.masks)} masks for {len(self.frames)} frames")
            for fp, mp in zip(self.frames, self.masks):
                if mp is None:
                    continue
                mh, mw = image_size(mp)
                if (mh, mw) != (h, w):
                    raise DataError(f"{mp}: mask is {mw}x{mh} but frame {Path(fp).name} is {w}x{h}")
        return self

    def box(self, i: int):
        """Bounding box (x0, y0, x1, y1) of the mask at frame i, or None when empty."""
        m = self.mask(i)
        return None if m is None else mask_box(m)


def mask_box(mask: np.ndarray):
    """(x0, y0, x1, y1) pixel box of a boolean mask (x1, y1 exclusive), or None if empty."""
    ys = np.flatnonzero(mask.any(axis=1))
    if ys.size == 0:
        return None
    xs = np.flatnonzero(mask.any(axis=0))
    return float(xs[0]), float(ys[0]), float(xs[-1] + 1), float(ys[-1] + 1)


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


def frame_names(seq: Sequence) -> list[str]:
    """Per-frame output names (stems): file stems, or 00000.. for video frames."""
    if seq.frame_fn is not None:
        return [f"{i:05d}" for i in range(len(seq))]
    return [Path(str(p)).stem for p in seq.frames]
