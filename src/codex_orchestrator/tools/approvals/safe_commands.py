"""Known-safe read-only commands: what `approval_policy=untrusted` runs without asking.

The list is deliberately short and argument-aware: a command is known-safe only
if nothing in its arguments can write a file, run another program or change
the system. When in doubt the answer is "not known-safe", which only costs a
prompt. Programs must be named by their bare name: `./ls` or `/tmp/ls` could be
anything. docs/approvals.md lists what is accepted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..._lazyre import LazyPattern
from .keys import shell_script, split_script

Check = Callable[[Sequence[str]], bool]


def is_known_safe(argv: Sequence[str]) -> bool:
    """True if `argv` only reads: a listed command with harmless arguments, or a plain chain of them."""
    script = shell_script(argv)
    if script is not None:
        commands = split_script(script)
        return commands is not None and all(_is_safe_command(c) for c in commands)
    return _is_safe_command(argv)


def _is_safe_command(argv: Sequence[str]) -> bool:
    if not argv or "/" in argv[0]:
        return False
    check = _CHECKS.get(argv[0])
    return check is not None and check(argv[1:])


def _any(args: Sequence[str]) -> bool:
    return True


def _without(*options: str, short: str = "") -> Check:
    """Refuse an argument in `options` (or `--opt=...`), or a short-option cluster with a `short` letter."""

    def check(args: Sequence[str]) -> bool:
        for arg in args:
            if arg == "--":
                return True
            if arg in options or arg.split("=", 1)[0] in options:
                return False
            clustered = arg.startswith("-") and not arg.startswith("--")
            if short and clustered and any(c in short for c in arg[1:]):
                return False
        return True

    return check


def _find(args: Sequence[str]) -> bool:
    return not any(
        arg in ("-exec", "-execdir", "-ok", "-okdir", "-delete", "-fls") or arg.startswith("-fprint")
        for arg in args
    )


def _env(args: Sequence[str]) -> bool:
    return all(arg in ("-0", "--null") for arg in args)  # with a command or NAME=VALUE, env runs a program


def _uniq(args: Sequence[str]) -> bool:
    # `uniq INPUT OUTPUT` writes OUTPUT; options with values are given as --opt=N or -fN here.
    return len([a for a in args if not a.startswith("-") or a == "-"]) <= 1


_SED_PRINT = LazyPattern(r"(\d+|\$)(,(\d+|\$))?p|\$?p")


def _sed(args: Sequence[str]) -> bool:
    """Only `sed -n 'N,Mp' [FILE...]`: printing lines, the way agents page through files."""
    if len(args) < 2 or args[0] != "-n" or not _SED_PRINT.fullmatch(args[1]):
        return False
    return all(not a.startswith("-") for a in args[2:])


# ---------------------------------------------------------------------------- git

_GIT_NEVER = ("--output", "--ext-diff", "--exec", "--upload-pack", "--receive-pack", "--open-files-in-pager")
_BRANCH_FLAGS = frozenset({
    "-a", "--all", "-r", "--remotes", "-v", "-vv", "--verbose", "-l", "--list", "--show-current",
    "--no-color", "--color", "--column", "--no-column", "-i", "--ignore-case", "--omit-empty",
})
_BRANCH_WITH_VALUE = frozenset({"--merged", "--no-merged", "--contains", "--no-contains", "--points-at"})
_BRANCH_WITH_EQUALS = _BRANCH_WITH_VALUE | {"--format", "--sort", "--color"}
_CONFIG_READS = frozenset({"--get", "--get-all", "--get-regexp", "--get-urlmatch", "--list", "-l"})
_CONFIG_FLAGS = frozenset({
    "--global", "--system", "--local", "--worktree", "--show-origin", "--show-scope", "--name-only",
    "-z", "--null", "--includes", "--no-includes", "--type=bool", "--type=int", "--type=path",
    "--bool", "--int", "--path",
})


def _git_branch(args: Sequence[str]) -> bool:
    listing = any(a in ("-l", "--list") for a in args)
    expect_value = False
    for arg in args:
        if expect_value:
            expect_value = False
        elif arg in _BRANCH_WITH_VALUE:
            expect_value = True
        elif arg in _BRANCH_FLAGS or arg.split("=", 1)[0] in _BRANCH_WITH_EQUALS:
            continue
        elif arg.startswith("-") or not listing:
            return False  # -d/-D/-m/-c/-u..., or a positional name, which would create a branch
    return True


def _git_remote(args: Sequence[str]) -> bool:
    return all(a in ("-v", "--verbose") for a in args)


def _git_config(args: Sequence[str]) -> bool:
    if args and args[0] in ("list", "get"):  # the subcommand syntax of newer git
        return all(a in _CONFIG_FLAGS or not a.startswith("-") for a in args[1:])
    if not any(a in _CONFIG_READS for a in args):
        return False
    return all(a in _CONFIG_READS or a in _CONFIG_FLAGS or not a.startswith("-") for a in args)


_GIT_SUBCOMMANDS: dict[str, Check] = {
    "status": _without(*_GIT_NEVER),
    "diff": _without(*_GIT_NEVER),
    "log": _without(*_GIT_NEVER),
    "show": _without(*_GIT_NEVER),
    "rev-parse": _without(*_GIT_NEVER),
    "ls-files": _without(*_GIT_NEVER),
    "blame": _without(*_GIT_NEVER),
    "describe": _without(*_GIT_NEVER),
    "branch": _git_branch,
    "remote": _git_remote,
    "config": _git_config,
}


def _git(args: Sequence[str]) -> bool:
    """`git [--no-pager] [-C DIR] SUBCOMMAND ...`; `-c` and other global options could run programs."""
    i = 0
    while i < len(args):
        if args[i] == "--no-pager":
            i += 1
        elif args[i] == "-C" and i + 1 < len(args):
            i += 2
        else:
            break
    if i >= len(args):
        return False
    check = _GIT_SUBCOMMANDS.get(args[i])
    return check is not None and check(args[i + 1:])


_CHECKS: dict[str, Check] = {
    **dict.fromkeys(
        ("ls", "cat", "pwd", "echo", "head", "tail", "wc", "grep", "which", "whoami", "id", "uname", "true",
         "false", "stat", "du", "df", "printenv", "cut", "tr", "diff", "cmp", "basename", "dirname",
         "realpath", "readlink", "nl", "seq"),
        _any,
    ),
    "rg": _without("--pre", "--pre-glob", "--search-zip", "--hostname-bin", short="z"),
    "find": _find,
    "date": _without("--set", short="s"),
    "file": _without("--compile", short="C"),
    "tree": _without("--fromfile", short="oR"),  # -R writes 00Tree.html files
    "sort": _without("--output", "--compress-program", short="o"),
    "uniq": _uniq,
    "env": _env,
    "sed": _sed,
    "git": _git,
}

KNOWN_SAFE_PROGRAMS = tuple(sorted(_CHECKS))
