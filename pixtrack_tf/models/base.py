"""What the models share: building from a :class:`pixtrack_tf.config.Config` section, and loading
a saved model without reading the backbone's weights source again."""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import inspect

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
