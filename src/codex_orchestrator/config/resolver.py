"""The one configuration resolver every command uses.

Precedence, highest first: CLI flags > environment (CODEX_ORCHESTRATOR_*) >
repo config (`codex.orchestrator.json`, else `config/orchestrator.json`) >
the orchestrator's own `$CODEX_ORCHESTRATOR_HOME/config.toml` > the Codex CLI's
`$CODEX_HOME/config.toml` > built-in defaults.

One guard on top of precedence: a repo config is written by whoever wrote the
repository, so it may only tighten. Each key says how a repo may touch it
(`Key.repo`): guarded keys are compared against the value of the *trusted*
layers (flags, environment, config.toml, else the built-in default) and a looser
repo value is refused with a note; keys that could run code or send data out
(notify, otel, webhooks, environment `set`) come only from trusted layers, and a
repo config that names a program to run or an address to send data to is an error; exclude lists
may only grow. Loosening needs the user's own word: a flag, an environment
variable, or Codex's `[projects."<root>"] trust_level = "trusted"`.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._paths import resolve
from .._record import field, record
from ..errors import ConfigError
from .codex_layers import CodexDocument, parse_overrides, project_layer, trusted_projects, user_layers
from .keys import KEYS, KEYS_BY_NAME, Key
from .layers import check_value, codex_layer_values, read_env, read_home_config, read_repo_config

if TYPE_CHECKING:  # pragma: no cover
    from ..exec.env import EnvPolicy
    from ..sandbox.policy import SandboxPolicy

REPO_CONFIG_NAMES = ("codex.orchestrator.json", "config/orchestrator.json")
# Folders a repo config may never make writable: VCS metadata, agent settings, and our own run store.
REPO_PROTECTED_NAMES = (".git", ".codex", ".agents", ".runs")


@record(frozen=True)
class Setting:
    key: str
    value: Any
    source: str  # "flag" | "env:NAME" | "repo:PATH" | "home:PATH" | "codex:PATH" | "default"
    note: str | None = None


@record
class Config:
    settings: dict[str, Setting]
    repo_root: Path
    repo_config_path: Path | None
    repo_document: dict[str, Any] = field(default_factory=dict)
    codex_home: Path = Path()
    codex_config_path: Path = Path()
    home_config_path: Path = Path()  # $CODEX_ORCHESTRATOR_HOME/config.toml
    project_trusted: bool = False  # `[projects."<root>"] trust_level = "trusted"` in config.toml
    profile: str | None = None  # `-p/--profile NAME`: $CODEX_HOME/NAME.config.toml is layered on config.toml
    project_config_path: Path | None = None  # a trusted project's .codex/config.toml, when it was read
    layers: list[str] = field(default_factory=list)  # the Codex layers read, lowest precedence first
    bypass: bool = False  # --dangerously-bypass-approvals-and-sandbox

    def get(self, key: str) -> Any:
        return self.settings[key].value

    def sources(self) -> dict[str, str]:
        return {key: setting.source for key, setting in self.settings.items()}

    def sandbox_policy(self, *, mode: str | None = None, protected: tuple[Path, ...] = ()) -> SandboxPolicy:
        from ..sandbox.policy import SandboxMode, SandboxPolicy

        roots = tuple(Path(root) for root in self.get("sandbox_workspace_write.writable_roots"))
        return SandboxPolicy(
            mode=SandboxMode(mode or self.get("sandbox_mode")),
            writable_roots=roots,
            network_access=bool(self.get("sandbox_workspace_write.network_access")),
            exclude_tmpdir_env_var=bool(self.get("sandbox_workspace_write.exclude_tmpdir_env_var")),
            exclude_slash_tmp=bool(self.get("sandbox_workspace_write.exclude_slash_tmp")),
            protected_paths=protected,
        )


    def rules_layers(self) -> list[tuple[Path, bool]]:
        """Codex rules folders, lowest precedence first, each with whether its `allow` rules count:
        `$CODEX_HOME/rules` always; the project's `.codex/rules` too, whose `allow` rules (and
        host_executable entries) count only in a trusted project: an untrusted repository may add
        `prompt`/`forbidden` rules, never take a command out of the sandbox (docs/security.md)."""
        layers = [(self.codex_home / "rules", True)]
        project = self.repo_root / ".codex" / "rules"
        if not project.is_symlink():
            layers.append((project, self.project_trusted))
        return [(folder, allow) for folder, allow in layers if folder.is_dir()]

    def env_policy(self) -> EnvPolicy:
        """The effective `shell_environment_policy` (docs/configuration.md)."""
        from ..exec.env import EnvPolicy

        prefix = "shell_environment_policy."
        return EnvPolicy(
            inherit=self.get(prefix + "inherit"),
            ignore_default_excludes=bool(self.get(prefix + "ignore_default_excludes")),
            exclude=tuple(self.get(prefix + "exclude")),
            include_only=tuple(self.get(prefix + "include_only")),
            set=dict(self.get(prefix + "set")),
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


def orchestrator_home(env: Mapping[str, str]) -> Path:
    """`$CODEX_ORCHESTRATOR_HOME`, else `~/.codex-orchestrator`: the approval store and our own config.toml."""
    value = env.get("CODEX_ORCHESTRATOR_HOME")
    if value:
        return Path(value).expanduser()
    base = env.get("HOME")
    return (Path(base) if base else Path.home()) / ".codex-orchestrator"


def _trusted(key: Key, flags: Mapping[str, Any] | None, env_values: dict[str, tuple[Any, str]],
             codex_values: dict[str, tuple[Any, str]], overrides: dict[str, Any],
             home: tuple[dict[str, Any], Path] = ({}, Path())) -> tuple[Setting, bool]:
    """The value from the trusted layers only, and whether the user set it explicitly (flag, -c or env)."""
    name = key.name
    if flags and flags.get(name) is not None:
        return Setting(name, check_value(key, flags[name], "command line"), "flag"), True
    if name in overrides:
        return Setting(name, overrides[name], "flag:-c"), True
    if name in env_values:
        value, variable = env_values[name]
        return Setting(name, value, f"env:{variable}"), True
    if name in home[0]:
        return Setting(name, home[0][name], f"home:{home[1]}"), False
    if name in codex_values:
        value, where = codex_values[name]
        return Setting(name, value, f"codex:{where}"), False
    default = list(key.default) if isinstance(key.default, list) else dict(key.default) \
        if isinstance(key.default, dict) else key.default
    return Setting(name, default, "default"), False


def _guard(key: Key, repo: Setting, trusted: Setting, *, project_trusted: bool) -> Setting:
    """What a repo config may do to one key (docs/security.md): the result is never looser than `trusted`,
    unless the user marked the project trusted in config.toml."""
    refused = f"repo config asked for {repo.value!r}"
    if key.repo == "trusted":
        return Setting(key.name, trusted.value, trusted.source,
                       f"{refused}; only your own config (flags, environment, $CODEX_HOME/config.toml) may set "
                       f"{key.name}: a repository could use it to run code or send data outside the sandbox")
    if key.repo == "add":
        added = [item for item in repo.value if item not in trusted.value]
        return Setting(key.name, [*trusted.value, *added], repo.source,
                       f"{trusted.source} plus the repo's {added!r}" if trusted.value and added else None)
    if key.repo == "lower":
        def bound(value: Any) -> float:
            return float("inf") if value == 0 else float(value)

        if bound(repo.value) > bound(trusted.value) and not project_trusted:
            return Setting(key.name, trusted.value, trusted.source,
                           f"{refused}; a repo config may only lower this bound (it keeps the disk from filling)")
        return repo
    if key.repo == "tighten" and key.permissiveness is not None:
        order = key.permissiveness
        if order.index(repo.value) > order.index(trusted.value):
            if project_trusted:
                return Setting(key.name, repo.value, repo.source,
                               f"loosened from {trusted.value!r}: the project is trusted in your config.toml")
            where = "your global choice" if trusted.source.startswith(("codex:", "home:")) else "the default"
            return Setting(key.name, trusted.value, trusted.source,
                           f"{refused}; a repo config may tighten, never loosen, {where} (mark the project "
                           "trusted in config.toml, or pass a flag, to loosen it)")
    return repo


def _project_trusted(trusted_projects: frozenset[str], repo_root: Path, cwd: Path) -> bool:
    """Codex's trust entry names the project by absolute path: the repo root or the working directory."""
    if not trusted_projects:
        return False
    names = {os.path.realpath(name) for name in trusted_projects if os.path.isabs(name)}
    return str(repo_root) in names or str(cwd) in names


