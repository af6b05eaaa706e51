"""The variables every command of a run gets (docs/exec.md, "The run's variables"), through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ..conftest import Repo
from ..sandbox.conftest import require_backend

NAMES = ("MCP_RUNNER_TASK_ID", "CODEX_ORCHESTRATOR_TASK_ID", "CODEX_ORCHESTRATOR_RUN_ID",
         "CODEX_ORCHESTRATOR_PIPELINE_ID", "CODEX_ORCHESTRATOR_MANIFEST_PATH", "CODEX_ORCHESTRATOR_RUN_DIR",
         "CODEX_ORCHESTRATOR_RUNS_DIR", "CODEX_ORCHESTRATOR_OUT_DIR", "CODEX_ORCHESTRATOR_ROOT",
         "CODEX_ORCHESTRATOR_STAGE_ID", "CODEX_ORCHESTRATOR_ATTEMPT", "CODEX_ORCHESTRATOR_PARENT_RUN_ID")
# Prints the variables as one JSON line (python3 is there wherever the suite runs).
PRINT = ("python3 -c 'import json, os; print(json.dumps({k: v for k, v in os.environ.items() "
         "if k.startswith((\"CODEX_ORCHESTRATOR_\", \"MCP_RUNNER_\", \"FROM_\"))}))'")


def _expected(manifest: dict[str, Any], root: Path, stage_id: str, attempt: int = 1) -> dict[str, str]:
    run_dir = Path(manifest["events_path"]).parent
    return {
        "MCP_RUNNER_TASK_ID": manifest["task_id"], "CODEX_ORCHESTRATOR_TASK_ID": manifest["task_id"],
        "CODEX_ORCHESTRATOR_RUN_ID": manifest["run_id"], "CODEX_ORCHESTRATOR_PIPELINE_ID": manifest["pipeline"]["id"],
        "CODEX_ORCHESTRATOR_MANIFEST_PATH": str(run_dir / "manifest.json"),
        "CODEX_ORCHESTRATOR_RUN_DIR": str(run_dir), "CODEX_ORCHESTRATOR_RUNS_DIR": str(root / ".runs"),
        "CODEX_ORCHESTRATOR_OUT_DIR": str(root / "out"), "CODEX_ORCHESTRATOR_ROOT": str(root),
        "CODEX_ORCHESTRATOR_STAGE_ID": stage_id, "CODEX_ORCHESTRATOR_ATTEMPT": str(attempt),
        "CODEX_ORCHESTRATOR_PARENT_RUN_ID": manifest.get("parent_run_id") or "",
    }


def _printed(manifest: dict[str, Any], index: int) -> dict[str, str]:
    """What the stage at `index` (from 1) printed, from its log under the run's commands/."""
    (log,) = (Path(manifest["events_path"]).parent / "commands").glob(f"{index:02d}-*.log")
    line = [text for text in log.read_text().splitlines() if text.startswith("{")][-1]
    data: dict[str, str] = json.loads(line)
    return data


def test_exec_gets_the_run_variables(repo: Repo) -> None:
    result = repo.run("exec", "--format", "summary", "--task", "t-7", "--", PRINT)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    seen = json.loads(summary["outputs"]["stdoutTail"])
    (manifest,) = repo.manifests("t-7")
    assert {k: seen.get(k) for k in NAMES} == _expected(manifest, repo.root, "exec")
    assert Path(seen["CODEX_ORCHESTRATOR_MANIFEST_PATH"]) == Path(summary["run"]["manifest"])


