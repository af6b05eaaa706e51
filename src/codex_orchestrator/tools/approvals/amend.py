"""Store an `allow` prefix rule in `$CODEX_HOME/rules/default.rules`, in the form Codex itself writes.

When a person answers `approved_always` to a command that came with a `prefix_rule` (Codex's
`exec_command` argument), the rule goes where Codex puts the rules you accept in its TUI, one line each:

    prefix_rule(pattern=["git", "pull"], decision="allow")

The tokens are JSON strings joined by ", " (a JSON string is a valid Starlark string). Codex and we may
write the file at the same time, so we follow Codex's own protocol: an exclusive `flock` on the file
itself, a line that is already there is not written twice, and the line is appended with one `write`
(a `kill -9` cannot tear a single write to a regular file, so the file is always a valid rules file).
A rules file that is a symbolic link is never written through.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
from collections.abc import Sequence
from pathlib import Path

from ...errors import RulesError, UsageError

RULES_FILE = "default.rules"
# A one-word prefix of these would allow any program at all (`bash -c ...`, `python -c ...`, `sudo ...`).
TOO_BROAD = frozenset({
    "bash", "sh", "zsh", "dash", "fish", "ksh", "env", "sudo", "doas", "su", "exec", "eval", "command", "nohup",
    "xargs", "timeout", "nice", "setsid", "stdbuf", "time", "python", "python3", "node", "perl", "ruby", "php",
    "deno", "bun", "npx", "uv", "uvx", "pipx", "busybox",
})


def rule_line(prefix: Sequence[str]) -> str:
    """The one line Codex writes for an `allow` prefix rule."""
    return f"prefix_rule(pattern=[{', '.join(json.dumps(word) for word in prefix)}], decision=\"allow\")"


def check_prefix(prefix: Sequence[str], commands: Sequence[Sequence[str]]) -> str | None:
    """Why `prefix` may not become a rule for a command made of `commands` (its simple commands), or None."""
    if not prefix or not all(isinstance(word, str) and word and "\n" not in word for word in prefix):
        return "prefix_rule must be non-empty words without newlines"
    if len(prefix) == 1 and os.path.basename(prefix[0]) in TOO_BROAD:
        return f"prefix_rule {list(prefix)!r} is too broad: it would allow any command run through {prefix[0]}"
    if not any(list(command[:len(prefix)]) == list(prefix) for command in commands):
        return f"prefix_rule {list(prefix)!r} is not a prefix of the command"
    return None


def append_prefix_rule(codex_home: Path, prefix: Sequence[str]) -> Path:
    """Add the rule to `codex_home/rules/default.rules` (created if needed); returns the file's path.

    The line is checked by our rules parser before it is written: a file we wrote always loads."""
    from .rules import parse_rules

    line = rule_line(prefix)
    parse_rules(line, "<new rule>")  # a RulesError here is a bug in rule_line, never a broken file
    folder = codex_home / "rules"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{folder}: cannot create the Codex rules folder: {exc.strerror}") from None
    path = folder / RULES_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        why = "it is a symbolic link" if exc.errno == errno.ELOOP else exc.strerror
        raise RulesError(f"{path}: cannot add a rule: {why}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        contents = _read_all(fd)
        if line in contents.decode("utf-8", "replace").splitlines():
            return path
        data = ("\n" if contents and not contents.endswith(b"\n") else "") + line + "\n"
        os.write(fd, data.encode("utf-8"))
        os.fsync(fd)
    except OSError as exc:
        raise RulesError(f"{path}: cannot add a rule: {exc.strerror}") from None
    finally:
        os.close(fd)  # releases the lock
    return path


def _read_all(fd: int) -> bytes:
    chunks = []
    offset = 0
    while chunk := os.pread(fd, 1 << 16, offset):
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)
