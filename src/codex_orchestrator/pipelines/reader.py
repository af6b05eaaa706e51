"""Typed access to the JSON objects of a repo config, with errors that name the file, the path and a fix."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..errors import ConfigError
from ..suggest import did_you_mean

__all__ = ["Reader", "did_you_mean"]


class Reader:
    """One JSON object of the config, at `path` (`$.pipelines[0].stages[2]`) in `source` (the file)."""

    def __init__(self, source: str, path: str, value: Any) -> None:
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: {path}: expected an object, got {type(value).__name__}")
        self.source, self.path, self.value = source, path, value

    def fail(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.source}: {self.path}.{key}: {message}")

    def check_keys(self, allowed: Iterable[str]) -> None:
        allowed = set(allowed)
        for key in self.value:
            if key not in allowed:
                raise self.fail(key, f"unknown key{did_you_mean(key, allowed)}")

    def get(self, key: str, kind: type | tuple[type, ...], *, required: bool = False, default: Any = None) -> Any:
        if key not in self.value:
            if required:
                raise self.fail(key, "is required")
            return default
        value = self.value[key]
        bad_bool = isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,))
        if not isinstance(value, kind) or bad_bool:
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.fail(key, f"expected {names}, got {type(value).__name__}")
        if isinstance(value, str) and required and not value.strip():
            raise self.fail(key, "must not be empty")
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        """A list of strings (e.g. `tags`), or () when absent."""
        items = self.get(key, list, default=[])
        if not all(isinstance(item, str) for item in items):
            raise self.fail(key, "expected a list of strings")
        return tuple(items)