def load_config(
    cwd: Path | None = None,
    flags: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    *,
    profile: str | None = None,
    overrides: Sequence[str] = (),
) -> Config:
    """Resolve every setting for a command started in `cwd`.

    `flags` holds only the options the user actually gave, keyed by setting name;
    `profile` is `-p NAME` and `overrides` the `-c key=value` items, as in Codex.
    """
    env = os.environ if env is None else env
    cwd = resolve(cwd or Path.cwd())
    repo_root, repo_config_path = _repo(cwd, env)
    home = codex_home(env)
    codex_path = home / "config.toml"
    codex_docs, user_table = user_layers(home, profile)
    trusted_projects_ = trusted_projects(user_table)
    for layer in codex_docs[1:]:
        trusted_projects_ |= trusted_projects(layer.table)
    project_trusted = _project_trusted(trusted_projects_, repo_root, cwd)
    project = project_layer(repo_root) if project_trusted else None
    codex_values, project_notes = _codex_values(codex_docs, project)
    override_values = codex_layer_values(parse_overrides(overrides, cwd), all_keys=True) if overrides else {}
    home_path = orchestrator_home(env) / "config.toml"
    home_values = read_home_config(home_path)
    repo_values, document = read_repo_config(repo_config_path) if repo_config_path else ({}, {})
    _refuse_repo_targets(repo_values, repo_config_path)
    env_values = read_env(env)

    settings: dict[str, Setting] = {}
    for key in KEYS:
        trusted, explicit = _trusted(key, flags, env_values, codex_values, override_values, (home_values, home_path))
        if key.name in project_notes:
            trusted = Setting(key.name, trusted.value, trusted.source, project_notes[key.name])
        if key.name in repo_values and not explicit:
            repo = Setting(key.name, repo_values[key.name], f"repo:{repo_config_path}")
            settings[key.name] = _guard(key, repo, trusted, project_trusted=project_trusted)
        else:
            settings[key.name] = trusted

    _check_repo_writable_roots(settings, repo_root)
    layers = [d.where for d in codex_docs] + ([project.where] if project else []) + (["-c"] if overrides else [])
    return Config(settings, repo_root, repo_config_path, document, home, codex_path, home_path,
                  project_trusted=project_trusted, profile=profile,
                  project_config_path=Path(project.where) if project else None, layers=layers)


