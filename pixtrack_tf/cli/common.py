"""What every command shares: the ``--config`` / ``--set`` arguments, and one way from an error to
an exit code (0 done, 2 a request that cannot be served — bad input, config or run folder — with
``error: ...`` on stderr, 3 a training that diverged)."""

from __future__ import annotations

import sys

# (module, class) of the errors a user's request can raise: their message names the file or field
# and what is wrong. An error class whose module was never imported cannot have been raised, so
# only the imported ones are caught (a light command does not import TensorFlow to catch its errors).
USER_ERRORS = (
    ("pixtrack_tf.config.sections", "ConfigError"),
    ("pixtrack_tf.data.sequence", "DataError"),
    ("pixtrack_tf.training.loop", "RunDirError"),
    ("pixtrack_tf.runs", "SnapshotError"),
    ("pixtrack_tf.training.soup", "SoupError"),
    ("pixtrack_tf.experiments.reproduce", "ReproduceError"),
)
DIVERGED = ("pixtrack_tf.training.loop", "TrainingDiverged")


def add_config_args(parser, default: str | None, what: str = "config name (paper, cpu, davis, tiny, ...) or YAML path"):
    """``--config`` (a preset's name or a YAML file) and ``--set KEY=VALUE`` (repeatable)."""
    parser.add_argument("--config", default=default, help=f"{what} (default: {default})")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="config override, e.g. train.local_steps=100"
    )


def config_from_args(args, default=None, extra=()):
    """The config ``--config`` names (``default`` when it names none) with ``--set`` and ``extra`` applied."""
    from pixtrack_tf.config import load_config

    return load_config(args.config or default, list(args.set) + list(extra))


def _loaded(pairs):
    return tuple(
        getattr(sys.modules[mod], name) for mod, name in pairs if mod in sys.modules and hasattr(sys.modules[mod], name)
    )


def error(message) -> int:
    """Print ``error: message`` on stderr; the exit code of a request that cannot be served (2)."""
    print(f"error: {message}", file=sys.stderr)
    return 2


def run_command(body, extra_errors=()) -> int:
    """``body()``'s exit code (None: 0); a user error (:data:`USER_ERRORS`, FileNotFoundError,
    ``extra_errors``) prints ``error: ...`` and gives 2, a diverged training 3."""
    try:
        code = body()
    except Exception as e:
        if isinstance(e, (FileNotFoundError, *extra_errors, *_loaded(USER_ERRORS))):
            return error(e)
        if isinstance(e, _loaded([DIVERGED])):
            error(e)
            return 3
        raise
    return 0 if code is None else code
