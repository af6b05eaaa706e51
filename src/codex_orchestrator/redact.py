"""Keep secrets out of events, manifests and telemetry.

An environment variable whose *name* looks like a credential has its value
replaced before it is recorded anywhere. Names are matched, not values: a value
cannot be recognised reliably, a name like `GITHUB_TOKEN` can.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ._lazyre import LazyPattern

REDACTED = "[REDACTED]"

_SECRET_NAME = LazyPattern(
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
    if isinstance(value, str):  # an endpoint may carry a password: https://user:pass@host
        return _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{REDACTED}@", value)
    return value


# `NAME=value` with a secret-looking NAME, `--token=value`, `--password value`, `Bearer value`, and the
# password of a URL: what a command line may carry that must not leave in telemetry or notifications.
_ASSIGNMENT = LazyPattern(r"(?P<name>[A-Za-z_][A-Za-z0-9_.-]*)=(?P<value>\S+)")
_SECRET_FLAG = LazyPattern(r"(?i)^--?(?P<name>[a-z0-9][a-z0-9_.-]*)$")
_BEARER = LazyPattern(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{6,}")
_URL_PASSWORD = LazyPattern(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^/\s:@]*):[^/\s@]+@", re.IGNORECASE)


def redact_command(text: str, secrets: frozenset[str] = frozenset()) -> str:
    """A command line (or any text about one) without the secret values it may carry.

    Names are matched as elsewhere in this module (`GITHUB_TOKEN=...`, `--api-key=...`,
    `Authorization: Bearer ...`, `https://user:pass@host`); `secrets` adds known values (those of the
    secret-named variables of the environment, see `secret_values`), replaced wherever they appear.
    """
    for value in sorted(secrets, key=len, reverse=True):
        text = text.replace(value, REDACTED)
    text = _ASSIGNMENT.sub(lambda m: f"{m['name']}={REDACTED}" if is_secret_name(m["name"].lstrip("-"))
                           else m.group(0), text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{REDACTED}@", text)


def redact_argv(argv: list[str], secrets: frozenset[str] = frozenset()) -> list[str]:
    """`redact_command` for each argument, and the argument after a secret flag (`--token VALUE`)."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append(REDACTED)
            hide_next = False
            continue
        flag = _SECRET_FLAG.match(arg)
        hide_next = bool(flag and is_secret_name(flag["name"]))
        out.append(redact_command(arg, secrets))
    return out


def secret_values(*envs: Mapping[str, str], minimum: int = 6) -> frozenset[str]:
    """The values of the secret-named variables of `envs` (long enough not to match ordinary words)."""
    return frozenset(value for env in envs for name, value in env.items()
                     if is_secret_name(name) and len(value) >= minimum)
