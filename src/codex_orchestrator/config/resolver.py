"""The one configuration resolver every command uses.

Precedence, highest first: CLI flags > environment (CODEX_ORCHESTRATOR_*) >
repo config (`codex.orchestrator.json`, else `config/orchestrator.json`) >
the Codex CLI's `$CODEX_HOME/config.toml` > built-in defaults.

One guard on top of precedence: a repo config is written by whoever wrote the
repository, so for the settings that guard autonomy (approval policy, sandbox
mode, network access) it may tighten the user's global Codex choice but never
loosen it. Flags and environment belong to the user and may do either.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._record import field, record
from ..errors import ConfigError
from .keys import KEYS, KEYS_BY_NAME
from .layers import check_value, read_codex_config, read_env, read_repo_config

if TYPE_CHECKING:  # pragma: no cover
    from ..sandbox.policy import SandboxPolicy

REPO_CONFIG_NAMES = ("codex.orchestrator.json", "config/orchestrator.json")


@record(frozen=True)
class Setting:
    key: str
    value: Any
    source: str  # "flag" | "env:NAME" | "repo:PATH" | "codex:PATH" | "default"
    note: str | None = None


@record
class Config:
    settings: dict[str, Setting]
    repo_root: Path
    repo_config_path: Path | None
    repo_document: dict[str, Any] = field(default_factory=dict)
    codex_home: Path = Path()
    codex_config_path: Path = Path()

    def get(self, key: str) -> Any:
        return self.settings[key].value

    def sources(self) -> dict[str, str]:
        return {key: setting.source for key, setting in self.settings.items()}

    def sandbox_policy(self, *, mode: str | None = None) -> SandboxPolicy:
        from ..sandbox.policy import SandboxMode, SandboxPolicy

        roots = tuple(Path(root) for root in self.get("sandbox_workspace_write.writable_roots"))
        return SandboxPolicy(
            mode=SandboxMode(mode or self.get("sandbox_mode")),
            writable_roots=roots,
            network_access=bool(self.get("sandbox_workspace_write.network_access")),
            exclude_tmpdir_env_var=bool(self.get("sandbox_workspace_write.exclude_tmpdir_env_var")),
            exclude_slash_tmp=bool(self.get("sandbox_workspace_write.exclude_slash_tmp")),
        )


def codex_home(env: Mapping[str, str]) -> Path:
    value = env.get("CODEX_HOME")
    return Path(value).expanduser() if value else Path.home() / ".codex"


def find_repo_root(cwd: Path) -> tuple[Path, Path | None]:
    """The project root and its repo config: the nearest folder with a repo config,
    looking no higher than the git root; else the git root; else `cwd`."""
    git_root: Path | None = None
    for folder in (cwd, *cwd.parents):
        for name in REPO_CONFIG_NAMES:
            candidate = folder / name
            if candidate.is_file():
                return folder, candidate
        if (folder / ".git").exists():
            git_root = folder
            break
    return (git_root or cwd), None


def _clamp(key: str, repo: Setting, codex: Setting | None) -> Setting:
    """Keep the user's global Codex choice when a repo config tries to loosen it."""
    spec = KEYS_BY_NAME[key]
    if spec.permissiveness is None or codex is None:
        return repo
    order = spec.permissiveness
    if order.index(repo.value) > order.index(codex.value):
        note = f"repo config asked for {repo.value!r}; a repo config may not loosen your global Codex choice"
        return Setting(key, codex.value, codex.source, note)
    return repo


def load_config(
    cwd: Path | None = None,
    flags: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> Config:
    """Resolve every setting for a command started in `cwd`.

    `flags` holds only the options the user actually gave, keyed by setting name.
    """
    env = os.environ if env is None else env
    cwd = (cwd or Path.cwd()).resolve()
    root_override = env.get("CODEX_ORCHESTRATOR_ROOT")
    if root_override:
        repo_root = Path(root_override).resolve()
        repo_config_path = next(
            (repo_root / name for name in REPO_CONFIG_NAMES if (repo_root / name).is_file()), None
        )
    else:
        repo_root, repo_config_path = find_repo_root(cwd)

    home = codex_home(env)
    codex_path = home / "config.toml"
    codex_values = read_codex_config(codex_path)
    repo_values, document = read_repo_config(repo_config_path) if repo_config_path else ({}, {})
    env_values = read_env(env)

    settings: dict[str, Setting] = {}
    for key in KEYS:
        name = key.name
        codex = Setting(name, codex_values[name], f"codex:{codex_path}") if name in codex_values else None
        if flags and flags.get(name) is not None:
            settings[name] = Setting(name, check_value(key, flags[name], "command line"), "flag")
        elif name in env_values:
            value, variable = env_values[name]
            settings[name] = Setting(name, value, f"env:{variable}")
        elif name in repo_values:
            repo = Setting(name, repo_values[name], f"repo:{repo_config_path}")
            settings[name] = _clamp(name, repo, codex)
        elif codex is not None:
            settings[name] = codex
        else:
            default = list(key.default) if isinstance(key.default, list) else key.default
            settings[name] = Setting(name, default, "default")

    _check_repo_writable_roots(settings, repo_root)
    return Config(settings, repo_root, repo_config_path, document, home, codex_path)


def _check_repo_writable_roots(settings: dict[str, Setting], repo_root: Path) -> None:
    """Writable roots from a repo config must stay inside the repository."""
    setting = settings["sandbox_workspace_write.writable_roots"]
    if not setting.source.startswith("repo:"):
        return
    resolved = []
    for root in setting.value:
        path = (repo_root / root).resolve()
        if path != repo_root and repo_root not in path.parents:
            raise ConfigError(
                f"{setting.source[5:]}: sandbox_workspace_write.writable_roots: {root!r} is outside the "
                "repository; only your own config (flags, environment, Codex config.toml) may add it"
            )
        resolved.append(str(path))
    settings[setting.key] = Setting(setting.key, resolved, setting.source, setting.note)
