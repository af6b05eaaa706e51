from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from codex_orchestrator.exec.cancel import CancelToken
from codex_orchestrator.exec.chunker import Chunk
from codex_orchestrator.exec.process import ProcessOutcome, SpawnError, run_pipes

from .helpers import children_of, is_running, wait_gone

ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}


def run(script: str, tmp_path: Path, **kwargs: Any) -> tuple[ProcessOutcome, list[tuple[str, Chunk]]]:
    chunks: list[tuple[str, Chunk]] = []
    outcome = run_pipes(["bash", "-c", script], cwd=tmp_path, env=ENV,
                        on_chunk=lambda name, chunk: chunks.append((name, chunk)), **kwargs)
    return outcome, chunks


def joined(chunks: list[tuple[str, Chunk]], stream: str) -> bytes:
    return b"".join(c.data for name, c in chunks if name == stream)


def test_stdout_and_stderr_are_kept_apart(tmp_path: Path) -> None:
    outcome, chunks = run("echo out; echo err >&2; echo out2", tmp_path)
    assert outcome.exit_code == 0 and outcome.signal is None
    assert joined(chunks, "stdout") == b"out\nout2\n"
    assert joined(chunks, "stderr") == b"err\n"
    assert outcome.streams["stdout"].render() == "out\nout2\n"
    assert outcome.streams["stderr"].render() == "err\n"


def test_exit_codes_and_signals(tmp_path: Path) -> None:
    outcome, _ = run("exit 7", tmp_path)
    assert (outcome.exit_code, outcome.signal) == (7, None)
    outcome, _ = run("kill -TERM $$", tmp_path)
    assert (outcome.exit_code, outcome.signal) == (128 + signal.SIGTERM, signal.SIGTERM)
    outcome, _ = run("kill -KILL $$", tmp_path)
    assert (outcome.exit_code, outcome.signal) == (137, signal.SIGKILL)


def test_binary_output_round_trips_through_chunks_and_log(tmp_path: Path) -> None:
    payload = bytes(range(256)) * 300 + "héllo wörld €".encode() * 2000 + os.urandom(100_000)
    source = tmp_path / "payload.bin"
    source.write_bytes(payload)
    log_path = tmp_path / "log.bin"
    with log_path.open("wb") as log:
        outcome, chunks = run(f"cat {source}", tmp_path, log=log)
    assert joined(chunks, "stdout") == payload
    assert log_path.read_bytes() == payload
    assert all(len(c.data) <= 8192 for _, c in chunks)
    assert any(not c.text for _, c in chunks) and any(c.text for _, c in chunks)
    assert outcome.streams["stdout"].total_bytes == len(payload)


def test_multibyte_characters_are_never_split_across_chunks(tmp_path: Path) -> None:
    text = ("a" + "€" * 5000 + "\n") * 20
    (tmp_path / "text").write_text(text)
    outcome, chunks = run("cat text", tmp_path)
    assert outcome.exit_code == 0
    assert all(c.text for _, c in chunks)
    assert "".join(c.data.decode() for _, c in chunks) == text


