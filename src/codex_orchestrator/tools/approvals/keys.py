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
from ..._paths import resolve

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
    try:
        commands = _Splitter(script).split()
    except _NotPlain:
        return None
    for argv in commands:
        if argv[0] in _RESERVED or _ASSIGNMENT.match(argv[0]):
            return None
    return commands


class _NotPlain(Exception):
    """Something bash would do more with than split words: the script stays opaque."""


class _Splitter:
    """One pass over a script: each method reads one token kind at `self.i` and moves past it."""

    def __init__(self, script: str) -> None:
        self.script = script
        self.i = 0
        self.commands: list[list[str]] = []
        self.words: list[str] = []
        self.word: list[str] = []
        self.in_word = False  # true once a word has started, even an empty quoted one ('')

    def split(self) -> list[list[str]]:
        script = self.script
        while self.i < len(script):
            c = script[self.i]
            if c == "'":
                self._single_quoted()
            elif c == '"':
                self._double_quoted()
            elif c == "\\":
                self._escaped()
            elif c in _SPACE:
                self._end_word()
                self.i += 1
            elif c in ";\n":
                self._separator(c)
            elif c == "|" or script.startswith("&&", self.i):
                self._operator()
            elif c in _EXPANDING:
                raise _NotPlain
            else:
                self._take(c, 1)
        self._end_word()
        if self.words:
            self.commands.append(list(self.words))
        elif self.commands and script.rstrip(" \t\n").endswith(("|", "&&")):
            raise _NotPlain  # a dangling operator
        if not self.commands:
            raise _NotPlain
        return self.commands

    def _take(self, text: str, length: int) -> None:
        """`text` joins the current word; `length` characters of the script are consumed."""
        self.word.append(text)
        self.in_word = True
        self.i += length

    def _single_quoted(self) -> None:
        close = self.script.find("'", self.i + 1)
        if close < 0:
            raise _NotPlain
        self._take(self.script[self.i + 1:close], close + 1 - self.i)

    def _double_quoted(self) -> None:
        script, i = self.script, self.i + 1
        while True:
            if i >= len(script):
                raise _NotPlain
            d = script[i]
            if d == '"':
                break
            if d in "$`":
                raise _NotPlain
            if d == "\\" and i + 1 < len(script) and script[i + 1] in '"\\\n$`':
                if script[i + 1] != "\n":
                    self.word.append(script[i + 1])
                i += 2
                continue
            self.word.append(d)
            i += 1
        self.in_word = True
        self.i = i + 1

    def _escaped(self) -> None:
        if self.i + 1 >= len(self.script):
            raise _NotPlain
        if self.script[self.i + 1] == "\n":  # backslash-newline is a line continuation
            self.i += 2
        else:
            self._take(self.script[self.i + 1], 2)

    def _separator(self, c: str) -> None:
        if c == ";" and self.script.startswith(";;", self.i):
            raise _NotPlain
        if not (c == "\n" and not self.words and not self.in_word):  # blank lines between commands are fine
            self._end_command()
        self.i += 1

    def _operator(self) -> None:
        if self.script.startswith("|&", self.i):
            raise _NotPlain
        self._end_command()
        self.i += 2 if self.script.startswith(("||", "&&"), self.i) else 1

    def _end_word(self) -> None:
        if self.in_word:
            self.words.append("".join(self.word))
            self.word.clear()
            self.in_word = False

    def _end_command(self) -> None:
        self._end_word()
        if not self.words:
            raise _NotPlain  # `; ls`, `ls &&`, `a || | b`: an empty command is not plain
        self.commands.append(list(self.words))
        self.words.clear()


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
    payload = json.dumps([KEY_VERSION, canonical_argv(argv), str(resolve(cwd)), bool(escalated)],
                         separators=(",", ":"), ensure_ascii=True)
    return "sha256:" + sha256(payload.encode("ascii")).hexdigest()
