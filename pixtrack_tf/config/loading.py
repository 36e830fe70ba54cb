"""Reading and writing configs: YAML presets (by name or path), dotted ``--set`` overrides, typed
building of the frozen sections, and back to a plain tree for ``config.yaml``."""

from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import fields
from pathlib import Path

import yaml

from pixtrack_tf.config.sections import Config, ConfigError

_PACKAGE = Path(__file__).resolve().parents[1]
# the presets: ``pixtrack_tf/configs`` in an installed wheel (setup.py maps the repository's top-level
# ``configs/`` there), the top-level ``configs/`` in a checkout (an editable install reads it in place)
CONFIG_DIR = next((d for d in (_PACKAGE / "configs", _PACKAGE.parent / "configs") if d.is_dir()), _PACKAGE / "configs")


def _yaml_key(name: str) -> str:
    return "global" if name == "global_" else name


def _field_name(key: str) -> str:
    return "global_" if key == "global" else key


def _coerce(value, tp, where: str):
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, where)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        args = typing.get_args(tp)
        item = args[0]
        return tuple(_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 (PyYAML) reads 1e-3 as a string: it needs "1.0e-3"
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def _build(cls, data, where: str):
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    known = {_yaml_key(f.name): f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        prefix = f"{where}." if where else ""
        raise ConfigError(
            f"unknown config key(s) {', '.join(prefix + k for k in unknown)}; "
            f"known keys{' of ' + where if where else ''}: {', '.join(sorted(known))}"
        )
    kwargs = {}
    for key, value in data.items():
        f = known[key]
        kwargs[f.name] = _coerce(value, hints[f.name], f"{where}.{key}" if where else key)
    try:
        return cls(**kwargs)
    except TypeError as e:  # pragma: no cover - defensive
        raise ConfigError(f"{where}: {e}") from e


def to_dict(cfg) -> dict:
    """A plain, YAML-safe dict with the file's key names (``global``, not ``global_``)."""
    out = {}
    for f in fields(cfg):
        v = getattr(cfg, f.name)
        if dataclasses.is_dataclass(v):
            v = to_dict(v)
        elif isinstance(v, tuple):
            v = list(v)
        out[_yaml_key(f.name)] = v
    return out


def differing_keys(a: dict, b: dict, only_common: bool = False) -> list[str]:
    """Sorted dotted keys whose values differ between two config trees (as :func:`to_dict` gives or a
    saved ``config.yaml`` holds); with ``only_common``, keys present in only one of them are ignored
    (a config saved before a key existed still matches)."""

    def walk(x, y, prefix):
        for k in (set(x) & set(y)) if only_common else (set(x) | set(y)):
            if isinstance(x.get(k), dict) and isinstance(y.get(k), dict):
                yield from walk(x[k], y[k], f"{prefix}{k}.")
            elif x.get(k) != y.get(k):
                yield f"{prefix}{k}"

    return sorted(walk(a, b, ""))


def saved_config_tree(path) -> dict:
    """The plain tree of a saved ``config.yaml`` (empty for an empty file), for :func:`differing_keys`."""
    return yaml.safe_load(Path(path).read_text()) or {}


def _set_dotted(tree: dict, dotted: str, value) -> None:
    parts = dotted.split(".")
    node = tree
    for p in parts[:-1]:
        nxt = node.setdefault(p, {})
        if not isinstance(nxt, dict):
            raise ConfigError(f"override {dotted!r}: {p!r} is not a section")
        node = nxt
    node[parts[-1]] = value


def parse_override(text: str) -> tuple[str, object]:
    """``"local.lstm_filters=64"`` -> ``("local.lstm_filters", 64)``; values are YAML."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like section.key=value")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"override {text!r} has no key")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as e:
        raise ConfigError(f"override {text!r}: value is not valid YAML: {e}") from e
    return key, value


def resolve_config_path(name_or_path: str | os.PathLike) -> Path:
    """A path to a YAML file, or a bare name (``paper``, ``cpu``, ``tiny``) of a preset shipped in the package."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.exists():
            raise ConfigError(f"config file {p} does not exist")
        return p
    candidate = CONFIG_DIR / f"{name_or_path}.yaml"
    if not candidate.exists():
        names = sorted(q.stem for q in CONFIG_DIR.glob("*.yaml"))
        raise ConfigError(f"no config named {name_or_path!r}; known: {', '.join(names)} or a path to a .yaml file")
    return candidate


def load_config(name_or_path=None, overrides=()) -> Config:
    """Load a YAML config (or the defaults, i.e. the paper) and apply dotted overrides."""
    tree: dict = {}
    if name_or_path is not None:
        path = resolve_config_path(name_or_path)
        try:
            tree = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML: {e}") from e
        if not isinstance(tree, dict):
            raise ConfigError(f"{path}: the top level must be a mapping")
        where = str(path)
    else:
        where = "defaults"
    for ov in overrides:
        key, value = parse_override(ov)
        _set_dotted(tree, key, value)
    try:
        return _build(Config, tree, "")
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None


def save_config(cfg: Config, path) -> None:
    Path(path).write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))


def config_from_dict(tree: dict) -> Config:
    return _build(Config, tree, "")
