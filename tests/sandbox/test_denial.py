"""The denial heuristics, as a table: Codex's rules plus our network phrases."""

from __future__ import annotations

import signal

import pytest

from codex_orchestrator.sandbox import is_likely_denial


@pytest.mark.parametrize(("exit_code", "sig", "output", "network_blocked", "expected"), [
    (1, None, "touch: cannot touch 'x': Permission denied", False, True),
    (1, None, "Read-only file system", False, True),
    (1, None, "OPERATION NOT PERMITTED", False, True),
    (1, None, "error: failed to write file `Cargo.lock`", False, True),
    (1, None, "landlock: access denied", False, True),
    (71, None, "codex-orchestrator: sandbox setup failed: unshare: Operation not permitted", False, True),
    (0, None, "permission denied (but it recovered)", False, False),  # success is never a denial
    (1, None, "assertion failed: 2 != 3", False, False),
    (2, None, "usage: tool [-h]", False, False),
    (126, None, "cannot execute", False, False),
    (127, None, "sh: nope: not found", False, False),
    (127, None, "sh: ./x: Permission denied", False, True),  # the phrase wins over the exit code
    (None, signal.SIGSYS, "", False, True),
    (None, signal.SIGKILL, "", False, False),
    (7, None, "curl: (7) Failed to connect: Network is unreachable", True, True),
    (7, None, "curl: (7) Failed to connect: Network is unreachable", False, False),
    (6, None, "curl: (6) Could not resolve host: example.com", True, True),
    (128, None, "fatal: unable to access: Temporary failure in name resolution", True, True),
    (1, None, "socket.gaierror: [Errno -2] Name or service not known", True, True),
    (1, None, "ConnectionRefusedError: [Errno 111] Connection refused", True, True),
    (1, None, "ConnectionRefusedError: [Errno 111] Connection refused", False, False),
])
def test_is_likely_denial(exit_code: int | None, sig: int | None, output: str, network_blocked: bool,
                          expected: bool) -> None:
    denied = is_likely_denial(exit_code, sig, output, sandboxed=True, network_blocked=network_blocked)
    assert denied is expected


def test_never_a_denial_when_not_sandboxed() -> None:
    assert not is_likely_denial(1, None, "Permission denied", sandboxed=False, network_blocked=True)
    assert not is_likely_denial(None, signal.SIGSYS, "", sandboxed=False, network_blocked=True)