def test_timeout_kills_the_whole_group_grandchild_included(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild"
    outcome, _ = run(f"sleep 100 & echo $! > {pid_file}; sleep 100", tmp_path, timeout=0.5)
    assert outcome.timed_out and not outcome.cancelled
    assert outcome.signal == signal.SIGTERM and outcome.exit_code == 143
    assert wait_gone(int(pid_file.read_text()))


def test_a_command_ignoring_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    outcome, chunks = run("trap '' TERM; echo ready; while :; do sleep 0.05; done", tmp_path,
                          timeout=0.3, kill_grace=0.3)
    assert outcome.timed_out
    assert outcome.signal == signal.SIGKILL
    assert joined(chunks, "stdout") == b"ready\n"


def test_cancel_from_another_thread(tmp_path: Path) -> None:
    with CancelToken() as token:
        threading.Timer(0.2, token.cancel, args=(signal.SIGINT,)).start()
        outcome, _ = run("sleep 100", tmp_path, cancel=token)
    assert outcome.cancelled and not outcome.timed_out
    assert outcome.signal == signal.SIGTERM


def test_background_child_neither_survives_nor_holds_the_run(tmp_path: Path) -> None:
    pid_file = tmp_path / "bg"
    started = time.monotonic()
    outcome, chunks = run(f"sleep 100 & echo $! > {pid_file}; echo hi", tmp_path)
    assert time.monotonic() - started < 30  # a hang would be 100 s; the real bound is milliseconds
    assert outcome.exit_code == 0
    assert joined(chunks, "stdout") == b"hi\n"
    assert wait_gone(int(pid_file.read_text()))


def test_leader_closing_its_pipes_is_still_waited_for(tmp_path: Path) -> None:
    outcome, _ = run("exec >/dev/null 2>&1; sleep 0.2; exit 5", tmp_path)
    assert outcome.exit_code == 5


def test_stdin_is_dev_null(tmp_path: Path) -> None:
    outcome, chunks = run("cat; echo done", tmp_path)
    assert outcome.exit_code == 0 and joined(chunks, "stdout") == b"done\n"


def test_open_silent_stdin_does_not_hang_a_command(tmp_path: Path) -> None:
    """Our own stdin is a pipe that stays open and never speaks (like CI with a dangling stdin)."""
    script = textwrap.dedent(f"""
        from pathlib import Path
        from codex_orchestrator.exec.process import run_pipes
        outcome = run_pipes(["cat"], cwd=Path({str(tmp_path)!r}), env={{"PATH": "/usr/bin:/bin"}})
        print("exit", outcome.exit_code)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        assert proc.wait(timeout=30) == 0  # stdin is still open here: the output is tiny, no deadlock
        out = proc.stdout.read()
    finally:
        proc.kill()
        proc.wait()
        proc.stdin.close()
        proc.stdout.close()
    assert out == b"exit 0\n"


def test_command_not_found_is_reported_like_a_shell(tmp_path: Path) -> None:
    chunks: list[tuple[str, Chunk]] = []
    outcome = run_pipes(["no-such-command-xyz"], cwd=tmp_path, env=ENV,
                        on_chunk=lambda n, c: chunks.append((n, c)))
    assert outcome.exit_code == 127 and outcome.pid == 0
    assert b"no-such-command-xyz: command not found" in joined(chunks, "stderr")


def test_missing_cwd_and_unexecutable_file(tmp_path: Path) -> None:
    outcome = run_pipes(["true"], cwd=tmp_path / "missing", env=ENV)
    assert outcome.exit_code == 127
    assert "missing" in outcome.streams["stderr"].render()
    script = tmp_path / "script.sh"
    script.write_text("echo hi\n")
    script.chmod(0o644)
    if os.geteuid() == 0:
        script.chmod(0o600)  # root may execute any file with an x bit; this one has none
    assert run_pipes([str(script)], cwd=tmp_path, env=ENV).exit_code == 126


def test_preexec_runs_in_the_child_after_setsid(tmp_path: Path) -> None:
    marker = tmp_path / "preexec"

    def preexec() -> None:
        marker.write_text(f"{os.getpid()} {os.getsid(0)} {os.getcwd()}")

    outcome = run_pipes(["true"], cwd=tmp_path, env=ENV, preexec=preexec)
    pid, sid, cwd = marker.read_text().split()
    assert int(pid) == outcome.pid == int(sid)  # its own session and group
    assert cwd == str(tmp_path)


def test_failing_preexec_raises_spawn_error(tmp_path: Path) -> None:
    def preexec() -> None:
        raise RuntimeError("landlock refused")

    with pytest.raises(SpawnError):
        run_pipes(["true"], cwd=tmp_path, env=ENV, preexec=preexec)


def test_slow_consumer_makes_the_producer_wait(tmp_path: Path) -> None:
    """Backpressure: 10 MB cannot fit in a pipe, so the producer cannot finish while we do not read."""
    finished = tmp_path / "finished"
    seen: list[bool] = []

    def slow(name: str, chunk: Chunk) -> None:
        if not seen:
            time.sleep(0.5)
            seen.append(finished.exists())

    outcome = run_pipes(["bash", "-c", f"head -c 10000000 /dev/zero; touch {finished}"], cwd=tmp_path,
                        env=ENV, on_chunk=slow)
    assert outcome.exit_code == 0 and outcome.streams["stdout"].total_bytes == 10_000_000
    assert seen == [False]


def test_exception_in_consumer_kills_the_command(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"

    def boom(name: str, chunk: Chunk) -> None:
        raise KeyError("consumer failed")

    with pytest.raises(KeyError):
        run_pipes(["bash", "-c", f"echo $$ > {pid_file}; echo x; sleep 100"], cwd=tmp_path, env=ENV,
                  on_chunk=boom)
    assert not is_running(int(pid_file.read_text()))
    assert all(state != "Z" for _, state in children_of(os.getpid()))


def test_kill_group_never_signals_our_own_group() -> None:
    """A pid of 0 from a failed spawn, or our own group, must not take the caller (and CI) down."""
    import os
    import signal as signals

    from codex_orchestrator.exec.process import kill_group

    received: list[int] = []
    previous = signals.signal(signals.SIGUSR1, lambda signum, frame: received.append(signum))
    try:
        for pgid in (0, 1, os.getpgrp()):
            kill_group(pgid, signals.SIGUSR1)
    finally:
        signals.signal(signals.SIGUSR1, previous)
    assert received == []
