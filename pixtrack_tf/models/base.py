"""What the models share: building from a :class:`pixtrack_tf.config.Config` section, loading
a saved model without reading the backbone's weights source again, and the trainable-only weights
files (``.npz``) that small checkpoints and the bundled models are stored as."""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import inspect
from pathlib import Path

import numpy as np

_SKIP_BACKBONE_WEIGHTS = contextvars.ContextVar("skip_backbone_weights", default=False)


def section_kwargs(cls, section, **extra) -> dict:
    """Constructor arguments of ``cls`` taken from the config dataclass ``section`` (fields with the
    same name as a constructor argument), then ``extra``: one mapping for every model's ``from_cfg``."""
    params = inspect.signature(cls.__init__).parameters
    kwargs = {f.name: getattr(section, f.name) for f in dataclasses.fields(section) if f.name in params}
    kwargs.update(extra)
    return kwargs


@contextlib.contextmanager
def saved_backbone_weights():
    """Inside, a :class:`pixtrack_tf.models.VGGPool4` keeps its ``weights`` setting in its config
    but does not read that source: the weights come from the saved file being loaded (a ``.keras``
    archive, a checkpoint), which may be opened where the source is absent."""
    token = _SKIP_BACKBONE_WEIGHTS.set(True)
    try:
        yield
    finally:
        _SKIP_BACKBONE_WEIGHTS.reset(token)


def reading_backbone_weights() -> bool:
    """False inside :func:`saved_backbone_weights`."""
    return not _SKIP_BACKBONE_WEIGHTS.get()


class ArgsConfig:
    """``get_config`` = the constructor's arguments, read from the attributes of the same names
    (tuples as lists): config = constructor arguments, written once."""

    def get_config(self):
        config = super().get_config()
        for name, param in inspect.signature(type(self).__init__).parameters.items():
            if name == "self" or param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
                continue
            value = getattr(self, name)
            config[name] = list(value) if isinstance(value, tuple) else value
        return config


class FromSaved:
    """Mixin of the models that hold a backbone: ``from_config`` builds them under
    :func:`saved_backbone_weights`, so a loaded model's config is the saved one (``get_config`` ->
    ``from_config`` -> ``get_config`` is the identity) while the backbone's weights come from the file."""

    @classmethod
    def from_config(cls, config):
        with saved_backbone_weights():
            return cls(**config)


def save_trainable(model, path) -> Path:
    """The trainable weights only (not the frozen backbone, not the optimizer), float32, as an ``.npz``
    keyed by variable path: a checkpoint small enough to commit, from which a later session rebuilds
    the run part with :func:`restore_trainable` (the backbone comes from its weights source again)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **{v.path: np.asarray(v, np.float32) for v in model.trainable_variables})
    return path


def restore_trainable(model, path) -> None:
    """Load :func:`save_trainable`'s file into a model built from the same config."""
    saved = np.load(path)
    names = {v.path for v in model.trainable_variables}
    if set(saved.files) != names:
        raise ValueError(
            f"{path}: these trainable weights do not fit the model (missing {sorted(names - set(saved.files))[:3]}, "
            f"unexpected {sorted(set(saved.files) - names)[:3]})"
        )
    wrong = [(v.path, saved[v.path].shape, tuple(v.shape)) for v in model.trainable_variables]
    wrong = [w for w in wrong if tuple(w[1]) != w[2]]
    if wrong:
        name, got, want = wrong[0]
        raise ValueError(f"{path}: {name} has shape {tuple(got)}, the model's is {want} ({len(wrong)} such)")
    for v in model.trainable_variables:
        v.assign(saved[v.path])
