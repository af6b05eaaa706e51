"""Checked reading of request params: every problem is an `invalid params` error naming the field.

Unknown fields are refused with a "did you mean", as unknown CLI flags are: a typo in
`approvalPolicy` must not silently mean the default policy.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .._paths import resolve
from .rpc import INVALID_PARAMS, RpcError

SANDBOX_MODES = ("read-only", "workspace-write", "danger-full-access")
APPROVAL_POLICIES = ("untrusted", "on-failure", "on-request", "never")


def invalid(message: str) -> RpcError:
    return RpcError(INVALID_PARAMS, f"invalid params: {message}", {"exitCode": 2})


class Params:
    def __init__(self, raw: Any, allowed: Iterable[str]) -> None:
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise invalid("params must be an object")
        allowed = tuple(allowed)
        for key in raw:
            if key not in allowed:
                import difflib

                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise invalid(f"unknown field {key!r}{hint}")
        self.raw: dict[str, Any] = raw

    def string(self, key: str, *, required: bool = False) -> str | None:
        value = self.raw.get(key)
        if value is None:
            if required:
                raise invalid(f"{key!r} is required")
            return None
        if not isinstance(value, str) or not value:
            raise invalid(f"{key!r} must be a non-empty string")
        return value

    def required_string(self, key: str) -> str:
        value = self.string(key, required=True)
        assert value is not None
        return value

    def boolean(self, key: str, default: bool = False) -> bool:
        value = self.raw.get(key, default)
        if not isinstance(value, bool):
            raise invalid(f"{key!r} must be true or false")
        return value

    def milliseconds(self, key: str) -> float | None:
        """A duration in ms, returned in seconds; finite and > 0."""
        value = self.raw.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise invalid(f"{key!r} must be a finite number of milliseconds greater than 0")
        return float(value) / 1000

    def choice(self, key: str, choices: tuple[str, ...]) -> str | None:
        value = self.string(key)
        if value is not None and value not in choices:
            raise invalid(f"{key!r} must be one of {', '.join(choices)}")
        return value

    def directory(self, key: str, default: Path) -> Path:
        value = self.string(key)
        path = resolve(default / value if value else default)
        if not path.is_dir():
            raise invalid(f"{key!r}: {path} is not a directory")
        return path

    def env(self, key: str = "env") -> dict[str, str]:
        value = self.raw.get(key) or {}
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise invalid(f"{key!r} must be an object of strings")
        import re

        for name in value:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise invalid(f"{key!r}: {name!r} is not a valid variable name")
        return dict(value)

    def command(self, key: str = "command") -> str | list[str]:
        value = self.raw.get(key)
        if isinstance(value, str) and value.strip():
            return value
        if isinstance(value, list) and value and all(isinstance(part, str) for part in value) and value[0]:
            return list(value)
        raise invalid(f"{key!r} must be a shell command line (a string) or an argv (a non-empty array of strings)")

    def flags(self) -> dict[str, Any]:
        """The sandbox and approval policy the client asked for, as config flags."""
        flags: dict[str, Any] = {}
        sandbox = self.choice("sandbox", SANDBOX_MODES)
        if sandbox:
            flags["sandbox_mode"] = sandbox
        policy = self.choice("approvalPolicy", APPROVAL_POLICIES)
        if policy:
            flags["approval_policy"] = policy
        return flags