_CACHE_SIZE = 16
_cached: dict[tuple[Any, ...], tuple[tuple[str, ...], tuple[Any, ...], Config]] = {}
_cached_lock = threading.Lock()


def load_config_cached(cwd: Path, flags: Mapping[str, Any], env: Mapping[str, str]) -> Config:
    """`load_config` for a long-lived process that resolves the same folders again and again (`serve`, the
    Python API): a copy of the last result for the same folder, flags and environment while every file it
    came from, or could have come from, is unchanged (`_sources`: each is `stat`ed, about 30 us in all,
    against 250 us to resolve). A file created, removed, edited or replaced anywhere in that list is read
    afresh at the next call, so a repo that tightens its config mid-session is obeyed from its next call.
    The files are `stat`ed *before* they are read: one changed meanwhile only costs a second read."""
    cwd = resolve(cwd)
    key = (str(cwd), repr(sorted(flags.items())), frozenset(env.items()))
    paths, stamp, root = _sources(cwd, env)
    with _cached_lock:
        hit = _cached.get(key)
    if hit is not None and hit[0] == paths and hit[1] == stamp:
        return _copy(hit[2])
    config = load_config(cwd, flags, env)
    if config.repo_root == root:  # as `_sources` found it (else a folder changed meanwhile: not kept)
        with _cached_lock:
            _cached.pop(key, None)
            _cached[key] = (paths, stamp, config)
            while len(_cached) > _CACHE_SIZE:
                del _cached[next(iter(_cached))]
    return _copy(config)


def _sources(cwd: Path, env: Mapping[str, str]) -> tuple[tuple[str, ...], tuple[Any, ...], Path]:
    """Every path `load_config(cwd, flags, env)` looks at (no profile, no `-c`), what each is now, and the
    project root they give: the repo configs and `.git` of each folder from `cwd` up to where the root
    search stops (as `find_repo_root`, from the same `stat`s), the Codex and orchestrator config files, and
    the project's `.codex/config.toml` (read when trusted)."""
    paths: list[str] = []
    stamps: list[Any] = []

    def probe(path: Path) -> os.stat_result | None:
        """Record `path`: gone (None, a dangling link too), or its identity, size and mtime, a link told
        from its target. Returns what it names."""
        paths.append(str(path))
        try:
            info = os.lstat(path)
            target = os.stat(path) if stat.S_ISLNK(info.st_mode) else info
        except OSError:
            stamps.append(None)
            return None
        stamps.append((info.st_ino, info.st_mode, target.st_ino, target.st_size, target.st_mtime_ns))
        return target

    override = env.get("CODEX_ORCHESTRATOR_ROOT")
    root = Path(override).resolve() if override else cwd  # no repository found: the folder itself
    for folder in (root,) if override else (cwd, *cwd.parents):
        configs = [probe(folder / name) for name in REPO_CONFIG_NAMES]
        git = probe(folder / ".git")
        if override:
            break
        if any(found is not None and stat.S_ISREG(found.st_mode) for found in configs) or git is not None:
            root = folder
            break
    for path in (codex_home(env) / "config.toml", orchestrator_home(env) / "config.toml",
                 root / ".codex" / "config.toml"):
        probe(path)
    return tuple(paths), tuple(stamps), root