def test_every_stage_and_child_run_gets_its_own(repo: Repo) -> None:
    repo.config({"pipelines": [
        {"id": "main", "stages": [{"id": "first", "command": PRINT},
                                  {"kind": "subpipeline", "id": "nested", "pipeline": "inner"}]},
        {"id": "inner", "stages": [{"id": "deep", "command": PRINT}]},
    ], "defaultPipeline": "main"})
    result = repo.run("start", "--format", "json")
    assert result.returncode == 0, result.stderr
    parent, child = sorted(repo.manifests(), key=lambda m: m["parent_run_id"] is not None)
    first = _printed(parent, 1)
    assert {k: first.get(k) for k in NAMES} == _expected(parent, repo.root, "first")
    deep = _printed(child, 1)
    assert {k: deep.get(k) for k in NAMES} == _expected(child, repo.root, "deep")
    assert deep["CODEX_ORCHESTRATOR_PARENT_RUN_ID"] == parent["run_id"]


def test_attempt_counts_retries(repo: Repo) -> None:
    command = 'echo "attempt $CODEX_ORCHESTRATOR_ATTEMPT"; [ "$CODEX_ORCHESTRATOR_ATTEMPT" = 3 ] || exit 75'
    repo.pipeline({"id": "flaky", "retryOnExitCodes": [75], "command": command})
    result = repo.run("start", "--format", "json", env={"CODEX_ORCHESTRATOR_RETRY_BACKOFF_MS": "1"})
    assert result.returncode == 0, result.stderr
    (manifest,) = repo.manifests()
    (log_path,) = (Path(manifest["events_path"]).parent / "commands").glob("01-*.log")
    log = log_path.read_text()
    assert log.splitlines() == ["attempt 1", "attempt 2", "attempt 3"]


def test_set_after_the_env_policy_and_a_stage_env_still_wins(repo: Repo, isolated_home: Path) -> None:
    """`inherit = "none"` + `include_only` drop the user's variables, not the run's; a stage `env` (the
    reference's own config blanks some for its tests) overrides them, as in the reference."""
    (isolated_home / ".codex" / "config.toml").write_text(
        '[shell_environment_policy]\ninherit = "none"\ninclude_only = ["PATH"]\n')
    repo.pipeline({"id": "plain", "command": PRINT},
                  {"id": "blank", "command": PRINT, "env": {"CODEX_ORCHESTRATOR_RUN_ID": "", "FROM_STAGE": "1"}})
    result = repo.run("start", "--format", "json", env={"FROM_USER": "dropped",
                                                        "CODEX_ORCHESTRATOR_STAGE_ID": "stale-from-the-caller"})
    assert result.returncode == 0, result.stderr
    (manifest,) = repo.manifests()
    plain = _printed(manifest, 1)
    assert "FROM_USER" not in plain
    assert {k: plain.get(k) for k in NAMES} == _expected(manifest, repo.root, "plain")
    blank = _printed(manifest, 2)
    assert blank["CODEX_ORCHESTRATOR_RUN_ID"] == "" and blank["FROM_STAGE"] == "1"
    assert blank["CODEX_ORCHESTRATOR_STAGE_ID"] == "blank"


@pytest.mark.parametrize("backend_name", ["builtin", "bwrap"])
def test_the_paths_are_for_reading_only(repo: Repo, backend_name: str, request: pytest.FixtureRequest) -> None:
    require_backend(backend_name, request.config)
    command = ('cat "$CODEX_ORCHESTRATOR_MANIFEST_PATH" > /dev/null && echo read-ok; '
               'touch "$CODEX_ORCHESTRATOR_RUN_DIR/forged" 2>/dev/null && echo wrote-run-dir; '
               'echo x >> "$CODEX_ORCHESTRATOR_MANIFEST_PATH" 2>/dev/null && echo wrote-manifest; '
               'mkdir "$CODEX_ORCHESTRATOR_RUNS_DIR/evil" 2>/dev/null && echo wrote-runs-dir; true')
    result = repo.run("exec", "--format", "summary", "--", command,
                      env={"CODEX_ORCHESTRATOR_SANDBOX_BACKEND": backend_name})
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)["outputs"]["stdoutTail"]
    assert out.split() == ["read-ok"]
    run_dir = Path(repo.manifests()[0]["events_path"]).parent
    assert not (run_dir / "forged").exists() and not (repo.root / ".runs" / "evil").exists()
