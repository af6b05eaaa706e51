"""Shell snapshots through the ToolOrchestrator: real profiles in a throwaway HOME, real sandboxes (both backends),
real approvals. A long-lived caller runs the profile once; the records still say `bash -lc`; the command's own
variables win; a command outside the sandbox never uses a snapshot taken inside it; a one-shot caller takes none."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from codex_orchestrator.config import load_config
from codex_orchestrator.events.bus import EventBus
from codex_orchestrator.exec.cancel import CancelToken
from codex_orchestrator.exec.sessions import ExecSessionManager
from codex_orchestrator.exec.snapshot import ShellSnapshots
from codex_orchestrator.tools.asker import NoChannel
from codex_orchestrator.tools.orchestrator import ToolOrchestrator
from codex_orchestrator.tools.request import ToolRequest

from ..conftest import Repo
from ..sandbox.conftest import require_backend
from .test_orchestrator import Collector, ScriptedAsker

PROFILE = """\
if [ -f "$HOME/.bashrc" ]; then . "$HOME/.bashrc"; fi
export FROM_PROFILE=yes
export CODEX_ORCHESTRATOR_RUN_ID=from-profile
echo run >> "$COUNTER"
"""
BASHRC = """\
export MARK=first
shopt -s expand_aliases
alias hi='echo hi-alias'
greet() { echo "hello $1"; }
"""


@pytest.fixture(params=["builtin", "bwrap"])
def sandbox(request: pytest.FixtureRequest) -> str:
    """Each sandbox backend in turn (a missing one fails in CI, as in the sandbox suite)."""
    name: str = request.param
    require_backend(name, request.config)
    return name


@pytest.fixture
def home(isolated_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The test's HOME (isolated_home) with a real profile that counts its runs in a file outside the workspace."""
    (isolated_home / ".profile").write_text(PROFILE)
    (isolated_home / ".bashrc").write_text(BASHRC)
    monkeypatch.setenv("COUNTER", str(tmp_path / "counter"))
    return isolated_home


def runs(tmp_path: Path) -> int:
    path = tmp_path / "counter"
    return len(path.read_text().splitlines()) if path.exists() else 0


def make(workspace: Path, mode: str, *, backend: str = "auto", policy: str = "on-failure", asker: Any = None,
         snapshots: ShellSnapshots | None = None, sessions: ExecSessionManager | None = None,
         ) -> tuple[ToolOrchestrator, Collector]:
    config = load_config(workspace, {"approval_policy": policy, "sandbox_mode": mode, "sandbox_backend": backend},
                         dict(os.environ))
    bus = EventBus()
    collector = Collector()
    bus.subscribe(collector)
    return ToolOrchestrator(config, bus, cancel=CancelToken(), asker=asker or NoChannel(), snapshots=snapshots,
                            sessions=sessions), collector


def line(command: str, workspace: Path, **extra: Any) -> ToolRequest:
    return ToolRequest(tool="test", command=command, cwd=workspace, **extra)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    folder = tmp_path / "ws"
    folder.mkdir()
    return folder


def test_the_profile_runs_once_for_many_sandboxed_commands(home: Path, workspace: Path, tmp_path: Path,
                                                           sandbox: str) -> None:
    snapshots = ShellSnapshots()
    orchestrator, events = make(workspace, "workspace-write", backend=sandbox, snapshots=snapshots)
    outputs = []
    for _ in range(4):
        result = orchestrator.invoke(line('hi; greet x; echo "$FROM_PROFILE $MARK"; echo made > out.txt', workspace))
        assert result.status == "succeeded", result.tail_text("stderr")
        assert result.attempts[0]["sandboxBackend"] == sandbox
        outputs.append(result.tail_text("stdout"))
    assert outputs == ["hi-alias\nhello x\nyes first\n"] * 4
    assert runs(tmp_path) == 1 and len(snapshots) == 1
    assert (workspace / "out.txt").read_text() == "made\n"  # still the sandbox's writable root, and only that
    # What is recorded is the command as asked: a `bash -lc` line.
    assert {tuple(e["argv"]) for e in events.of("exec:begin")} == {
        ("/bin/bash", "-lc", 'hi; greet x; echo "$FROM_PROFILE $MARK"; echo made > out.txt')}