def _copy(config: Config) -> Config:
    """A copy whose settings a caller may change without changing the cached one."""
    fresh = object.__new__(Config)
    fresh.__dict__.update(config.__dict__, settings=dict(config.settings))
    return fresh


def _repo(cwd: Path, env: Mapping[str, str]) -> tuple[Path, Path | None]:
    root_override = env.get("CODEX_ORCHESTRATOR_ROOT")
    if not root_override:
        return find_repo_root(cwd)
    repo_root = Path(root_override).resolve()
    if not repo_root.is_dir():
        raise ConfigError(f"environment variable CODEX_ORCHESTRATOR_ROOT: {root_override!r} is not a directory")
    return repo_root, next((repo_root / name for name in REPO_CONFIG_NAMES if (repo_root / name).is_file()), None)


def _codex_values(documents: list[CodexDocument], project: CodexDocument | None) -> tuple[
        dict[str, tuple[Any, str]], dict[str, str]]:
    """{key: (value, file)} over the Codex layers, later layers winning; and notes for project keys refused.

    A trusted project's `.codex/config.toml` is a Codex layer above the user's, but the keys that
    could run code or send data outside the sandbox (`repo = "trusted"`) still come only from your
    own files: a repository, even one you trust, does not choose them (stricter than Codex).
    """
    values: dict[str, tuple[Any, str]] = {}
    notes: dict[str, str] = {}
    for document in documents:
        values.update({k: (v, document.where) for k, v in codex_layer_values(document).items()})
    if project is not None:
        for k, v in codex_layer_values(project).items():
            if KEYS_BY_NAME[k].repo in ("trusted", "never"):
                notes[k] = (f"{project.where} asked for {v!r}; only your own config (flags, environment, "
                            f"$CODEX_HOME) may set {k}: a repository could use it to run code outside the sandbox")
                continue
            values[k] = (v, project.where)
    return values, notes


def _refuse_repo_targets(repo_values: Mapping[str, Any], path: Path | None) -> None:
    """A repo config that names a program to run or an address to send run data to (`Key.repo == "never"`)
    is refused outright, even in a trusted project: it would run code, or send the run's commands and
    results, outside the sandbox (docs/security.md)."""
    for key in KEYS:
        if key.repo == "never" and key.name in repo_values:
            raise ConfigError(
                f"{path}: {key.name}: a repository config may not set this (it would run a program or send run "
                "data outside the sandbox); set it in your own config: flags, environment, "
                "$CODEX_ORCHESTRATOR_HOME/config.toml or $CODEX_HOME/config.toml, and remove it from the repo")


def _check_repo_writable_roots(settings: dict[str, Setting], repo_root: Path) -> None:
    """Writable roots from a repo config must stay inside the repository."""
    setting = settings["sandbox_workspace_write.writable_roots"]
    if not setting.source.startswith("repo:"):
        return
    resolved = []
    for root in setting.value:
        path = (repo_root / root).resolve()
        where = f"{setting.source[5:]}: sandbox_workspace_write.writable_roots: {root!r}"
        if path != repo_root and repo_root not in path.parents:
            raise ConfigError(f"{where} is outside the repository; only your own config (flags, environment, "
                              "Codex config.toml) may add it")
        inside = path.relative_to(repo_root).parts
        if any(part in REPO_PROTECTED_NAMES for part in inside):
            raise ConfigError(f"{where} names a protected path ({', '.join(REPO_PROTECTED_NAMES)} stay "
                              "read-only inside the sandbox)")
        resolved.append(str(path))
    settings[setting.key] = Setting(setting.key, resolved, setting.source, setting.note)
