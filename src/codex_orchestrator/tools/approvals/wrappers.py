"""See through the wrappers a command hides behind, for `forbidden` and `prompt` rules only.

`env FOO=1 rm -rf x`, `nice -n 5 rm -rf x`, `timeout 10 rm -rf x`, `command rm`,
`exec rm`, `nohup rm`, `time rm`, `stdbuf -o0 rm`, `setsid rm` and `/usr/bin/rm`
all run `rm`. A rule that forbids `rm` must catch them, so the rules engine also
judges every *inner* command found here; stricter is fine. An `allow` rule is
never granted through a wrapper or a path (Codex matches `allow` on the argv as
given, and so do we): a wrapper could change what the command does.

Not caught, on purpose (docs/approvals.md): `xargs rm`, `find -exec rm`, `sh
script.sh`, interpreters running a script, `eval`, anything built at run time.
Those are opaque to any static reading; the sandbox still confines them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..._lazyre import LazyPattern

_ASSIGNMENT = LazyPattern(r"[A-Za-z_][A-Za-z0-9_]*=")
_DURATION = LazyPattern(r"\d+(\.\d+)?[smhd]?")

# wrapper -> options that take a separate argument
_WRAPPERS: dict[str, frozenset[str]] = {
    "env": frozenset({"-u", "--unset", "-C", "--chdir", "-S", "--split-string"}),
    "command": frozenset(),
    "exec": frozenset({"-a"}),
    "nice": frozenset({"-n", "--adjustment"}),
    "nohup": frozenset(),
    "time": frozenset({"-f", "--format", "-o", "--output"}),
    "timeout": frozenset({"-k", "--kill-after", "-s", "--signal"}),
    "stdbuf": frozenset({"-i", "-o", "-e", "--input", "--output", "--error"}),
    "setsid": frozenset(),
    "sudo": frozenset({"-u", "--user", "-g", "--group", "-C", "-h", "-p", "-r", "-t", "-U"}),
    "doas": frozenset({"-u", "-C"}),
    "chrt": frozenset(),
    "ionice": frozenset({"-c", "-n", "-p", "--class", "--classdata"}),
}


def _base(word: str) -> str:
    return word.rsplit("/", 1)[-1] if "/" in word else word


def _peel(argv: Sequence[str]) -> list[str] | None:
    """The command a wrapper runs, or None if `argv` is not a wrapper we understand."""
    name = _base(argv[0])
    if name not in _WRAPPERS:
        return None
    takes_value = _WRAPPERS[name]
    i = 1
    while i < len(argv):
        word = argv[i]
        if word == "--":
            i += 1
            break
        if word.startswith("-") and word != "-":
            i += 2 if word in takes_value else 1
            continue
        if name == "env" and _ASSIGNMENT.match(word):
            i += 1
            continue
        break
    if name == "timeout" and i < len(argv) and _DURATION.fullmatch(argv[i]):
        i += 1  # the duration
    if name == "nice" and i < len(argv) and re.fullmatch(r"-?\d+", argv[i]):
        i += 1
    return list(argv[i:]) or None


def inner_commands(argv: Sequence[str]) -> list[list[str]]:
    """Every command `argv` runs once wrappers are peeled and paths reduced to program names (argv
    itself excluded). `["env", "X=1", "/usr/bin/rm", "-rf", "a"]` gives `[["rm", "-rf", "a"]]` and
    `[["/usr/bin/rm", "-rf", "a"]]`."""
    found: list[list[str]] = []
    current = list(argv)
    for _ in range(8):  # wrappers of wrappers, bounded
        if not current:
            break
        if "/" in current[0]:
            found.append([_base(current[0]), *current[1:]])
        peeled = _peel(current)
        if peeled is None:
            break
        found.append(peeled)
        current = peeled
    return found
