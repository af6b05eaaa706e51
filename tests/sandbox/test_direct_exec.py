"""The built-in backend's fast path: the runtime tells the confinement the command, and the namespace's
init starts it with posix_spawn. What `_posixsubprocess` does after a preexec must hold unchanged:
descriptors, the PATH search and its errors, the environment, signals, and failing closed."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

from codex_orchestrator.exec.cancel import CancelToken
from codex_orchestrator.exec.process import ExecsDirectly, ProcessOutcome, run_pipes
from codex_orchestrator.sandbox import prepare

from .conftest import Workspace, require_backend


def sandboxed(workspace: Workspace, argv: list[str], *, env: dict[str, str] | None = None,
              pass_fds: tuple[int, ...] = (), cancel: CancelToken | None = None,
              timeout: float | None = 30) -> ProcessOutcome:
    require_backend("builtin")
    full_env = dict(os.environ if env is None else env)
    spawn = prepare(workspace.policy, argv, workspace.root, dict(os.environ), backend="builtin")
    assert isinstance(spawn.preexec, ExecsDirectly)
    return run_pipes(spawn.argv, cwd=workspace.root, env=full_env, preexec=spawn.preexec, pass_fds=pass_fds,
                     cancel=cancel, timeout=timeout)


def out(outcome: ProcessOutcome, name: str = "stdout") -> str:
    return outcome.streams[name].render()


def test_exit_codes_signals_and_output(workspace: Workspace) -> None:
    done = sandboxed(workspace, ["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert (done.exit_code, done.signal, out(done), out(done, "stderr")) == (3, None, "out\n", "err\n")
    killed = sandboxed(workspace, ["sh", "-c", "kill -TERM $$"])
    assert (killed.exit_code, killed.signal) == (128 + signal.SIGTERM, signal.SIGTERM)


def test_not_found_and_not_executable_are_reported_like_a_shell(workspace: Workspace) -> None:
    missing = sandboxed(workspace, ["no-such-command-xyz"])
    assert missing.exit_code == 127 and missing.pid == 0
    assert "no-such-command-xyz: command not found" in out(missing, "stderr")
    script = workspace.root / "script.sh"
    script.write_text("echo hi\n")
    script.chmod(0o600)
    refused = sandboxed(workspace, [str(script)])
    assert refused.exit_code == 126 and "Permission denied" in out(refused, "stderr")
    directory = sandboxed(workspace, [str(workspace.root)])
    assert directory.exit_code == 126


def test_path_search_skips_what_cannot_run_and_uses_the_commands_own_path(workspace: Workspace,
                                                                         tmp_path: Path) -> None:
    """As `_posixsubprocess`: the child's PATH, in order; a candidate that cannot be executed is passed
    over for a later one that can."""
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    (first / "tool").write_text("#!/bin/sh\necho first\n")
    (first / "tool").chmod(0o600)  # not executable
    (second / "tool").write_text("#!/bin/sh\necho second\n")
    (second / "tool").chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path / 'nowhere'}:{first}:{second}:/usr/bin:/bin"}
    found = sandboxed(workspace, ["tool"], env=env)
    assert (found.exit_code, out(found)) == (0, "second\n")


def test_environment_is_exactly_the_commands(workspace: Workspace) -> None:
    env = {"PATH": "/usr/bin:/bin", "ONLY_HERE": "yes"}
    shown = sandboxed(workspace, ["env"], env=env)
    assert shown.exit_code == 0
    assert sorted(out(shown).splitlines()) == ["ONLY_HERE=yes", "PATH=/usr/bin:/bin"]


def test_only_passed_descriptors_reach_the_command(workspace: Workspace) -> None:
    passed_r, passed_w = os.pipe()
    leaked_r, leaked_w = os.pipe()
    os.set_inheritable(leaked_r, True)  # inheritable but not passed: close_fds must still close it
    try:
        listing = sandboxed(workspace, ["sh", "-c", "ls /proc/self/fd"], pass_fds=(passed_r,))
    finally:
        for fd in (passed_r, passed_w, leaked_r, leaked_w):
            os.close(fd)
    fds = {int(name) for name in out(listing).split()}
    assert passed_r in fds and leaked_r not in fds
    assert fds - {0, 1, 2, passed_r} <= {3}  # ls's own directory descriptor, at most


def test_cancel_reaches_the_command_and_ends_the_namespace(workspace: Workspace) -> None:
    cancel = CancelToken()
    marker = workspace.root / "started"
    threading.Timer(0.5, cancel.cancel).start()
    started = time.monotonic()
    outcome = sandboxed(workspace, ["sh", "-c", f"touch {marker}; (sleep 60 &); exec sleep 60"], cancel=cancel)
    assert marker.exists()
    assert outcome.cancelled and outcome.signal == signal.SIGTERM
    assert time.monotonic() - started < 10


def test_setup_failure_still_exits_71_without_running_the_command(workspace: Workspace) -> None:
    require_backend("builtin")
    spawn = prepare(workspace.policy, ["sh", "-c", "echo ran > ran"], workspace.root, dict(os.environ),
                    backend="builtin")
    (workspace.root / ".git" / "hooks").rmdir()
    (workspace.root / ".git" / "config").unlink()
    (workspace.root / ".git").rmdir()  # the bind mount planned for it now fails
    outcome = run_pipes(spawn.argv, cwd=workspace.root, env=dict(os.environ), preexec=spawn.preexec)
    assert outcome.exit_code == 71
    assert "sandbox setup failed" in out(outcome, "stderr")
    assert not (workspace.root / "ran").exists()


def test_the_command_is_confined(workspace: Workspace) -> None:
    outside = workspace.outside / "escaped"
    outcome = sandboxed(workspace, ["sh", "-c", f"echo x > {outside}; echo x > .git/planted; echo x > ok"])
    assert outcome.exit_code == 0  # the last write, inside the workspace, succeeds
    assert not outside.exists() and not (workspace.root / ".git" / "planted").exists()
    assert (workspace.root / "ok").read_text() == "x\n"
    assert "Read-only file system" in out(outcome, "stderr")
