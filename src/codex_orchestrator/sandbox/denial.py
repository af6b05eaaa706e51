"""Guess whether a failed command failed *because of* the sandbox.

A guess is all that is possible: the sandbox makes syscalls fail with EPERM,
EACCES, EROFS or ENETUNREACH and the command reports that however it likes.
A positive answer only offers a retry outside the sandbox (subject to the
approval policy), so a false positive costs one question and a false negative
one failed command. The first rules mirror the Codex CLI so that both tools
escalate the same commands; the network phrases are ours, because we know the
network namespace is the only reason those appear when it is closed.
"""

from __future__ import annotations

import signal as _signal

DENIAL_PHRASES = (
    "operation not permitted",
    "permission denied",
    "read-only file system",
    "seccomp",
    "sandbox",
    "landlock",
    "failed to write file",
)
# Only when the network was blocked: what a command prints when it cannot get out.
NETWORK_PHRASES = (
    "network is unreachable",
    "could not resolve host",
    "temporary failure in name resolution",
    "name or service not known",
    "connection refused",  # the namespace has its own loopback: host services on 127.0.0.1 refuse
)
# Exit codes that mean "usage error", "not executable", "not found": the command's own fault.
NOT_DENIAL_EXIT_CODES = frozenset({2, 126, 127})


def is_likely_denial(exit_code: int | None, signal: int | None, output: str, *, sandboxed: bool,
                     network_blocked: bool) -> bool:
    if not sandboxed or (exit_code == 0 and signal is None):
        return False
    text = output.lower()
    if any(phrase in text for phrase in DENIAL_PHRASES):
        return True
    if network_blocked and any(phrase in text for phrase in NETWORK_PHRASES):
        return True
    if exit_code in NOT_DENIAL_EXIT_CODES:
        return False
    return signal == _signal.SIGSYS
