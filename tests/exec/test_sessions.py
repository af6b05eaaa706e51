from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from codex_orchestrator.exec.pty_shell import PtyShell
from codex_orchestrator.exec.sessions import ExecSessionManager

from .helpers import wait_gone

ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}


@pytest.fixture
def manager() -> Iterator[ExecSessionManager]:
    mgr = ExecSessionManager()
    yield mgr
    mgr.close_all()


def factory(session_id: str, cwd: Path) -> Callable[[], PtyShell]:
    return lambda: PtyShell(session_id, cwd=cwd, env=ENV)


def test_open_reuses_a_live_session(manager: ExecSessionManager, tmp_path: Path) -> None:
    first = manager.open("a", factory("a", tmp_path))
    first.run("export MARK=1")
    again = manager.open("a", factory("a", tmp_path))
    assert again is first and len(manager) == 1
    assert again.run("echo $MARK").buffer.render() == "1\n"
    assert manager.get("a") is first and manager.get("missing") is None


def test_a_session_that_exited_is_replaced(manager: ExecSessionManager, tmp_path: Path) -> None:
    first = manager.open("a", factory("a", tmp_path))
    first.run("exit")
    assert manager.get("a") is None
    second = manager.open("a", factory("a", tmp_path))
    assert second is not first and second.alive


def test_eviction_at_64_spares_the_8_newest(manager: ExecSessionManager, tmp_path: Path) -> None:
    shells = [manager.open(f"s{i}", factory(f"s{i}", tmp_path)) for i in range(64)]
    # Use the 56 oldest after all were created: the 8 newest become the least recently used.
    for shell in shells[:56]:
        shell.run("true")
    assert shells[0].last_used < shells[1].last_used
    newest_pids = [s.pid for s in shells[56:]]
    manager.open("s64", factory("s64", tmp_path))
    assert len(manager) == 64
    assert manager.get("s0") is None and not shells[0].alive  # least recently used outside the 8 newest
    assert wait_gone(shells[0].pid)
    assert all(manager.get(f"s{i}") is not None for i in range(1, 65))
    assert [s.pid for s in shells[56:] if s.alive] == newest_pids
    # s56 has left the protected newest eight, and it was never used: it goes next, before s1.
    manager.open("s65", factory("s65", tmp_path))
    assert manager.get("s56") is None and manager.get("s1") is not None


def test_close_and_close_all(manager: ExecSessionManager, tmp_path: Path) -> None:
    a = manager.open("a", factory("a", tmp_path))
    b = manager.open("b", factory("b", tmp_path))
    assert manager.close("a") and not manager.close("a")
    assert not a.alive and b.alive
    manager.close_all()
    assert len(manager) == 0 and not b.alive


def test_reap_idle(tmp_path: Path) -> None:
    manager = ExecSessionManager(idle_timeout=60)
    try:
        old = manager.open("old", factory("old", tmp_path))
        fresh = manager.open("fresh", factory("fresh", tmp_path))
        old.last_used = time.time() - 120
        assert manager.reap_idle() == ["old"]
        assert not old.alive and fresh.alive and manager.ids() == ["fresh"]
        assert ExecSessionManager(idle_timeout=None).reap_idle() == []
    finally:
        manager.close_all()


def test_concurrent_opens_of_one_id_start_one_shell(manager: ExecSessionManager, tmp_path: Path) -> None:
    results: list[PtyShell] = []
    threads = [threading.Thread(target=lambda: results.append(manager.open("x", factory("x", tmp_path))))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(shell) for shell in results}) == 1 and len(manager) == 1
