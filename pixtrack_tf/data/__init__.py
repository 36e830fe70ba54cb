"""Data: sequence readers, the embedded benchmark, splits and tf.data pipelines.

``load_dataset(name, root, split)`` is the one entry point the commands use.
"""

from __future__ import annotations

from pixtrack_tf.data.readers import read_davis, read_folder, read_video, read_vot
from pixtrack_tf.data.sequence import (
    DataError,
    Sequence,
    mask_box,
    read_frame,
    read_mask,
)

DATASETS = ("embedded", "davis2016", "vot2016", "folder")


def load_dataset(
    name: str, root=None, split: str | None = None, seed: int = 0, num_sequences: int = 60, n_frames: int = 100
):
    """Sequences of a named dataset.

    - ``embedded``: the generated benchmark (no root needed; ``split`` ignored, use folds).
    - ``davis2016``: ``root`` in DAVIS layout; ``split`` is ``train``, ``val`` or None (all).
    - ``vot2016``: ``root`` in VOT layout with the Vojir & Matas masks (see :func:`read_vot`).
    - ``folder``: ``root`` holds one sub-folder per sequence, each with ``frames/`` and ``masks/``.
    """
    from pathlib import Path

    if name == "embedded":
        from pixtrack_tf.data.embedded import load_embedded

        return load_embedded(seed=seed, num_sequences=num_sequences, n_frames=n_frames)
    if root is None:
        raise DataError(f"dataset {name!r} needs --root PATH")
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: dataset root does not exist or is not a folder")
    if name == "davis2016":
        return read_davis(root, split)
    if name == "vot2016":
        return read_vot(root)
    if name == "folder":
        subs = sorted(p for p in root.iterdir() if (p / "frames").is_dir())
        if not subs:
            raise DataError(f"{root}: no sub-folders with a frames/ folder")
        return [read_folder(p / "frames", p / "masks" if (p / "masks").is_dir() else None, name=p.name) for p in subs]
    raise DataError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")


__all__ = [
    "DATASETS",
    "DataError",
    "Sequence",
    "load_dataset",
    "mask_box",
    "read_davis",
    "read_folder",
    "read_frame",
    "read_mask",
    "read_video",
    "read_vot",
]
