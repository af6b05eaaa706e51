"""Canonical commands and approval cache keys.

The same command reaches us in several spellings: `"ls -la"`, `["ls", "-la"]`,
`["bash", "-lc", "ls -la"]`. An approval given for one must hold for the others,
and a Codex rule written for `ls` must see `ls`, so every spelling is reduced to
one argv before rules, the known-safe list or the approval store look at it.

Only a *plain* script is unwrapped: words, quotes and the separators `&&`, `||`,
`;`, `|` and newlines. Anything bash would expand or redirect (`$`, backticks,
globs, `~`, braces, `<`, `>`, `&`, subshells, assignments, reserved words) makes
the script opaque: it keeps its wrapper verbatim, so that nothing we cannot read
is ever judged by the words we think we see.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from ..._hash import sha256
from ..._lazyre import LazyPattern

SHELLS = frozenset({"bash", "sh", "zsh", "dash"})
# A shell named by path only counts from the system directories: `./bash -lc ls` is not `ls`.
SHELL_DIRS = ("", "/bin/", "/usr/bin/", "/usr/local/bin/")
SCRIPT_FLAGS = frozenset({"-c", "-lc", "-cl"})

# Unquoted characters that make bash do more than split words.
_EXPANDING = frozenset("<>()`$*?[]{}~#!&")
_RESERVED = frozenset({
    "!", "{", "}", "[[", "]]", "if", "then", "else", "elif", "fi", "case", "esac", "for", "select",
    "while", "until", "do", "done", "in", "function", "time", "coproc",
})
_ASSIGNMENT = LazyPattern(r"[A-Za-z_][A-Za-z0-9_]*\+?=")
_SPACE = " \t"

KEY_VERSION = "approval-key/1"


def shell_script(argv: Sequence[str]) -> str | None:
    """The script of a `bash -lc SCRIPT` / `sh -c SCRIPT` wrapper, or None if `argv` is not one."""
    if len(argv) != 3 or argv[1] not in SCRIPT_FLAGS:
        return None
    program = argv[0]
    head, _, name = program.rpartition("/")
    if name not in SHELLS or (head + "/" if head else "") not in SHELL_DIRS:
        return None
    return argv[2]


def split_script(script: str) -> list[list[str]] | None:
    """Split a plain shell script into its simple commands, or None if it is not plain.

    `git status && ls -la | wc -l` gives `[["git", "status"], ["ls", "-la"], ["wc", "-l"]]`.
    Quoting follows bash (single quotes are literal; in double quotes a backslash
    escapes only `"`, `\\` and newline); `$` and backticks are refused even inside
    double quotes, because bash expands them there.
    """
    commands: list[list[str]] = []
    words: list[str] = []
    word: list[str] = []
    in_word = False  # true once a word has started, even an empty quoted one ('')
    i, n = 0, len(script)

    def end_word() -> None:
        nonlocal in_word
        if in_word:
            words.append("".join(word))
            word.clear()
            in_word = False

    def end_command() -> bool:
        end_word()
        if not words:
            return False  # `; ls`, `ls &&`, `a || | b`: an empty command is not plain
        commands.append(list(words))
        words.clear()
        return True

    while i < n:
        c = script[i]
        if c == "'":
            close = script.find("'", i + 1)
            if close < 0:
                return None
            word.append(script[i + 1:close])
            in_word = True
            i = close + 1
        elif c == '"':
            i += 1
            while True:
                if i >= n:
                    return None
                d = script[i]
                if d == '"':
                    break
                if d in "$`":
                    return None
                if d == "\\" and i + 1 < n and script[i + 1] in '"\\\n$`':
                    if script[i + 1] != "\n":
                        word.append(script[i + 1])
                    i += 2
                    continue
                word.append(d)
                i += 1
            in_word = True
            i += 1
        elif c == "\\":
            if i + 1 >= n:
                return None
            if script[i + 1] != "\n":  # backslash-newline is a line continuation
                word.append(script[i + 1])
                in_word = True
            i += 2
        elif c in _SPACE:
            end_word()
            i += 1
        elif c in ";\n":
            if c == ";" and script.startswith(";;", i):
                return None
            if c == "\n" and not words and not in_word:
                i += 1  # blank lines between commands are fine
                continue
            if not end_command():
                return None
            i += 1
        elif c == "|" or script.startswith("&&", i):
            if script.startswith("|&", i):
                return None
            if not end_command():
                return None
            i += 2 if script.startswith(("||", "&&"), i) else 1
        elif c in _EXPANDING:
            return None
        else:
            word.append(c)
            in_word = True
            i += 1
    end_word()
    if words:
        commands.append(list(words))
    elif commands and script.rstrip(" \t\n").endswith(("|", "&&")):
        return None  # a dangling operator
    if not commands:
        return None
    for argv in commands:
        if argv[0] in _RESERVED or _ASSIGNMENT.match(argv[0]):
            return None
    return commands


def canonical_argv(command: Sequence[str] | str) -> list[str]:
    """One argv for every spelling of a command (see the module docstring).

    A shell string that is one plain command becomes its words; any other shell
    string becomes `["bash", "-lc", string]`. An argv that wraps one plain command
    in `bash -lc` / `sh -c` is unwrapped (repeatedly); other argvs are returned as given.
    """
    if isinstance(command, str):
        commands = split_script(command)
        if commands is not None and len(commands) == 1:
            return canonical_argv(commands[0])
        return ["bash", "-lc", command] if command.strip() else []
    argv = list(command)
    script = shell_script(argv)
    if script is not None:
        commands = split_script(script)
        if commands is not None and len(commands) == 1:
            return canonical_argv(commands[0])  # the script is shorter each time, so this ends
    return argv


def approval_key(argv: Sequence[str] | str, cwd: Path, escalated: bool) -> str:
    """`sha256:<hex>` of the canonical argv, the resolved cwd and whether it runs outside the sandbox.

    The key is what events and manifests record: it identifies an approval
    without carrying the command's environment. The JSON is versioned and
    ASCII-only so that the same approval hashes the same on every machine and
    for file names that are not valid UTF-8.
    """
    payload = json.dumps([KEY_VERSION, canonical_argv(argv), str(cwd.resolve()), bool(escalated)],
                         separators=(",", ":"), ensure_ascii=True)
    return "sha256:" + sha256(payload.encode("ascii")).hexdigest()
