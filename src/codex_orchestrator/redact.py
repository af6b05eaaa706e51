"""Keep secrets out of events, manifests and telemetry.

An environment variable whose *name* looks like a credential has its value
replaced before it is recorded anywhere. Names are matched, not values: a value
cannot be recognised reliably, a name like `GITHUB_TOKEN` can.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

REDACTED = "[REDACTED]"

_SECRET_NAME = re.compile(
    r"(?i)(^|[_\-.])(api[_\-]?key|key|token|secret|passw(or)?d|passphrase|pwd|credential|authorization|auth|bearer|session|cookie|private)"
    r"([_\-.]|s?$)"
)


_NOT_SECRET = frozenset({"PWD", "OLDPWD"})


def is_secret_name(name: str) -> bool:
    """True for names such as OPENAI_API_KEY, GH_TOKEN, DB_PASSWORD, AWS_SECRET_ACCESS_KEY."""
    return name.upper() not in _NOT_SECRET and bool(_SECRET_NAME.search(name))


def redact_env(env: Mapping[str, str]) -> dict[str, str]:
    return {name: (REDACTED if is_secret_name(name) else value) for name, value in env.items()}


def redact_tree(value: Any) -> Any:
    """A copy of a config value (tables within tables) with every secret-named entry's value replaced.

    Used for tables such as `otel` (exporter headers carry bearer tokens) and
    `shell_environment_policy.set`, so that `config show` never prints a credential.
    """
    if isinstance(value, Mapping):
        return {name: (REDACTED if isinstance(name, str) and is_secret_name(name) and not isinstance(item, Mapping)
                       else redact_tree(item)) for name, item in value.items()}
    if isinstance(value, list):
        return [redact_tree(item) for item in value]
    return value
