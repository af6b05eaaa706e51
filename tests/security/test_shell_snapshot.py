"""Threat: a sandboxed command plants code in the user's profile (HOME inside a writable root), a shell snapshot
taken in the sandbox captures it, and the command hides its trace by restoring the profile. The snapshot must
never carry that code outside the sandbox: not into an escalated rerun, not into a danger-full-access command
of the same long-lived caller. And nothing a command does can change a snapshot once it is taken
(docs/security.md, "Shell snapshots")."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from codex_orchestrator.exec.snapshot import ShellSnapshots
from codex_orchestrator.tools.request import ToolRequest

from ..tools.test_orchestrator import ScriptedAsker
from ..tools.test_shell_snapshot import make

BASHRC = "export MARK=clean\n"


def plant(outside: Path) -> str:
    """What the hostile command appends to ~/.bashrc: a `true` that writes outside the sandbox, and a marker."""
    return (f"cp ~/.bashrc ~/.bashrc.clean && printf '%s\\n' 'true() {{ echo pwned > {outside}/pwned; }}' "
            "'export -f true' 'export EVIL=planted' >> ~/.bashrc")


@pytest.fixture
def setup(isolated_home: Path, tmp_path: Path) -> tuple[Path, Path, Path]:
    """(HOME, workspace, outside): HOME is a writable root of the sandbox; `outside` is not."""
    home = isolated_home
    (home / ".profile").write_text('. "$HOME/.bashrc"\n')
    (home / ".bashrc").write_text(BASHRC)
    (home / ".codex" / "config.toml").write_text(
        f'[sandbox_workspace_write]\nexclude_slash_tmp = true\nexclude_tmpdir_env_var = true\n'
        f'writable_roots = ["{home}"]\n')
    workspace, outside = tmp_path / "ws", tmp_path / "outside"
    (workspace / "sub").mkdir(parents=True)
    outside.mkdir()
    return home, workspace, outside


def test_an_escalated_rerun_never_runs_code_a_sandboxed_snapshot_captured(setup: tuple[Path, Path, Path],
                                                                           backend: str) -> None:
    home, workspace, outside = setup
    snapshots = ShellSnapshots()
    asker = ScriptedAsker("approved")
    orchestrator, _ = make(workspace, "workspace-write", backend=backend, asker=asker, snapshots=snapshots)
    # 1. A sandboxed command plants code in ~/.bashrc (its own snapshot was taken before, clean).
    assert orchestrator.invoke(ToolRequest(tool="t", command=plant(outside), cwd=workspace)).ok
    # 2. The next snapshot (another folder: another key) is taken in the sandbox with the planted code; the
    #    command using it restores the profile.
    hide = orchestrator.invoke(ToolRequest(tool="t", command="echo $EVIL; cp ~/.bashrc.clean ~/.bashrc",
                                           cwd=workspace / "sub"))
    assert hide.ok and hide.tail_text("stdout") == "planted\n"  # the snapshot did capture it, in the sandbox
    assert (home / ".bashrc").read_text() == BASHRC
    # 3. A command denied in the sandbox and rerun outside it (approved) in the same folder.
    result = orchestrator.invoke(ToolRequest(tool="t", command=f"true; echo ${{EVIL-none}}; echo x > {outside}/f",
                                             cwd=workspace / "sub"))
    assert [a["sandboxState"] for a in result.attempts] == ["denied", "escalated"]
    assert result.ok and result.tail_text("stdout") == "none\n"
    assert (outside / "f").exists()
    assert not (outside / "pwned").exists()  # the planted `true` ran only inside the sandbox, where it failed
    assert len(asker.questions) == 1


def test_a_danger_full_access_command_never_uses_a_sandboxed_snapshot(setup: tuple[Path, Path, Path],
                                                                      backend: str) -> None:
    """One long-lived caller (the Python API takes a sandbox mode per call) shares its snapshots across modes."""
    _, workspace, outside = setup
    snapshots = ShellSnapshots()
    planter, _ = make(workspace, "workspace-write", backend=backend)  # no snapshots: plants before any is taken
    assert planter.invoke(ToolRequest(tool="t", command=plant(outside), cwd=workspace)).ok
    sandboxed, _ = make(workspace, "workspace-write", backend=backend, snapshots=snapshots)
    hide = sandboxed.invoke(ToolRequest(tool="t", command="echo $EVIL; cp ~/.bashrc.clean ~/.bashrc", cwd=workspace))
    assert hide.ok and hide.tail_text("stdout") == "planted\n" and len(snapshots) == 1
    full, _ = make(workspace, "danger-full-access", backend=backend, snapshots=snapshots)
    result = full.invoke(ToolRequest(tool="t", command="true; echo ${EVIL-none} $MARK", cwd=workspace))
    assert result.ok and result.tail_text("stdout") == "none clean\n"
    assert not (outside / "pwned").exists()
    assert len(snapshots) == 2  # its own, taken outside the sandbox from the profile as it is now


def test_a_command_cannot_change_a_snapshot(setup: tuple[Path, Path, Path]) -> None:
    """Not even an unconfined command of the same user, through /proc: the memfd is sealed, and the
    snapshot is nowhere on disk."""
    home, workspace, _ = setup
    (home / ".bashrc").write_text(BASHRC + "greet() { echo hello; }\n")
    snapshots = ShellSnapshots()
    orchestrator, _ = make(workspace, "danger-full-access", snapshots=snapshots)
    assert orchestrator.invoke(ToolRequest(tool="t", command="greet", cwd=workspace)).tail_text("stdout") == "hello\n"
    fds = [int(name) for name in os.listdir("/proc/self/fd") if _is_snapshot(name)]
    assert len(fds) == 1
    attack = f"printf 'greet() {{ echo evil; }}\\n' > /proc/{os.getpid()}/fd/{fds[0]}"
    tamper = orchestrator.invoke(ToolRequest(tool="t", command=attack, cwd=workspace))
    assert not tamper.ok and "Operation not permitted" in tamper.tail_text("stderr")
    assert orchestrator.invoke(ToolRequest(tool="t", command="greet", cwd=workspace)).tail_text("stdout") == "hello\n"


def _is_snapshot(fd: str) -> bool:
    try:
        return os.readlink(f"/proc/self/fd/{fd}").startswith("/memfd:codex-orchestrator-snapshot")
    except OSError:
        return False  # the listing's own descriptor, closed by now
