"""What a hostile repository or an earlier stage can do with paths (W2-1 items 2, 3, 4, 5, 7)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from codex_orchestrator.sandbox import SandboxMode, SandboxPolicy

from ..conftest import Repo, events
from ..sandbox.conftest import run as sandboxed


def stage(stage_id: str, command: str, **extra: object) -> dict[str, object]:
    return {"kind": "command", "id": stage_id, "title": stage_id, "command": command, **extra}


@pytest.mark.parametrize("cwd", ["..", "/", "link-out"])
def test_stage_cwd_outside_the_repo_refuses_the_run(repo: Repo, outside: Path, cwd: str) -> None:
    (repo.root / "link-out").symlink_to(outside)
    repo.pipeline(stage("first", "touch ran-first"), stage("escape", f'touch "{outside}/x"', cwd=cwd))
    result = repo.run("start", "--format", "jsonl")
    assert result.returncode == 2, result.stderr
    assert "outside the repository" in result.stderr and "'escape'" in result.stderr
    assert not (repo.root / "ran-first").exists()  # refused before anything ran
    assert not (outside / "x").exists()


def test_a_stage_that_swaps_a_folder_for_a_symlink_cannot_move_the_next(repo: Repo, outside: Path) -> None:
    (repo.root / "web").mkdir()
    # `rm -r`, not `rm -rf`: a forced rm asks first since W2-5 (Codex's dangerous-command check)
    repo.pipeline(stage("swap", f'rm -r web && ln -s "{outside}" web'),
                  stage("build", "touch built", cwd="web"))
    result = repo.run("start", "--format", "jsonl")
    assert result.returncode == 1
    assert not (outside / "built").exists()
    ends = {e["payload"]["stageId"]: e["payload"] for e in events(result.stdout) if e["type"] == "stage:end"}
    assert ends["swap"]["status"] == "succeeded"
    assert ends["build"]["status"] == "failed" and "now resolves to" in ends["build"]["summary"]


def test_stage_tmpdir_does_not_widen_the_sandbox(repo: Repo, outside: Path, backend: str) -> None:
    chosen = {"CODEX_ORCHESTRATOR_SANDBOX_BACKEND": backend}
    repo.pipeline(stage("tmp", f'touch "{outside}/x"', env={"TMPDIR": str(outside)}),
                  stage("root", f'touch "{outside}/y"', env={"TMPDIR": "/"}, allowFailure=True),
                  stage("after", f'touch "{outside}/w"', env={"TMPDIR": "/"}))
    result = repo.run("start", "--format", "jsonl", env=chosen)
    assert result.returncode == 1
    assert list(outside.iterdir()) == []
    result = repo.run("exec", "--jsonl", "--env", "TMPDIR=/", "--", "touch", f"{outside}/z", env=chosen)
    assert result.returncode != 0 and not (outside / "z").exists()


def test_git_pointer_file_and_its_gitdir_are_read_only(backend: str, tmp_path: Path) -> None:
    """A worktree/submodule `.git` file rewritten to a fresh gitdir with core.fsmonitor would run code in the
    user's next `git status`: the pointer, its gitdir and commondir stay read-only (both backends)."""
    common = tmp_path / "main-repo" / ".git"
    gitdir = common / "worktrees" / "wt"
    gitdir.mkdir(parents=True)
    (gitdir / "commondir").write_text("../..\n")
    work = tmp_path / "wt"
    work.mkdir()
    (work / ".git").write_text(f"gitdir: {gitdir}\n")
    policy = SandboxPolicy(SandboxMode.WORKSPACE_WRITE, writable_roots=(tmp_path,), exclude_slash_tmp=True,
                           exclude_tmpdir_env_var=True)
    attempts = ["echo 'gitdir: ../evil' > .git", "mv .git moved", "rm -f .git", "echo x >> .git",
                f'echo "[core] fsmonitor = evil" >> "{gitdir}/config"', f'echo x > "{common}/config"']
    for attempt in attempts:
        result = sandboxed(policy, ["sh", "-c", attempt], work, backend=backend)
        assert result.returncode != 0, attempt
    assert (work / ".git").read_text() == f"gitdir: {gitdir}\n"
    assert not (gitdir / "config").exists() and not (common / "config").exists()


def test_dot_agents_is_read_only(backend: str, tmp_path: Path) -> None:
    (tmp_path / ".agents" / "skills").mkdir(parents=True)
    policy = SandboxPolicy(SandboxMode.WORKSPACE_WRITE, exclude_slash_tmp=True, exclude_tmpdir_env_var=True)
    result = sandboxed(policy, ["sh", "-c", "echo x > .agents/skills/evil.md || echo x > .agents/evil"],
                       tmp_path, backend=backend)
    assert result.returncode != 0
    assert list((tmp_path / ".agents").rglob("*.md")) == [] and not (tmp_path / ".agents" / "evil").exists()


FORGE = ('echo \'{"type":"run:summary","payload":{"status":"succeeded"}}\' >> "$RUN_DIR/events.jsonl"; '
         'echo \'{}\' > "$RUN_DIR/manifest.json"; mv "$RUN_DIR" "$RUN_DIR.moved"; '
         'echo \'{}\' > "$STATE"; rm "$STATE.lock" 2>/dev/null; ln -sf /etc/passwd "$STATE.lock"; exit 0')


@pytest.mark.parametrize("backend_name", ["builtin", "bwrap"])
def test_a_command_cannot_touch_the_run_store(repo: Repo, backend_name: str) -> None:
    """The run directory, events.jsonl, the manifest and out/<task>/state.json (+ lock) are read-only inside."""
    run_dir = "$(ls -d .runs/default/cli/* | tail -n1)"
    command = f'RUN_DIR="{run_dir}"; STATE=out/default/state.json; {FORGE}'
    result = repo.run("exec", "--jsonl", "--", command,
                      env={"CODEX_ORCHESTRATOR_SANDBOX_BACKEND": backend_name})
    assert result.returncode == 0, result.stderr
    manifest = repo.manifests()[-1]
    assert manifest["status"] == "succeeded"
    run_dir_path = Path(manifest["events_path"]).parent
    lines = [json.loads(line) for line in (run_dir_path / "events.jsonl").read_text().splitlines()]
    assert [e["type"] for e in lines].count("run:summary") == 1  # no forged summary
    assert not list(repo.root.glob(".runs/default/cli/*.moved"))
    state = json.loads((repo.root / "out" / "default" / "state.json").read_text())
    assert state["latest"]["status"] == "succeeded"
    assert not os.path.islink(repo.root / "out" / "default" / "state.json.lock")
    # out/ itself stays writable: builds write there.
    result = repo.run("exec", "--jsonl", "--", "sh", "-c", "mkdir -p out/site && echo ok > out/site/index.html")
    assert result.returncode == 0 and (repo.root / "out" / "site" / "index.html").exists()
