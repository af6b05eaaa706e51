from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codex_orchestrator.exec.cancel import CancelToken
from codex_orchestrator.exec.chunker import Chunk
from codex_orchestrator.exec.pty_shell import (
    SHELL_ARGV,
    PtyShell,
    SessionBusyError,
    SessionClosedError,
    _MarkerScanner,
)

from .helpers import is_running, wait_gone

ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "TERM": "xterm-256color"}


@pytest.fixture
def shell(tmp_path: Path) -> Iterator[PtyShell]:
    with PtyShell("test", cwd=tmp_path, env=ENV, kill_grace=0.5) as sh:
        yield sh


def output(sh: PtyShell, command: str, **kwargs: Any) -> str:
    outcome = sh.run(command, **kwargs)
    assert not outcome.running
    return outcome.buffer.render()


def test_cd_export_and_functions_persist(shell: PtyShell, tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    assert output(shell, "cd sub; export GREETING=bonjour; greet() { echo \"$GREETING $1\"; }") == ""
    assert output(shell, "pwd; greet monde") == f"{tmp_path / 'sub'}\nbonjour monde\n"


def test_exit_codes(shell: PtyShell) -> None:
    assert shell.run("false").exit_code == 1
    assert shell.run("(exit 42)").exit_code == 42
    outcome = shell.run("bash -c 'kill -TERM $$'")
    assert (outcome.exit_code, outcome.signal) == (143, signal.SIGTERM)
    assert shell.run("true").exit_code == 0


def test_partial_lines_and_colour_escapes_come_through_exactly(shell: PtyShell) -> None:
    assert output(shell, "printf 'no newline'") == "no newline"
    assert output(shell, r"printf '\033[31mred\033[0m plain'") == "\x1b[31mred\x1b[0m plain"
    assert output(shell, "printf 'a\\nb\\n'") == "a\nb\n"  # no \r\n translation


def test_stdout_and_stderr_merge_into_the_pty_stream(shell: PtyShell) -> None:
    chunks: list[tuple[str, Chunk]] = []
    shell.run("echo one; echo two >&2", on_chunk=lambda n, c: chunks.append((n, c)))
    assert {name for name, _ in chunks} == {"pty"}
    assert b"".join(c.data for _, c in chunks) == b"one\ntwo\n"


def test_output_and_log_are_the_same_bytes(shell: PtyShell, tmp_path: Path) -> None:
    text = "€" * 20_000 + "\n"
    (tmp_path / "euros").write_text(text)
    chunks: list[Chunk] = []
    with (tmp_path / "log").open("wb") as log:
        shell.run("cat euros", on_chunk=lambda _, c: chunks.append(c), log=log)
    assert (tmp_path / "log").read_text() == text
    assert all(c.text and len(c.data) <= 8192 for c in chunks)
    assert b"".join(c.data for c in chunks).decode() == text


def test_write_stdin_drives_an_interactive_prompt(shell: PtyShell) -> None:
    first = shell.run("read -p 'name? ' x; echo hello $x", yield_ms=300)
    assert first.running and first.exit_code is None
    assert first.buffer.render() == "name? "
    with pytest.raises(SessionBusyError):
        shell.run("true")
    second = shell.write_stdin("Ada\n", yield_ms=5000)
    assert not second.running and second.exit_code == 0
    assert second.buffer.render() == "hello Ada\n"


def test_command_stdin_reads_the_terminal_not_our_next_input(shell: PtyShell) -> None:
    """A multi-line command whose first line reads stdin must not swallow its own second line."""
    outcome = shell.run("head -n 1\necho second line ran", yield_ms=300)
    assert outcome.running
    outcome = shell.write_stdin("typed\n", yield_ms=5000)
    assert outcome.buffer.render() == "typed\nsecond line ran\n"


def test_long_multiline_command(shell: PtyShell) -> None:
    command = "\n".join(f"v{i}={i}" for i in range(2000)) + "\necho $v1999"
    assert len(command) > 4096  # longer than one terminal line
    assert output(shell, command) == "1999\n"


def test_marker_cannot_be_faked_by_printing_the_prompt(shell: PtyShell) -> None:
    assert "co-end" in output(shell, 'echo "$PS1"; declare -p PROMPT_COMMAND')
    assert output(shell, r"printf '\036co-end:wrong:0\036 after'") == "\x1eco-end:wrong:0\x1e after"


def test_a_changed_prompt_is_put_back(shell: PtyShell) -> None:
    assert shell.run("PS1='$ '").exit_code == 0
    assert output(shell, "echo still works") == "still works\n"


def test_timeout_interrupts_the_command_and_the_shell_survives(shell: PtyShell) -> None:
    shell.run("export KEEP=1")
    outcome = shell.run("sleep 100", timeout=0.3)
    assert outcome.timed_out and outcome.exit_code == 130 and outcome.signal == signal.SIGINT
    outcome = shell.run("while :; do :; done", timeout=0.3)  # a builtin loop in the shell itself
    assert outcome.timed_out and outcome.exit_code == 130
    assert shell.alive and output(shell, "echo $KEEP") == "1\n"


def test_interrupt_ignored_then_killed(shell: PtyShell) -> None:
    outcome = shell.run("bash -c \"trap '' INT; sleep 100\"", timeout=0.3)
    assert outcome.timed_out and outcome.signal == signal.SIGKILL
    assert output(shell, "echo alive") == "alive\n"


def test_cancel_from_another_thread(shell: PtyShell) -> None:
    with CancelToken() as token:
        threading.Timer(0.2, token.cancel).start()
        outcome = shell.run("sleep 100", cancel=token)
    assert outcome.cancelled and outcome.exit_code == 130
    assert output(shell, "echo next") == "next\n"


def test_exit_ends_the_session(shell: PtyShell) -> None:
    outcome = shell.run("echo bye; exit 3")
    assert outcome.exit_code == 3 and not outcome.running
    assert outcome.buffer.render() == "bye\n"
    assert not shell.alive
    with pytest.raises(SessionClosedError):
        shell.run("true")


def test_a_fresh_shell_is_clean(shell: PtyShell, tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    shell.run("cd sub; export DIRTY=1; f() { :; }")
    with PtyShell("other", cwd=tmp_path, env=ENV) as fresh:
        assert output(fresh, "pwd; echo \"[$DIRTY]\"; type f >/dev/null 2>&1 || echo no-f") == \
            f"{tmp_path}\n[]\nno-f\n"


def test_close_kills_background_jobs(tmp_path: Path) -> None:
    sh = PtyShell("bg", cwd=tmp_path, env=ENV)
    pid = int(output(sh, "sleep 100 & echo $!").strip())
    assert is_running(pid)
    shell_pid = sh.pid
    sh.close()
    sh.close()  # idempotent
    assert wait_gone(pid) and wait_gone(shell_pid)


def test_history_is_not_written(tmp_path: Path) -> None:
    home = tmp_path / "home-dir"
    home.mkdir()
    with PtyShell("h", cwd=tmp_path, env={**ENV, "HOME": str(home)}) as sh:
        sh.run("echo secret-token")
        sh.run("exit")
    assert not (home / ".bash_history").exists()


def test_preexec_runs_in_the_shell_with_a_controlling_terminal(tmp_path: Path) -> None:
    seen = tmp_path / "seen"

    def preexec() -> None:
        fd = os.open("/dev/tty", os.O_RDONLY)  # fails without a controlling terminal
        os.close(fd)
        seen.write_text(str(os.getsid(0) == os.getpid()))

    with PtyShell("p", cwd=tmp_path, env=ENV, preexec=preexec) as sh:
        assert output(sh, "tty >/dev/null && echo has-tty") == "has-tty\n"
    assert seen.read_text() == "True"


def test_marker_split_across_reads_byte_by_byte() -> None:
    scanner = _MarkerScanner()
    stream = b"out\x1e put\x1eco-end:123417\x1etrailing"
    emitted = b""
    status = None
    after = b""
    for i in range(len(stream)):
        out, found, rest = scanner.feed(stream[i : i + 1])
        emitted += out
        if found is not None:
            status, after = found, rest
            break
    assert (emitted, status) == (b"out\x1e put", b"\x1eco-end:123417\x1e")
    assert _MarkerScanner.token(status) == "123417"
    assert after == b""  # the marker ended exactly at this byte


def test_marker_scanner_releases_a_fragment_that_is_not_a_marker() -> None:
    scanner = _MarkerScanner()
    assert scanner.feed(b"x\x1eco-e") == (b"x", None, b"")
    assert scanner.feed(b"nd:zzz") == (b"\x1eco-end:zzz", None, b"")


def _bwrap_works() -> bool:
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return False
    probe = subprocess.run([bwrap, "--ro-bind", "/", "/", "--unshare-user", "--unshare-pid", "--", "true"],
                           capture_output=True)
    return probe.returncode == 0


def test_session_inside_a_bwrap_sandbox(tmp_path: Path) -> None:
    """Callers wrap SHELL_ARGV with a sandbox; the protocol, job control and interrupts must still work."""
    if not _bwrap_works():
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("bwrap is missing or cannot create namespaces: CI must run the sandboxed PTY test")
        pytest.skip("bwrap is missing or cannot create namespaces here")
    bwrap = shutil.which("bwrap")
    assert bwrap is not None
    argv = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--dev-bind", "/dev/pts", "/dev/pts",
            "--proc", "/proc", "--unshare-user", "--unshare-pid", "--die-with-parent", "--", *SHELL_ARGV]
    with PtyShell("sandboxed", argv=argv, cwd=tmp_path, env=ENV, kill_grace=0.5) as sh:
        assert output(sh, "export A=1; cd /") == ""
        assert output(sh, "pwd; echo $A") == "/\n1\n"
        outcome = sh.run("touch should-fail")
        assert outcome.exit_code != 0 and "Read-only" in outcome.buffer.render()
        assert sh.run("sleep 100", timeout=0.3).exit_code == 130
        assert sh.run("read -p 'q? ' x; echo got $x", yield_ms=300).running
        assert sh.write_stdin("yes\n", yield_ms=5000).buffer.render() == "got yes\n"
