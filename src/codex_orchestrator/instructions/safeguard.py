"""Autonomy safeguard: instruction files are guidance, never settings.

Anyone who can commit a file to a repository can write an AGENTS.md, so nothing
in one may change the approval policy, the sandbox mode or the approval store.
This package never returns a policy value at all, which is the actual guarantee;
this scan only tells the user that a file tried, naming the file and line, so an
attempt is visible in the run's manifest instead of silently ignored.
"""

from __future__ import annotations

import re

from .._lazyre import LazyPattern

_ATTEMPT = LazyPattern(
    r"--dangerously-bypass-approvals-and-sandbox"
    r"|--full-auto\b"
    r"|--ask-for-approval\b"
    r"|\bapproval[_-]policy\b"
    r"|\bsandbox[_-]mode\b"
    r"|\bdanger[_-]full[_-]access\b"
    r"|\bapprovals\.json\b"
    r"|\byolo\b",
    re.IGNORECASE,
)


def policy_attempts(path: str, text: str) -> list[str]:
    """One warning per line of `text` that reads like a setting of approvals or the sandbox."""
    warnings = []
    for number, line in enumerate(text.split("\n"), start=1):
        match = _ATTEMPT.search(line)
        if match:
            warnings.append(
                f"{path}:{number}: mentions {match.group(0)!r}; instruction files are guidance only and "
                "cannot change the approval policy, the sandbox mode or the approval store (policy unchanged)"
            )
    return warnings
