"""A codex stage's `workspace-write` bounds as a Codex permission profile, when Codex will honour one.

Codex's older `--sandbox workspace-write` keeps only `.git`, `.codex` and `.agents`
read-only in its writable roots: the commands Codex runs in a codex stage could
rewrite our run store (`.runs/`, `out/<task>/state.json`), which our own sandbox
keeps read-only for every other command. Codex's permission profiles (0.138 and
later) can say more: we pass one built on Codex's own `:workspace` profile, with
our extra writable roots, our /tmp and $TMPDIR exclusions, our network setting,
and the run store read-only (`-c default_permissions=...`, `-c permissions.<name>=...`).

Codex ignores a permission profile, and uses its older settings instead, as soon as
any of its config layers sets `sandbox_mode`, or `--sandbox` is passed. Dropping
`--sandbox` is therefore safe only when no layer does: otherwise a user's
`sandbox_mode = "danger-full-access"` would win over our policy. So the profile is
used only when every layer Codex may read is known and none of them mentions the
older settings; in any doubt (a system or managed file exists, a file cannot be
parsed) the stage keeps `--sandbox`, as before, and its run store stays writable to
Codex's commands (docs/codex.md, "Known gaps").
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

PROFILE = "codex-orchestrator-stage"
# Layers we do not parse: their presence alone keeps `--sandbox` (one of them may set sandbox_mode).
UNPARSED = (Path("/etc/codex/config.toml"), Path("/etc/codex/managed_config.toml"),
            Path("/etc/codex/requirements.toml"))
# A layer naming one of these keeps `--sandbox`: the older settings (Codex would ignore our profile), or
# our profile's own name (Codex could merge that layer's entries into the profile we pass).
CONFLICTING_KEYS = frozenset({"sandbox_mode", "sandbox_workspace_write", PROFILE})


def legacy_reason(*, codex_home: Path, cwd: Path, repo_root: Path, profile: str | None) -> str | None:
    """Why Codex could use its older sandbox settings over a permission profile for this stage; None when
    no config layer it reads can (so `default_permissions` decides)."""
    for path in (*UNPARSED, codex_home / "managed_config.toml"):
        if path.exists():
            return f"{path} exists"
    for path in _layers(codex_home, cwd, repo_root, profile):
        table = _read(path)
        if isinstance(table, str):
            return table
        if table is not None and (found := next((k for k in _keys(table) if k in CONFLICTING_KEYS), None)):
            return f"{path} sets {found}"
    return None


def _layers(codex_home: Path, cwd: Path, repo_root: Path, profile: str | None) -> Iterator[Path]:
    yield codex_home / "config.toml"
    if profile:
        yield codex_home / f"{profile}.config.toml"
    here = cwd
    while True:  # every project layer Codex could load, trusted or not
        yield here / ".codex" / "config.toml"
        if here == repo_root or here.parent == here:
            return
        here = here.parent


def _read(path: Path) -> dict[str, Any] | str | None:
    """The file's table, None if it does not exist, or why it cannot be read (a reason to stay careful)."""
    from ..config.codex_layers import read_toml
    from ..errors import ConfigError

    try:
        return read_toml(path)
    except ConfigError as exc:
        return f"cannot be read: {exc}"


def _keys(table: dict[str, Any]) -> Iterator[str]:
    """Every key of a TOML table, at any depth (`[profiles.x]` tables too)."""
    for key, value in table.items():
        yield key
        if isinstance(value, dict):
            yield from _keys(value)


def profile_table(*, writable_roots: Sequence[str], read_only: Sequence[str], network: bool,
                  exclude_tmpdir: bool, exclude_slash_tmp: bool) -> dict[str, Any]:
    """The profile: Codex's `:workspace` (its working directory writable, `.git`/`.codex`/`.agents` not),
    our extra writable roots as more workspace roots (so they keep the same read-only metadata, as in
    `--sandbox workspace-write`), the run store read-only, our /tmp choices, our network."""
    filesystem: dict[str, Any] = {path: "read" for path in read_only}
    if exclude_tmpdir:
        filesystem[":tmpdir"] = "read"
    if exclude_slash_tmp:
        filesystem[":slash_tmp"] = "read"
    return {"extends": ":workspace", "workspace_roots": dict.fromkeys(writable_roots, True),
            "filesystem": filesystem, "network": {"enabled": network}}
