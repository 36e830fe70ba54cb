"""Experiment configuration: frozen dataclasses, YAML files and dotted overrides.

A config is built once (``load_config``) and never mutated: every module receives the
sub-config it needs as an argument. ``configs/paper.yaml`` (the repository's top-level
``configs/``, shipped in the package) is Table 1 of the paper; ``configs/cpu.yaml`` keeps its
topology at a size a 2-core CPU can train; ``configs/tiny.yaml`` is for tests.

:mod:`~pixtrack_tf.config.sections` holds the sections and their checks,
:mod:`~pixtrack_tf.config.loading` reading, overriding and writing them.

Example::

    cfg = load_config("cpu", overrides=["local.lstm_filters=64"])
    save_config(cfg, run_dir / "config.yaml")
"""

from pixtrack_tf.config.loading import (
    CONFIG_DIR,
    config_from_dict,
    differing_keys,
    load_config,
    parse_override,
    resolve_config_path,
    save_config,
    saved_config_tree,
    to_dict,
)
from pixtrack_tf.config.plus_section import (
    PLUS_COMPONENTS,
    PLUS_GUIDES,
    PLUS_MASK_PRIORS,
    PLUS_MEMORY,
    PLUS_ROIS,
    PLUS_SKIPS,
    PlusConfig,
)
from pixtrack_tf.config.sections import (
    AFFINITY_LABELS,
    AFFINITY_LAYERS,
    AFFINITY_NORMALISE,
    CENTRE_FROM,
    DTYPE_POLICIES,
    LOCAL_REDUCTIONS,
    PRECISIONS,
    SCALE_FROM,
    THETA_MAPS,
    AffinityConfig,
    BackboneConfig,
    Config,
    ConfigError,
    DataConfig,
    EvalConfig,
    GlobalConfig,
    LocalConfig,
    TrackConfig,
    TrainConfig,
    validate,
)

__all__ = [
    "AFFINITY_LABELS",
    "AFFINITY_LAYERS",
    "AFFINITY_NORMALISE",
    "CENTRE_FROM",
    "CONFIG_DIR",
    "DTYPE_POLICIES",
    "LOCAL_REDUCTIONS",
    "PLUS_COMPONENTS",
    "PLUS_GUIDES",
    "PLUS_ROIS",
    "PLUS_MASK_PRIORS",
    "PLUS_MEMORY",
    "PLUS_SKIPS",
    "PRECISIONS",
    "SCALE_FROM",
    "THETA_MAPS",
    "AffinityConfig",
    "BackboneConfig",
    "Config",
    "ConfigError",
    "DataConfig",
    "EvalConfig",
    "GlobalConfig",
    "LocalConfig",
    "PlusConfig",
    "TrackConfig",
    "TrainConfig",
    "config_from_dict",
    "load_config",
    "parse_override",
    "resolve_config_path",
    "save_config",
    "saved_config_tree",
    "differing_keys",
    "to_dict",
    "validate",
]
