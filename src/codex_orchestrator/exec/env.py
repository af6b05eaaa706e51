"""The environment a command sees: the user's `shell_environment_policy`, then quiet defaults, then overrides.

1. **The policy** mirrors Codex's `[shell_environment_policy]` (codex-rs/protocol/src/shell_environment.rs)
   step for step, so a Codex user's settings mean the same here: start from `inherit` (all, core or
   none), drop the default excludes (`*KEY*`, `*SECRET*`, `*TOKEN*`) unless `ignore_default_excludes`
   (true by default, as in Codex), drop `exclude` patterns, add `set`, then keep only `include_only`
   patterns if any. Patterns are shell-style globs matched case-insensitively. The policy comes from
   the user's config (a repo config may only add excludes, docs/security.md), and is applied once per
   orchestrator, not per command.
2. **Quiet defaults.** Output is read by a program, not a person, so colours and pagers only get in
   the way: a pager waiting for a keypress would hang the run. In pipes mode there is no terminal, so
   `TERM=dumb`; in a PTY a real terminal type keeps full-screen and line-editing programs working.
3. **Overrides** (a stage's `env`, `exec --env`) always win: a stage that sets `TERM` or `LANG` means it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from .._record import field, record

QUIET_DEFAULTS: dict[str, str] = {
    "NO_COLOR": "1",
    "PAGER": "cat",
    "GIT_PAGER": "cat",
    "LANG": "C.UTF-8",
}
PTY_TERM = "xterm-256color"
# Codex's UNIX_CORE_ENV_VARS, matched case-insensitively as Codex does.
CORE_VARS = frozenset({"PATH", "SHELL", "TMPDIR", "TEMP", "TMP", "HOME", "LANG", "LC_ALL", "LC_CTYPE",
                       "LOGNAME", "USER"})
DEFAULT_EXCLUDES = ("*KEY*", "*SECRET*", "*TOKEN*")
NETWORK_DISABLED = "CODEX_SANDBOX_NETWORK_DISABLED"


@record(frozen=True)
class EnvPolicy:
    inherit: str = "all"  # "all" | "core" | "none"
    ignore_default_excludes: bool = True
    exclude: tuple[str, ...] = ()
    include_only: tuple[str, ...] = ()
    set: dict[str, str] = field(default_factory=dict)



def _matcher(patterns: Iterable[str]) -> Callable[[str], bool]:
    import fnmatch
    import re

    compiled = [re.compile(fnmatch.translate(p.upper())) for p in patterns]
    return lambda name: any(c.match(name.upper()) for c in compiled)


def apply_policy(base: Mapping[str, str], policy: EnvPolicy) -> dict[str, str]:
    """Codex's five steps; returns a new mapping (the caller's environment is never changed)."""
    if policy.inherit == "none":
        env: dict[str, str] = {}
    elif policy.inherit == "core":
        env = {name: value for name, value in base.items() if name.upper() in CORE_VARS}
    else:
        env = dict(base)
    drops: list[str] = [] if policy.ignore_default_excludes else list(DEFAULT_EXCLUDES)
    drops += policy.exclude
    if drops:
        drop = _matcher(drops)
        env = {name: value for name, value in env.items() if not drop(name)}
    env.update(policy.set)
    if policy.include_only:
        keep = _matcher(policy.include_only)
        env = {name: value for name, value in env.items() if keep(name)}
    return env


def child_env(base: Mapping[str, str], overrides: Mapping[str, str] | None, *, pty: bool,
              network_disabled: bool = False) -> dict[str, str]:
    """`base` (already filtered by the policy) + quiet defaults + the caller's overrides.

    With `network_disabled` (a sandbox that blocks the network), `CODEX_SANDBOX_NETWORK_DISABLED=1`
    is set last, as Codex sets it: test suites read it to skip network tests, and no override may
    pretend the network is there.
    """
    env = dict(base)
    env.update(QUIET_DEFAULTS)
    env["TERM"] = (base.get("TERM") or PTY_TERM) if pty else "dumb"
    if overrides:
        env.update(overrides)
    if network_disabled:
        env[NETWORK_DISABLED] = "1"
    else:
        env.pop(NETWORK_DISABLED, None)
    return env
