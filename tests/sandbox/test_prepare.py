"""prepare(): backend choice, failing closed, the policy's roots, the layout, and PTYs."""

from __future__ import annotations

import fcntl
import os
import pty
import subprocess
import termios
from pathlib import Path

import pytest

from codex_orchestrator.errors import ConfigError, SandboxUnavailableError
from codex_orchestrator.sandbox import (
    SandboxMode,
    SandboxPolicy,
    bwrap,
    check_report,
    default_backend,
    prepare,
    spawn,
)
from codex_orchestrator.sandbox.layout import build_layout

from .conftest import Workspace, require_backend

WRITE = SandboxMode.WORKSPACE_WRITE


def test_resolved_writable_roots(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "alias").symlink_to(real)
    policy = SandboxPolicy(WRITE, writable_roots=(Path("extra"), tmp_path / "alias"))
    roots = policy.resolved_writable_roots(tmp_path / "alias", {"TMPDIR": str(tmp_path / "alias")})
    assert roots == [real, real / "extra", Path("/tmp")]  # resolved, relative to cwd, deduplicated
    excluded = SandboxPolicy(WRITE, exclude_slash_tmp=True, exclude_tmpdir_env_var=True)
    assert excluded.resolved_writable_roots(real, {"TMPDIR": "/var/tmp"}) == [real]
    assert SandboxPolicy(SandboxMode.READ_ONLY).resolved_writable_roots(real, {}) == []
    assert SandboxPolicy(SandboxMode.DANGER_FULL_ACCESS).resolved_writable_roots(real, {}) == []


def test_network_blocked() -> None:
    assert SandboxPolicy(WRITE).network_blocked
    assert not SandboxPolicy(WRITE, network_access=True).network_blocked
    assert SandboxPolicy(SandboxMode.READ_ONLY, network_access=True).network_blocked
    assert not SandboxPolicy(SandboxMode.DANGER_FULL_ACCESS).network_blocked


def test_layout_protects_git_and_codex_inside_writable_roots(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    (ws / ".git").mkdir(parents=True)
    (ws / ".codex").mkdir()
    sub = tmp_path / "sub"  # a .git file whose gitdir is outside every writable root: only the pointer is mounted
    sub.mkdir()
    (sub / ".git").write_text("gitdir: ../elsewhere\n")
    (tmp_path / "elsewhere").mkdir()
    policy = SandboxPolicy(WRITE, writable_roots=(sub, Path("missing")), exclude_slash_tmp=True,
                           exclude_tmpdir_env_var=True)
    layout = build_layout(policy, ws, {})
    assert layout.writable == (ws, sub)  # a root that does not exist is dropped
    assert layout.read_only == (ws / ".git", sub / ".git", ws / ".codex")
    assert not layout.network


def test_danger_full_access_is_a_plain_spawn(tmp_path: Path) -> None:
    policy = SandboxPolicy(SandboxMode.DANGER_FULL_ACCESS)
    result = prepare(policy, ["true"], tmp_path, {}, backend="bwrap")
    assert (result.argv, result.preexec, result.backend, result.sandboxed) == (["true"], None, "none", False)


def test_unknown_backend_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown backend 'firejail'"):
        prepare(SandboxPolicy(WRITE), ["true"], tmp_path, {}, backend="firejail")


def test_forced_backend_that_is_missing_fails_closed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on this PATH
    bwrap.info.cache_clear()
    try:
        with pytest.raises(SandboxUnavailableError, match="bwrap not found"):
            prepare(SandboxPolicy(WRITE), ["true"], tmp_path, {}, backend="bwrap")
    finally:
        bwrap.info.cache_clear()


def test_auto_fails_closed_when_no_backend_works(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spawn, "backend_status", lambda name: (False, f"{name} is broken"))
    with pytest.raises(SandboxUnavailableError, match="builtin is broken; bwrap: bwrap is broken"):
        prepare(SandboxPolicy(SandboxMode.READ_ONLY), ["true"], tmp_path, {})


def test_auto_prefers_builtin() -> None:
    require_backend("builtin")
    assert default_backend() == "builtin"


def test_child_setup_failure_exits_71_without_running_the_command(workspace: Workspace) -> None:
    """If confinement fails in the child, the command must not run at all."""
    require_backend("builtin")
    argv = ["sh", "-c", "echo ran > ran"]
    prepared = prepare(workspace.policy, argv, workspace.root, os.environ, backend="builtin")
    (workspace.root / ".git" / "hooks").rmdir()
    (workspace.root / ".git" / "config").unlink()
    (workspace.root / ".git").rmdir()  # the bind mount planned for it now fails
    result = subprocess.run(prepared.argv, cwd=workspace.root, preexec_fn=prepared.preexec,
                            start_new_session=True, capture_output=True, text=True, timeout=30)
    assert result.returncode == 71
    assert "sandbox setup failed" in result.stderr
    assert not (workspace.root / "ran").exists()


def run_in_pty(argv: list[str], cwd: Path, preexec: object) -> tuple[int, str]:
    """Spawn like the exec runtime's PTY shell: new session, the slave as controlling terminal."""
    master, slave = pty.openpty()

    def child_setup() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        if callable(preexec):
            preexec()

    try:
        proc = subprocess.Popen(argv, cwd=cwd, stdin=slave, stdout=slave, stderr=slave,
                                start_new_session=True, preexec_fn=child_setup, close_fds=True)
    finally:
        os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO: the slave side is closed
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(timeout=30), b"".join(chunks).decode(errors="replace")


@pytest.mark.parametrize("backend", ["builtin", "bwrap"])
def test_pty_terminal_works_inside_sandbox(workspace: Workspace, backend: str) -> None:
    require_backend(backend)
    # bwrap shows no host terminal at all (the tty is fds 0-2 and /dev/tty); builtin keeps its own path.
    script = "test -t 0 && echo via-tty > /dev/tty && " + ("tty" if backend == "builtin" else "true")
    prepared = prepare(SandboxPolicy(SandboxMode.READ_ONLY), ["sh", "-c", script],
                       workspace.root, os.environ, backend=backend, pty=True)
    code, output = run_in_pty(prepared.argv, workspace.root, prepared.preexec)
    assert code == 0, output
    assert "via-tty" in output
    assert backend != "builtin" or "/dev/pts/" in output


def test_check_report_verifies_backends() -> None:
    require_backend("builtin")
    report = check_report()
    assert report["default"] == "builtin"
    backends = report["backends"]
    assert isinstance(backends, dict)
    assert backends["builtin"]["enforces"] == ["read-only", "workspace-write"]
    attempts = backends["builtin"]["verified"]["workspace-write"]["attempts"]
    assert attempts == {"cwd": True, "outside": False, "git": False, "network": False}
    assert isinstance(report["landlock_abi"], int) and report["landlock_abi"] >= 2