def test_the_sandbox_still_confines_a_snapshot_start(home: Path, workspace: Path, tmp_path: Path,
                                                     sandbox: str) -> None:
    snapshots = ShellSnapshots()
    orchestrator, _ = make(workspace, "read-only", backend=sandbox, policy="never", snapshots=snapshots)
    result = orchestrator.invoke(line("echo $FROM_PROFILE; echo x > in-ws.txt", workspace))
    assert result.status == "denied" and result.tail_text("stdout") == "yes\n"
    assert not (workspace / "in-ws.txt").exists() and len(snapshots) == 1


def test_the_commands_own_variables_win(home: Path, workspace: Path) -> None:
    orchestrator, _ = make(workspace, "workspace-write", snapshots=ShellSnapshots())
    script = 'echo "$CODEX_ORCHESTRATOR_RUN_ID $FROM_PROFILE $CODEX_ORCHESTRATOR_ATTEMPT"'
    plain = orchestrator.invoke(line(script, workspace))
    assert plain.tail_text("stdout") == "from-profile yes 1\n"  # nobody set them for the command: the profile's
    mine = orchestrator.invoke(line(script, workspace, env={"CODEX_ORCHESTRATOR_RUN_ID": "run-1",
                                                            "FROM_PROFILE": "request"}))
    assert mine.tail_text("stdout") == "run-1 request 1\n"


def test_a_one_shot_caller_takes_no_snapshot(home: Path, workspace: Path, tmp_path: Path) -> None:
    orchestrator, _ = make(workspace, "workspace-write")  # no sessions, no snapshots: the CLI's `exec`
    assert orchestrator.snapshots is None
    for _ in range(3):
        assert orchestrator.invoke(line("echo $FROM_PROFILE", workspace)).tail_text("stdout") == "yes\n"
    assert runs(tmp_path) == 3


def test_a_long_lived_callers_sessions_bring_the_snapshots(home: Path, workspace: Path, tmp_path: Path) -> None:
    """serve, mcp serve and the Python API pass their session manager to each run's orchestrator: the
    snapshots live as long as it does, across runs."""
    sessions = ExecSessionManager()
    for _ in range(3):
        orchestrator, _ = make(workspace, "workspace-write", sessions=sessions)
        assert orchestrator.snapshots is sessions.snapshots
        assert orchestrator.invoke(line("echo $FROM_PROFILE", workspace)).tail_text("stdout") == "yes\n"
    assert runs(tmp_path) == 1


def test_argv_commands_and_pty_commands_are_left_alone(home: Path, workspace: Path, tmp_path: Path) -> None:
    snapshots = ShellSnapshots()
    orchestrator, _ = make(workspace, "workspace-write", snapshots=snapshots)
    assert orchestrator.invoke(line("echo $FROM_PROFILE", workspace, pty=True)).tail_text("pty").strip() == ""
    argv = ToolRequest(tool="test", command=["bash", "-c", "echo ${FROM_PROFILE-none}"], cwd=workspace)
    assert orchestrator.invoke(argv).tail_text("stdout") == "none\n"
    assert len(snapshots) == 0 and runs(tmp_path) == 0


def test_an_escalated_rerun_does_not_use_the_sandboxed_snapshot(home: Path, workspace: Path, tmp_path: Path,
                                                                sandbox: str) -> None:
    """The profile changes after the snapshot: a sandboxed command still sees the snapshot, the rerun outside
    the sandbox (after a denial, approved) runs its own `bash -lc` and sees the profile as it is now."""
    outside = tmp_path / "outside"  # no writable root covers it: /tmp and $TMPDIR are left out
    outside.mkdir()
    (home / ".codex" / "config.toml").write_text(
        "[sandbox_workspace_write]\nexclude_slash_tmp = true\nexclude_tmpdir_env_var = true\n")
    snapshots = ShellSnapshots()
    asker = ScriptedAsker("approved")
    orchestrator, _ = make(workspace, "workspace-write", backend=sandbox, asker=asker, snapshots=snapshots)
    assert orchestrator.invoke(line("echo $MARK", workspace)).tail_text("stdout") == "first\n"
    (home / ".bashrc").write_text(BASHRC.replace("MARK=first", "MARK=second"))
    assert orchestrator.invoke(line("echo $MARK", workspace)).tail_text("stdout") == "first\n"
    result = orchestrator.invoke(line(f"echo $MARK; echo x > {outside}/f", workspace))
    assert result.status == "succeeded" and result.sandbox_state == "escalated"
    assert [a["sandboxState"] for a in result.attempts] == ["denied", "escalated"]
    assert result.tail_text("stdout") == "second\n"
    assert len(asker.questions) == 1 and len(snapshots) == 1


