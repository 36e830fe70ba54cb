"""The config's error (its own module so that every section module can raise it)."""


class ConfigError(ValueError):
    """A config file or override that cannot be applied."""
