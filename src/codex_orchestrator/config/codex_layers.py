"""The Codex CLI's own configuration layers, read as Codex 0.169 reads them.

Lowest precedence first: `$CODEX_HOME/config.toml` (the user), `$CODEX_HOME/
<NAME>.config.toml` (`-p/--profile NAME`), a trusted project's `.codex/config.toml`,
then `-c key=value` overrides (the flag layer). Facts mirrored from Codex (checked
against the real binary in tests/config/test_codex_config_diff.py):

* `profile = "x"` in config.toml is refused ("legacy ... no longer supported");
  `-p x` with a `[profiles.x]` table in config.toml is refused; a `[profiles.*]`
  table without `-p` is ignored; `-p x` without `x.config.toml` is an empty layer.
* A relative path in `sandbox_workspace_write.writable_roots` is resolved against
  the folder of the file that names it (`$CODEX_HOME` for config.toml, `.codex/`
  for a project); one given with `-c` against the working directory.
* `-c key=value`: a dotted key; the value is TOML, or the raw string if it does
  not parse as TOML.
* `approval_policy = { granular = {...} }` is mapped to one of our policies
  (approval_policy below) or refused with what to write instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .._lazyre import LazyPattern
from .._record import field, record
from ..errors import ConfigError, UsageError

PROFILE_NAME = LazyPattern(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
GRANULAR_REQUIRED = ("sandbox_approval", "rules", "mcp_elicitations")
GRANULAR_KNOWN = (*GRANULAR_REQUIRED, "skill_approval", "request_permissions")
ROOTS = "sandbox_workspace_write.writable_roots"


@record
class CodexDocument:
    """One TOML layer: its path (or `-c`), the parsed table, and the folder relative paths resolve against."""

    where: str
    table: dict[str, Any]
    base: Path
    notes: list[str] = field(default_factory=list)


def read_toml(path: Path) -> dict[str, Any] | None:
    """The TOML table of `path`, or None when it does not exist."""
    import tomllib

    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a TOML file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def user_layers(home: Path, profile: str | None) -> tuple[list[CodexDocument], dict[str, Any]]:
    """config.toml and, with `profile`, NAME.config.toml; also the raw config.toml (for [projects])."""
    path = home / "config.toml"
    table = read_toml(path) if path.is_file() or path.exists() else None
    table = table or {}
    if "profile" in table:
        legacy = table["profile"]
        raise ConfigError(f"{path}: legacy `profile = {legacy!r}` config is no longer supported; use "
                          f"`--profile {legacy}` with {home / f'{legacy}.config.toml'} instead (as Codex 0.169)")
    layers = [CodexDocument(str(path), table, home)]
    if profile is not None:
        if not PROFILE_NAME.fullmatch(profile) or profile in (".", ".."):
            raise UsageError(f"--profile {profile!r}: a profile name is letters, digits, '_', '-' and '.'")
        profiles = table.get("profiles")
        if isinstance(profiles, dict) and profile in profiles:
            raise ConfigError(f"--profile {profile} cannot be used while {path} contains a legacy "
                              f"[profiles.{profile}] table; move those settings into "
                              f"{home / f'{profile}.config.toml'} and remove the table (as Codex 0.169)")
        profile_path = home / f"{profile}.config.toml"
        layers.append(CodexDocument(str(profile_path), read_toml(profile_path) or {}, home))
    return layers, table


def project_layer(repo_root: Path) -> CodexDocument | None:
    """A project's `.codex/config.toml` (only ever read for a trusted project)."""
    folder = repo_root / ".codex"
    path = folder / "config.toml"
    if path.is_symlink() or not path.is_file():
        return None
    table = read_toml(path)
    return CodexDocument(str(path), table or {}, folder)


def parse_overrides(items: Sequence[str], cwd: Path) -> CodexDocument:
    """`-c key=value` pairs as one layer (later pairs win), relative paths against `cwd`."""
    import tomllib

    table: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise UsageError(f"-c {item!r}: expected key=value, e.g. -c sandbox_mode=\"read-only\"")
        try:
            value: Any = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw  # as Codex: what is not TOML is the literal string
        node = table
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = value
    return CodexDocument("-c", table, cwd)


def approval_policy(value: Any, where: str) -> Any:
    """A granular table mapped to our policies; anything else is returned unchanged (checked later).

    Our decision points are the two Codex granular categories we have: `sandbox_approval`
    (asking to leave the sandbox, and Codex's dangerous-command prompt) and `rules` (a `prompt`
    rule). Both true asks as `on-request` does; both false refuses what would be asked, as
    `never` does. The other categories (skills, request_permissions, MCP elicitations) have
    no decision point here and are accepted as given.
    """
    if not isinstance(value, dict):
        return value
    granular = value.get("granular")
    if set(value) != {"granular"} or not isinstance(granular, dict):
        raise ConfigError(f"{where}: approval_policy: expected a string or {{ granular = {{ ... }} }}")
    missing = [name for name in GRANULAR_REQUIRED if name not in granular]
    unknown = [name for name in granular if name not in GRANULAR_KNOWN]
    bad = [name for name, flag in granular.items() if not isinstance(flag, bool)]
    if missing or unknown or bad:
        problem = (f"missing {', '.join(missing)}" if missing else f"unknown {', '.join(unknown)}" if unknown
                   else f"{', '.join(bad)} must be true or false")
        raise ConfigError(f"{where}: approval_policy.granular: {problem} (Codex needs sandbox_approval, rules "
                          "and mcp_elicitations as booleans)")
    sandbox, rules = granular["sandbox_approval"], granular["rules"]
    if sandbox and rules:
        return "on-request"
    if not sandbox and not rules:
        return "never"
    raise ConfigError(f"{where}: approval_policy.granular: sandbox_approval = {str(sandbox).lower()} with "
                      f"rules = {str(rules).lower()} has no equivalent here; write approval_policy = "
                      "\"on-request\" (ask for both) or \"never\" (refuse both) instead")


def resolve_roots(values: dict[str, Any], base: Path) -> None:
    """Relative writable roots of one layer, made absolute against that layer's folder (in place)."""
    roots = values.get(ROOTS)
    if isinstance(roots, list):
        values[ROOTS] = [str(base / root) if isinstance(root, str) and not os.path.isabs(root) else root
                         for root in roots]


def trusted_projects(table: Mapping[str, Any]) -> frozenset[str]:
    projects = table.get("projects")
    return frozenset(
        name for name, entry in (projects.items() if isinstance(projects, dict) else ())
        if isinstance(entry, dict) and entry.get("trust_level") == "trusted"
    )
