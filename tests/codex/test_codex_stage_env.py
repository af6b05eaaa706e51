"""A codex stage's commands get the run's variables too (docs/exec.md, "The run's variables")."""

from __future__ import annotations

from ..conftest import Repo
from ..fakemodel import FakeModel, Turn


def test_commands_codex_runs_see_the_run_variables(repo: Repo, model: FakeModel, codex_env: dict[str, str]) -> None:
    repo.pipeline({"kind": "codex", "id": "agent", "title": "Agent", "prompt": "Look around", "timeout": 120})
    model.script(
        Turn.exec_command("env | grep -E '^(CODEX_ORCHESTRATOR_|MCP_RUNNER_)' | sort > seen.txt", call_id="c1"),
        Turn.message("done"),
    )
    result = repo.run("start", "--format", "json", "--task", "agent-task", env=codex_env, timeout=120)
    assert result.returncode == 0, result.stderr
    (manifest,) = repo.manifests("agent-task")
    seen = dict(line.split("=", 1) for line in (repo.root / "seen.txt").read_text().splitlines())
    assert seen["MCP_RUNNER_TASK_ID"] == seen["CODEX_ORCHESTRATOR_TASK_ID"] == "agent-task"
    assert seen["CODEX_ORCHESTRATOR_RUN_ID"] == manifest["run_id"]
    assert seen["CODEX_ORCHESTRATOR_STAGE_ID"] == "agent"
    assert seen["CODEX_ORCHESTRATOR_PIPELINE_ID"] == "p"
    assert seen["CODEX_ORCHESTRATOR_ROOT"] == str(repo.root)
