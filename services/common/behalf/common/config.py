"""Configuration read from the environment, validated up front with one clear error."""

from __future__ import annotations

import builtins
import os
from collections.abc import Mapping


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


class Env:
    """Typed readers over an environment mapping; every error names the variable at fault.

    The readers are named after the types they return, which hides those builtins inside the
    class body: annotations here spell them `builtins.str` and so on.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    def str(self, name: builtins.str, default: builtins.str | None = None) -> builtins.str:
        value = self._environ.get(name)
        if value is None or value == "":
            if default is None:
                raise ConfigError(f"{name} is required")
            return default
        return value

    def int(
        self,
        name: builtins.str,
        default: builtins.int,
        *,
        minimum: builtins.int = 0,
        maximum: builtins.int = 2**31,
    ) -> builtins.int:
        raw = self._environ.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
        if not minimum <= value <= maximum:
            raise ConfigError(f"{name} must be between {minimum} and {maximum}, got {value}")
        return value

    def port(self, name: builtins.str, default: builtins.int) -> builtins.int:
        return self.int(name, default, minimum=0, maximum=65535)

    def float(
        self,
        name: builtins.str,
        default: builtins.float,
        *,
        minimum: builtins.float = 0.0,
        maximum: builtins.float | None = None,
    ) -> builtins.float:
        raw = self._environ.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a number, got {raw!r}") from None
        if value < minimum:
            raise ConfigError(f"{name} must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise ConfigError(f"{name} must be at most {maximum}, got {value}")
        return value

    def bool(self, name: builtins.str, default: builtins.bool) -> builtins.bool:
        raw = self._environ.get(name)
        if raw is None or raw == "":
            return default
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(f"{name} must be true or false, got {raw!r}")

    def secret(self, name: builtins.str, *, min_length: builtins.int = 16) -> builtins.str:
        """Read a secret; the error never echoes its value."""
        value = self._environ.get(name, "")
        if len(value) < min_length:
            raise ConfigError(f"{name} is required and must be at least {min_length} characters")
        return value
