"""Read each configuration layer into a flat {dotted key: value} mapping, validated.

An invalid layer raises ConfigError with one line naming the file (or
variable) and the key path; nothing here prints a traceback.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .codex_layers import CodexDocument, approval_policy, resolve_roots
from .keys import KEYS, KEYS_BY_NAME, REPO_ONLY_KEYS, Key

ENV_PREFIX = "CODEX_ORCHESTRATOR_"
_TABLE_PREFIXES = {key.name.split(".")[0] for key in KEYS if "." in key.name}


def _type_name(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}.get(
        type(value), type(value).__name__
    )


def check_value(key: Key, value: Any, where: str) -> Any:
    """Validate one value against its key; returns it normalised (ints accepted as floats)."""
    expected = {"str": "string", "int": "integer", "float": "number", "bool": "boolean",
                "list[str]": "array of strings", "table": "object", "list[table]": "array of tables"}[key.kind]
    ok: bool
    if key.kind == "str":
        ok = isinstance(value, str)
    elif key.kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif key.kind == "float":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif key.kind == "bool":
        ok = isinstance(value, bool)
    elif key.kind == "list[str]":
        ok = isinstance(value, list) and all(isinstance(item, str) for item in value)
    elif key.kind == "list[table]":
        ok = isinstance(value, list) and all(isinstance(item, dict) for item in value)
    else:
        ok = isinstance(value, dict)
    if not ok:
        raise ConfigError(f"{where}: {key.name}: expected {expected}, got {_type_name(value)}")
    if key.kind in ("int", "float") and not math.isfinite(value):
        raise ConfigError(f"{where}: {key.name}: must be a finite number, got {value!r}")
    if key.kind == "table" and key.name.endswith(".set") and not all(
            isinstance(name, str) and isinstance(item, str) for name, item in value.items()):
        raise ConfigError(f"{where}: {key.name}: expected a table of strings (NAME = \"value\")")
    if key.name == "notifications.webhooks":
        for index, hook in enumerate(value):
            _check_webhook(hook, f"{where}: {key.name}[{index}]")
    if key.choices is not None and value not in key.choices:
        raise ConfigError(f"{where}: {key.name}: must be one of {', '.join(key.choices)}, got {value!r}")
    if key.minimum is not None and value < key.minimum:
        raise ConfigError(f"{where}: {key.name}: must be >= {key.minimum:g}, got {value!r}")
    return value


WEBHOOK_EVENTS = ("run-complete", "run-failed", "approval-requested")


def _check_webhook(hook: dict[str, Any], where: str) -> None:
    """One `notifications.webhooks` entry: {url, events, secret?, timeout_seconds?} (docs/notifications.md)."""
    unknown = sorted(set(hook) - {"url", "events", "secret", "timeout_seconds"})
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (expected url, events, secret, timeout_seconds)")
    url = hook.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ConfigError(f"{where}: url: expected an http:// or https:// URL, got {url!r}")
    events = hook.get("events", list(WEBHOOK_EVENTS))
    if not isinstance(events, list) or not events or any(e not in WEBHOOK_EVENTS for e in events):
        raise ConfigError(f"{where}: events: expected a non-empty list of {', '.join(WEBHOOK_EVENTS)}, got {events!r}")
    if "secret" in hook and not isinstance(hook["secret"], str):
        raise ConfigError(f"{where}: secret: expected a string")
    timeout = hook.get("timeout_seconds", 5)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not math.isfinite(timeout) \
            or not 0 < timeout <= 60:
        raise ConfigError(f"{where}: timeout_seconds: expected a number of seconds in (0, 60], got {timeout!r}")


def _flatten(table: Mapping[str, Any], where: str, *, strict: bool) -> dict[str, Any]:
    """Pick our keys out of a (possibly nested) table. Unknown keys are errors when strict."""
    values: dict[str, Any] = {}
    for name, value in table.items():
        if name in _TABLE_PREFIXES and isinstance(value, dict):
            for sub, subvalue in value.items():
                dotted = f"{name}.{sub}"
                key = KEYS_BY_NAME.get(dotted)
                if key is None:
                    if strict:
                        raise ConfigError(f"{where}: unknown key {dotted!r}{_did_you_mean(dotted)}")
                    continue
                values[dotted] = check_value(key, subvalue, where)
            continue
        key = KEYS_BY_NAME.get(name)
        if key is None:
            if strict and name not in REPO_ONLY_KEYS:
                raise ConfigError(f"{where}: unknown key {name!r}{_did_you_mean(name)}")
            continue
        values[name] = check_value(key, value, where)
    return values


def _did_you_mean(name: str) -> str:
    """` (did you mean 'stageSets'?)` for a key one typo away from a known one; only loaded on error."""
    from ..suggest import did_you_mean

    if "." in name:
        candidates = [key.name for key in KEYS if key.name.startswith(name.split(".")[0] + ".")]
    else:
        candidates = [key.name.split(".")[0] for key in KEYS] + list(REPO_ONLY_KEYS)
    return did_you_mean(name, candidates)


def read_repo_config(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Returns (settings, the raw document) of a repo config (`codex.orchestrator.json`)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: invalid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: expected a JSON object at the top level, got {_type_name(document)}")
    return _flatten(document, str(path), strict=True), document


def codex_layer_values(document: CodexDocument, *, all_keys: bool = False) -> dict[str, Any]:
    """Our keys from one Codex TOML layer (a `-c` layer may set any of our keys; a file only Codex's).

    The file is Codex's: keys we do not use are ignored, but a key we use with a
    wrong type is an error, because silently ignoring a user's global choice would
    loosen it. Relative writable roots resolve against the layer's folder.
    """
    table = dict(document.table)
    if "approval_policy" in table:
        table["approval_policy"] = approval_policy(table["approval_policy"], document.where)
    wanted = {key.name for key in KEYS if all_keys or key.codex}
    values = {k: v for k, v in _flatten(table, document.where, strict=False).items() if k in wanted}
    resolve_roots(values, document.base)
    return values


def read_home_config(path: Path) -> dict[str, Any]:
    """`$CODEX_ORCHESTRATOR_HOME/config.toml`: the orchestrator's own user config (trusted, like Codex's).

    It is ours, so it is read strictly: an unknown key or a wrong type is an error naming the file.
    """
    if not path.is_file():
        return {}  # the common case costs no tomllib import
    import tomllib

    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    return _flatten(document, str(path), strict=True)


def _parse_env_value(key: Key, name: str, text: str) -> Any:
    where = f"environment variable {name}"
    if key.kind == "str":
        return check_value(key, text, where)
    if key.kind in ("int", "float"):
        try:
            number: Any = int(text) if key.kind == "int" else float(text)
        except ValueError:
            kind = "an integer" if key.kind == "int" else "a number"
            raise ConfigError(f"{where}: {key.name}: expected {kind}, got {text!r}") from None
        return check_value(key, number, where)
    if key.kind == "bool":
        lowered = text.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{where}: {key.name}: expected true or false, got {text!r}")
    if key.kind == "list[str]":
        if key.name == "notify" and not text.lstrip().startswith("["):
            # A command line in one string would be split wrongly; say what to write instead.
            raise ConfigError(f"{where}: notify: expected a JSON array of strings (the program and its "
                              f"arguments), e.g. '[\"notify-send\", \"done\"]', got {text!r}")
        if text.lstrip().startswith("["):
            try:
                return check_value(key, json.loads(text), where)
            except ValueError:
                raise ConfigError(f"{where}: {key.name}: invalid JSON array") from None
        return [part for part in text.split(":") if part]
    raise ConfigError(f"{where}: {key.name} cannot be set from the environment")


def read_env(env: Mapping[str, str]) -> dict[str, tuple[Any, str]]:
    """Settings from CODEX_ORCHESTRATOR_* variables: {key: (value, variable name)}."""
    values: dict[str, tuple[Any, str]] = {}
    for key in KEYS:
        if key.env is None:
            continue
        name = ENV_PREFIX + key.env
        text = env.get(name)
        if text is None or text == "":
            continue
        values[key.name] = (_parse_env_value(key, name, text), name)
    return values
