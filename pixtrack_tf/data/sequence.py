"""The one sequence type (:class:`Sequence`), frame and mask decoding; the dataset readers are in
:mod:`pixtrack_tf.data.readers`.

Frames decode lazily: a :class:`Sequence` holds paths, not pixels. ``frame(i)`` decodes one frame
(through a small per-process cache, so that training pipelines do not decode the same JPEG over and
over); ``mask(i)`` reads one mask as a boolean array. Masks stored as {0, 1}, {0, 255}, palette or
RGB all read as binary (any non-zero value / palette index / channel is object).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

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


def frame_names(seq: Sequence) -> list[str]:
    """Per-frame output names (stems): file stems, or 00000.. for video frames."""
    if seq.frame_fn is not None:
        return [f"{i:05d}" for i in range(len(seq))]
    return [Path(str(p)).stem for p in seq.frames]