def test_a_hanging_profile_falls_back_to_a_login_shell(home: Path, workspace: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The snapshot gives up after its time-out; the command runs as `bash -lc`, and later ones do not try again."""
    from codex_orchestrator.exec import snapshot

    monkeypatch.setattr(snapshot, "TAKE_TIMEOUT", 0.5)
    (home / ".profile").write_text(PROFILE + "sleep 1\n")
    snapshots = ShellSnapshots()
    orchestrator, _ = make(workspace, "workspace-write", snapshots=snapshots)
    for _ in range(2):
        result = orchestrator.invoke(line("echo $FROM_PROFILE", workspace))
        assert result.status == "succeeded" and result.tail_text("stdout") == "yes\n"
    assert len(snapshots) == 0 and runs(tmp_path) == 3  # one cut-short snapshot, then two login shells


def test_a_profile_that_sets_bash_env_keeps_login_shells(home: Path, workspace: Path, tmp_path: Path) -> None:
    (home / ".profile").write_text(PROFILE + "export BASH_ENV=$HOME/.bashrc\n")
    snapshots = ShellSnapshots()
    orchestrator, _ = make(workspace, "workspace-write", snapshots=snapshots)
    for _ in range(2):
        assert orchestrator.invoke(line("echo $FROM_PROFILE", workspace)).tail_text("stdout") == "yes\n"
    assert len(snapshots) == 0 and runs(tmp_path) == 3


def test_a_pipeline_of_shell_lines_runs_the_profile_once(home: Path, tmp_path: Path, repo: Repo) -> None:
    template = 'echo "$FROM_PROFILE $CODEX_ORCHESTRATOR_STAGE_ID" > {}.txt'
    stages = [{"id": f"s{i}", "title": f"s{i}", "command": template.format(i)} for i in range(3)]
    repo.pipeline(*stages)
    result = repo.run("start", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert [(repo.root / f"{i}.txt").read_text() for i in range(3)] == [f"yes s{i}\n" for i in range(3)]
    assert runs(tmp_path) == 1
    # The manifest records each stage's line as written.
    assert [c["command"] for c in repo.manifests()[0]["commands"]] == [s["command"] for s in stages]


def test_one_shot_cli_commands_take_no_snapshot(home: Path, tmp_path: Path, repo: Repo) -> None:
    repo.pipeline({"id": "only", "title": "only", "command": "echo $FROM_PROFILE > only.txt"})
    assert repo.run("start", "--format", "json").returncode == 0
    assert repo.run("exec", "--format", "summary", "--", "echo $FROM_PROFILE").returncode == 0
    assert (repo.root / "only.txt").read_text() == "yes\n"
    assert runs(tmp_path) == 2  # one login shell each, and no snapshot beside it


def test_the_python_api_runs_the_profile_once(home: Path, tmp_path: Path, workspace: Path) -> None:
    from codex_orchestrator.api.client import Orchestrator

    orch = Orchestrator(cwd=workspace)
    try:
        results = [orch.exec("echo $FROM_PROFILE >> api.txt", sandbox="workspace-write") for _ in range(3)]
        assert [r.exit_code for r in results] == [0, 0, 0]
        assert (workspace / "api.txt").read_text() == "yes\n" * 3
        assert runs(tmp_path) == 1
    finally:
        orch.close()
