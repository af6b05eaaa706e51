from __future__ import annotations

import os
import select
import signal
import threading

from codex_orchestrator.exec.cancel import CancelToken
from codex_orchestrator.exec.env import child_env


def test_cancel_wakes_a_select_loop_from_another_thread() -> None:
    with CancelToken() as token:
        assert select.select([token], [], [], 0)[0] == []
        threading.Timer(0.05, token.cancel, args=(signal.SIGINT,)).start()
        ready, _, _ = select.select([token], [], [], 10)
        assert ready == [token]
        assert token.cancelled and token.signum == signal.SIGINT


def test_cancel_from_a_signal_handler() -> None:
    token = CancelToken()
    previous = signal.signal(signal.SIGUSR1, lambda signum, frame: token.cancel(signum))
    try:
        os.kill(os.getpid(), signal.SIGUSR1)
        assert select.select([token], [], [], 10)[0] == [token]
        assert token.signum == signal.SIGUSR1
    finally:
        signal.signal(signal.SIGUSR1, previous)
        token.close()


def test_repeated_cancel_never_blocks() -> None:
    with CancelToken() as token:
        for _ in range(100_000):  # more than a pipe holds
            token.cancel()
        assert token.cancelled


def test_child_env_pipes_mode() -> None:
    env = child_env({"PATH": "/bin", "TERM": "xterm", "NO_COLOR": "0"}, None, pty=False)
    assert env == {"PATH": "/bin", "TERM": "dumb", "NO_COLOR": "1", "PAGER": "cat", "GIT_PAGER": "cat",
                   "LANG": "C.UTF-8"}


def test_child_env_pty_mode_keeps_a_real_terminal_type() -> None:
    assert child_env({"TERM": "screen"}, None, pty=True)["TERM"] == "screen"
    assert child_env({}, None, pty=True)["TERM"] == "xterm-256color"


def test_child_env_overrides_win() -> None:
    env = child_env({"LANG": "fr_FR.UTF-8"}, {"LANG": "de_DE.UTF-8", "PAGER": "less", "TERM": "vt100"},
                    pty=False)
    assert (env["LANG"], env["PAGER"], env["TERM"]) == ("de_DE.UTF-8", "less", "vt100")


def test_wait_returns_at_once_when_cancelled() -> None:
    import threading
    import time

    from codex_orchestrator.exec.cancel import CancelToken

    token = CancelToken()
    assert token.wait(0.01) is False
    threading.Timer(0.1, token.cancel).start()
    started = time.monotonic()
    assert token.wait(30) is True
    assert time.monotonic() - started < 10  # woken by the cancel, not the 30 s timeout
