"""An `allow` rule runs only what the user meant (docs/security.md).

A Codex `allow` rule takes a command out of the sandbox: the user's statement
that, say, `git status` is trusted. But what `git status` *runs* depends on the
environment and on which `git` is found, and a repository (a stage's `env`) or
an earlier command (a `./bin/git` it wrote) controls both. So before a command
leaves the sandbox on a rule:

* the caller's environment overrides may not set anything that changes which
  program runs or what it loads (`PATH`, `LD_*`, `*_PRELOAD`, `GIT_*`, `BASH_ENV`,
  interpreter options, `HOME` ...): the command gets the user's own environment;
* every program it names must resolve, on the user's own `PATH`, to a regular
  executable file outside every writable root (a path the sandbox would let a
  command rewrite).

Otherwise it runs *inside* the sandbox, and the tool run records that the rule
was downgraded and why.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from .._lazyre import LazyPattern
from .approvals.keys import shell_script, split_script

# Variables that choose which program runs, or what it loads and executes on start.
UNSAFE_NAMES = LazyPattern(
    r"^(PATH|IFS|CDPATH|ENV|BASH_ENV|BASH_FUNC_.*|SHELLOPTS|BASHOPTS|PS4|PROMPT_COMMAND|HOME|XDG_CONFIG_HOME|"
    r"LD_.*|.*_PRELOAD|DYLD_.*|GIT_.*|PYTHON.*|NODE_OPTIONS|NODE_PATH|PERL5.*|PERLLIB|RUBY.*|GEM_.*|"
    r"LUA_.*|JAVA_TOOL_OPTIONS|_JAVA_OPTIONS|CLASSPATH|GCONV_PATH|MALLOC_.*|EDITOR|VISUAL|PAGER|GIT_PAGER|"
    r"SSH_ASKPASS|SUDO_ASKPASS)$",
    re.IGNORECASE,
)


def unsafe_overrides(overrides: Mapping[str, str], trusted: Mapping[str, str]) -> list[str]:
    """Names the caller sets that could change what a rule-allowed command runs (equal values are fine)."""
    return sorted(name for name, value in overrides.items()
                  if UNSAFE_NAMES.match(name) and trusted.get(name) != value)


def programs(argv: Sequence[str]) -> list[str]:
    """The program of every simple command `argv` runs (a plain `bash -lc` chain has several)."""
    script = shell_script(argv)
    if script is not None:
        commands = split_script(script)
        if commands is not None:
            return [command[0] for command in commands if command]
    return [argv[0]] if argv else []


def _inside(path: Path, roots: Iterable[Path]) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


def program_problem(program: str, cwd: Path, trusted_path: str, writable: Sequence[Path]) -> str | None:
    """Why `program` may not run outside the sandbox on a rule, or None when it may."""
    if "/" in program:
        found = str(cwd / program) if not os.path.isabs(program) else program
    else:
        located = shutil.which(program, path=_absolute_path(trusted_path, cwd))
        if located is None:
            return f"{program!r} is not found on your PATH"
        found = located
    real = Path(os.path.realpath(found))
    if not real.is_file() or not os.access(real, os.X_OK):
        return f"{program!r} resolves to {real}, not an executable file"
    if _inside(real, writable):
        return f"{program!r} resolves to {real}, inside a writable root (a sandboxed command could have written it)"
    return None


def _absolute_path(path: str, cwd: Path) -> str:
    """The PATH with relative entries (`.`, `bin`, empty) resolved against the working directory."""
    return os.pathsep.join(entry if os.path.isabs(entry) else str(cwd / (entry or "."))
                           for entry in path.split(os.pathsep))


def downgrade_reason(argv: Sequence[str], cwd: Path, overrides: Mapping[str, str], trusted: Mapping[str, str],
                     writable: Sequence[Path]) -> str | None:
    """None when a rule-allowed command may run outside the sandbox as it stands; else why it runs inside."""
    unsafe = unsafe_overrides(overrides, trusted)
    if unsafe:
        return f"the caller sets {', '.join(unsafe)}, which could change what runs"
    for program in programs(argv):
        problem = program_problem(program, cwd, trusted.get("PATH", os.defpath), writable)
        if problem:
            return problem
    return None
