"""The public Python API (`from codex_orchestrator import Orchestrator`) with real commands and sandbox."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import codex_orchestrator
from codex_orchestrator import ApprovalRequest, AsyncOrchestrator, Orchestrator
from tests.conftest import Repo


def test_importing_the_package_loads_none_of_the_api() -> None:
    code = "import codex_orchestrator, sys; print(sorted(m for m in sys.modules if m.startswith('codex_orch')))"
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                       check=True).stdout.replace("'", '"'))
    assert loaded == ["codex_orchestrator", "codex_orchestrator._lazy"]
    assert set(codex_orchestrator.__all__) >= {"Orchestrator", "AsyncOrchestrator", "ExecResult", "OrchestratorError"}


def test_exec_returns_a_result_and_records_the_run(repo: Repo) -> None:
    events: list[dict[str, Any]] = []
    with Orchestrator(cwd=repo.root) as orch:
        ok = orch.exec(["echo", "hello"], on_event=events.append)
        failed = orch.exec("exit 4")
    assert ok.ok and ok.exit_code == 0 and ok.stdout == "hello\n"
    assert failed.status == "failed" and failed.exit_code == 4  # a non-zero exit is a result
    assert json.loads(ok.manifest_path.read_text())["status"] == "succeeded"
    assert events[0]["type"] == "run:start" and events[-1]["type"] == "run:summary"


def test_the_sandbox_holds_through_the_api(repo: Repo) -> None:
    orch = Orchestrator(cwd=repo.root, sandbox="read-only", approval_policy="never")
    result = orch.exec("echo x > written.txt")
    assert result.exit_code != 0 and not (repo.root / "written.txt").exists()
    assert result.summary["result"]["sandboxState"] == "denied"
    dot_git = orch.exec("echo x > .git/config", sandbox="workspace-write")
    assert dot_git.exit_code != 0 and not (repo.root / ".git" / "config").exists()


@pytest.mark.parametrize(("decision", "made"), [("approved", True), ("denied", False), ("maybe", False)])
def test_approvals_are_answered_by_a_callback(repo: Repo, decision: str, made: bool) -> None:
    asked: list[ApprovalRequest] = []

    def answer(request: ApprovalRequest) -> Any:
        asked.append(request)
        return decision

    result = Orchestrator(cwd=repo.root, on_approval=answer).exec(["touch", "made"], approval_policy="untrusted")
    assert (repo.root / "made").exists() == made
    assert result.exit_code == (0 if made else 77)
    assert asked[0].command == ("touch", "made")


def test_no_callback_fails_closed(repo: Repo) -> None:
    result = Orchestrator(cwd=repo.root).exec(["touch", "made"], approval_policy="untrusted")
    assert result.exit_code == 77 and not (repo.root / "made").exists()


def test_output_schema_gives_structured_output(repo: Repo) -> None:
    schema = {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}}
    orch = Orchestrator(cwd=repo.root)
    assert orch.exec(["echo", '{"n": 3}'], output_schema=schema).structured_output == {"n": 3}
    bad = orch.exec(["echo", '{"n": "x"}'], output_schema=schema)
    assert bad.exit_code == 65 and bad.structured_output is None


def test_sessions_keep_state(repo: Repo) -> None:
    with Orchestrator(cwd=repo.root) as orch, orch.open_session() as session:
        session.run("export GREETING=hi; mkdir -p d; cd d")
        result = session.run('echo "$GREETING from $(basename $PWD)"')
    assert "hi from d" in result.stdout


def test_exec_streamed_yields_events_then_the_result(repo: Repo) -> None:
    stream = Orchestrator(cwd=repo.root).exec_streamed("echo one; echo two")
    types = [event["type"] for event in stream]
    assert types[0] == "run:start" and types[-1] == "run:summary"
    assert stream.result.stdout == "one\ntwo\n"


def test_start_and_status_of_a_pipeline(repo: Repo) -> None:
    repo.pipeline({"id": "a", "title": "a", "command": "echo A"}, {"id": "b", "title": "b", "command": "exit 2"})
    orch = Orchestrator(cwd=repo.root)
    run = orch.start("p")
    assert run.status == "failed" and run.exit_code == 2
    view = orch.status(run.run_id)
    assert [s["status"] for s in view["stages"]] == ["succeeded", "failed"]


def test_async_exec_and_cancel(repo: Repo) -> None:
    async def main() -> tuple[Any, Any, float]:
        orch = AsyncOrchestrator(cwd=repo.root)
        quick = await orch.exec(["echo", "async"])
        task = asyncio.create_task(orch.exec("sleep 30"))
        await asyncio.sleep(0.5)
        began = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        events = [e["type"] async for e in orch.exec_streamed(["echo", "streamed"])]
        return quick, events, time.monotonic() - began

    quick, events, took = asyncio.run(main())
    assert quick.stdout == "async\n"
    assert events[0] == "run:start" and events[-1] == "run:summary"
    assert took < 10
    manifests = sorted((repo.root / ".runs" / "default" / "cli").glob("*/manifest.json"))
    statuses = [json.loads(m.read_text())["status"] for m in manifests]
    assert statuses.count("cancelled") == 1  # the cancelled task's run is recorded as cancelled


def test_the_example_in_docs_runs(repo: Repo) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "python-api.md").read_text()
    code = doc.split("```python\n", 1)[1].split("```", 1)[0]
    done = subprocess.run([sys.executable, "-c", code], cwd=repo.root, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "run:summary" in done.stdout and (repo.root / "made.txt").exists()
