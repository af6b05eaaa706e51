"""Codex's built-in dangerous-command check (shell-command/src/command_safety/is_dangerous_command.rs).

With no rule speaking to it, a command Codex calls dangerous is never run without
asking: it prompts, and under `approval_policy = never` it is refused. Today
Codex names one kind: `rm` with a force option (`-f`, `-rf`, `-fr`, `-r -f`,
`--force`, a flag group containing `f`, before any `--`), also behind `sudo`, by
path (`/bin/rm`), and anywhere a shell script names it literally (`printf x |
rm -rf y`, inside `if`/`for`, `$(...)`). We look at the same places, and since
we cannot parse every script as a bash grammar does, scripts we cannot read are
searched word by word: a stricter reading, never a looser one.
"""

from __future__ import annotations

from collections.abc import Sequence

REASON = "Codex's built-in check: `rm` with a force option deletes without asking; approve it explicitly"


def _forced_rm(argv: Sequence[str]) -> bool:
    for word in argv:
        if word == "--":
            return False
        if word == "--force" or (word.startswith("-") and not word.startswith("--") and "f" in word[1:]):
            return True
    return False


def _dangerous_exec(argv: Sequence[str]) -> bool:
    for _ in range(8):  # sudo sudo rm -f ...: bounded
        if not argv:
            return False
        name = argv[0].rsplit("/", 1)[-1]
        if name == "rm":
            return _forced_rm(argv[1:])
        if name != "sudo":
            return False
        argv = argv[1:]
    return False


def is_dangerous(command: Sequence[str] | str) -> bool:
    """True when Codex's check (or our stricter reading of a script) finds a forced `rm`."""
    from .keys import canonical_argv, shell_script, split_script

    argv = canonical_argv(command)
    candidates: list[list[str]] = [argv]
    if not isinstance(command, str):
        candidates.append(list(command))
    for words in list(candidates):
        script = shell_script(words)
        if script is not None:
            commands = split_script(script)
            if commands is None:
                from .rules import loose_segments  # only for a script we cannot split exactly

                commands = loose_segments(script)
            candidates += commands
    return any(_dangerous_exec(words) for words in candidates)
