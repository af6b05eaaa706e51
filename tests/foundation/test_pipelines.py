"""Pipelines end to end through the real CLI: runs, manifests, resume, signals, concurrency."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from ..conftest import CLI, Repo, events
from .schema_check import assert_valid_manifest


def test_start_runs_stages_and_writes_every_file(repo: Repo) -> None:
    repo.pipeline({"id": "one", "command": "echo hello-one"}, {"id": "two", "command": "echo two >&2"})
    result = repo.run("start", "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    stream = events(result.stdout)
    assert stream[0]["type"] == "run:start" and stream[-1]["type"] == "run:summary"
    assert stream[0]["payload"]["schemaVersion"] == 1
    types = [e["type"] for e in stream]
    assert types.count("stage:start") == 2 and types.count("stage:end") == 2
    assert types.index("tool:start") < types.index("exec:begin") < types.index("exec:end")
    (manifest,) = repo.manifests()
    assert_valid_manifest(manifest)
    assert manifest["status"] == "succeeded"
    assert [c["status"] for c in manifest["commands"]] == ["succeeded", "succeeded"]
    assert len(manifest["tool_runs"]) == 2
    run_dir = Path(manifest["events_path"]).parent
    assert (run_dir / "commands" / "01-one.log").read_bytes() == b"hello-one\n"
    assert (run_dir / "commands" / "02-two.log").read_bytes() == b"two\n"
    assert (run_dir / ".resume-token").stat().st_mode & 0o777 == 0o600
    on_disk = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    assert [e["type"] for e in on_disk] == types
    assert json.loads((run_dir / "run-summary.json").read_text())["status"] == "succeeded"
    state = json.loads((repo.root / "out" / "default" / "state.json").read_text())
    assert state["latest"]["status"] == "succeeded"
    metrics = json.loads((repo.root / ".runs" / "default" / "metrics.json").read_text())
    assert len(metrics["runs"]) == 1


def test_failed_stage_stops_pipeline_unless_allowed(repo: Repo) -> None:
    repo.pipeline({"id": "soft", "command": "exit 3", "allowFailure": True},
                  {"id": "hard", "command": "echo boom >&2; exit 4"},
                  {"id": "never", "command": "echo never"})
    result = repo.run("start", "--format", "json")
    assert result.returncode == 4  # the exit code of the stage that failed the run (docs/cli.md)
    summary = json.loads(result.stdout)
    assert summary["status"] == "failed"
    assert "hard" in summary["statusDetail"]
    (manifest,) = repo.manifests()
    assert [c["status"] for c in manifest["commands"]] == ["failed", "failed", "pending"]
    assert [c["exit_code"] for c in manifest["commands"]] == [3, 4, None]
    assert "boom" in manifest["commands"][1]["summary"]


def test_plan_runs_nothing(repo: Repo) -> None:
    repo.pipeline({"id": "touch", "command": "touch made-by-plan"})
    result = repo.run("plan")
    assert result.returncode == 0
    assert "touch made-by-plan" in result.stdout
    assert not (repo.root / "made-by-plan").exists()
    assert not (repo.root / ".runs").exists()


def test_builtin_diagnostics_detects_python_repo(repo: Repo) -> None:
    (repo.root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (repo.root / "tests").mkdir()
    (repo.root / "tests" / "test_ok.py").write_text("def test_ok():\n    assert True\n")
    plan = repo.run("plan", "--format", "json")
    stage_ids = [s["id"] for s in json.loads(plan.stdout)["stages"]]
    assert "pytest" in stage_ids and "git-status" in stage_ids
    pipelines = repo.run("pipelines")
    assert "diagnostics" in pipelines.stdout and "builtin" in pipelines.stdout


def test_subpipelines_link_both_ways(repo: Repo) -> None:
    repo.config({"pipelines": [
        {"id": "main", "stages": [{"id": "pre", "command": "true"},
                                  {"kind": "subpipeline", "id": "sub", "pipeline": "child"}]},
        {"id": "child", "stages": [{"id": "inner", "command": "echo inner"}]},
    ], "defaultPipeline": "main"})
    result = repo.run("start", "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    stream = events(result.stdout)
    assert [e["type"] for e in stream].count("run:start") == 1
    assert stream[-1]["type"] == "run:summary"
    manifests = {m["pipeline"]["id"]: m for m in repo.manifests()}
    parent, child = manifests["main"], manifests["child"]
    assert child["parent_run_id"] == parent["run_id"]
    assert parent["child_runs"][0]["run_id"] == child["run_id"]
    assert parent["child_runs"][0]["status"] == "succeeded"
    assert parent["commands"][1]["child_run_id"] == child["run_id"]
    for manifest in (parent, child):
        assert_valid_manifest(manifest)
    latest = json.loads(repo.run("status", "--format", "json").stdout)  # the top-level run, not the child
    assert latest["run_id"] == parent["run_id"] and latest["child_runs"][0]["run_id"] == child["run_id"]


def test_subpipeline_cycle_rejected_before_running(repo: Repo) -> None:
    repo.config({"pipelines": [
        {"id": "a", "stages": [{"id": "mark", "command": "touch ran"},
                               {"kind": "subpipeline", "id": "to-b", "pipeline": "b"}]},
        {"id": "b", "stages": [{"kind": "subpipeline", "id": "to-a", "pipeline": "a"}]},
    ], "defaultPipeline": "a"})
    result = repo.run("start")
    assert result.returncode == 2
    assert "cycle" in result.stderr and "a -> b -> a" in result.stderr
    assert not (repo.root / "ran").exists()


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (["start", "--task", "../x"], "invalid task id", 2),
        (["start", "--task", "/etc"], "invalid task id", 2),
        (["start", "--task", ""], "invalid task id", 2),
        (["start", "--task", "a\x01b"], "invalid task id", 2),
        (["start", "nope"], "unknown pipeline 'nope'", 66),
        (["status", "--run", "not-a-run-id"], "invalid run id", 2),
        (["status", "--run", "2026-01-01T00-00-00-000Z-00000000"], "not found", 66),
        (["resume", "--run", "2026-01-01T00-00-00-000Z-00000000"], "not found", 66),
        (["start", "--sandbox", "bogus"], "invalid choice", 2),
        (["exec"], "needs a command", 2),
        (["frobnicate"], "invalid choice", 2),
    ],
)
def test_bad_input_is_one_clear_line(repo: Repo, args: list[str], message: str, code: int) -> None:
    repo.pipeline({"id": "s", "command": "true"})
    result = repo.run(*args)
    assert result.returncode == code, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_task_id_from_environment_is_validated(repo: Repo) -> None:
    repo.pipeline({"id": "s", "command": "true"})
    result = repo.run("start", env={"MCP_RUNNER_TASK_ID": "../../etc"})
    assert result.returncode == 2 and "MCP_RUNNER_TASK_ID" in result.stderr
    ok = repo.run("start", "--format", "json", env={"MCP_RUNNER_TASK_ID": "task-7"})
    assert ok.returncode == 0 and (repo.root / ".runs" / "task-7").is_dir()


def test_eight_concurrent_runs_leave_eight_records(repo: Repo) -> None:
    repo.pipeline({"id": "s", "command": "true"})
    procs = [subprocess.Popen([*CLI, "start", "--format", "json", "--task", "shared"], cwd=repo.root,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(8)]
    for proc in procs:
        assert proc.wait(timeout=120) == 0, proc.stderr.read() if proc.stderr else ""
        if proc.stderr:
            proc.stderr.close()
    metrics = json.loads((repo.root / ".runs" / "shared" / "metrics.json").read_text())
    assert len(metrics["runs"]) == 8
    assert len({r["run_id"] for r in metrics["runs"]}) == 8
    state = json.loads((repo.root / "out" / "shared" / "state.json").read_text())
    assert len(state["runs"]) == 8
    assert all(r["status"] == "succeeded" for r in state["runs"].values())


def _wait_for(predicate, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def _started_marker(repo: Repo) -> bool:
    return (repo.root / "second-started").exists()


def test_kill_9_then_status_interrupted_then_resume(repo: Repo) -> None:
    repo.pipeline({"id": "first", "command": "echo first >> ran.txt"},
                  {"id": "second", "command": "echo second >> ran.txt; touch second-started; "
                                              "while [ ! -e go ]; do sleep 0.05; done"},
                  {"id": "third", "command": "echo third >> ran.txt"})
    env = {**os.environ, "CODEX_ORCHESTRATOR_HEARTBEAT_INTERVAL": "0.2"}
    proc = subprocess.Popen([*CLI, "start", "--format", "jsonl"], cwd=repo.root, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=env)
    _wait_for(lambda: _started_marker(repo))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.stdout is not None
    proc.stdout.close()
    (manifest,) = repo.manifests()  # still valid JSON after kill -9
    assert manifest["status"] == "in_progress"
    run_id = manifest["run_id"]
    status = repo.run("status", "--run", run_id, "--format", "json")
    assert json.loads(status.stdout)["status"] == "interrupted"
    (repo.root / "go").touch()  # the killed run's orphaned stage now ends by itself
    token = (Path(manifest["events_path"]).parent / ".resume-token").read_text().strip()
    wrong = repo.run("resume", "--run", run_id, "--token", "0" * 32)
    assert wrong.returncode == 77 and "wrong resume token" in wrong.stderr
    resumed = repo.run("resume", "--run", run_id, "--token", token, "--format", "json")
    assert resumed.returncode == 0, resumed.stderr
    assert (repo.root / "ran.txt").read_text().split() == ["first", "second", "second", "third"]
    (manifest,) = repo.manifests()
    assert_valid_manifest(manifest)
    assert manifest["status"] == "succeeded"
    assert manifest["resume_events"][0]["from_stage"] == "second"
    assert manifest["resume_events"][0]["previous_status"] == "in_progress"
    again = repo.run("resume", "--run", run_id)
    assert again.returncode == 0 and "already succeeded" in again.stderr


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_stops_process_group_and_records_cancelled(repo: Repo, sig: int, code: int) -> None:
    repo.pipeline({"id": "long", "command": "sleep 307 & sleep 308 & touch started; wait"},
                  {"id": "after", "command": "touch must-not-run"})
    proc = subprocess.Popen([*CLI, "start", "--format", "jsonl"], cwd=repo.root, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    _wait_for(lambda: (repo.root / "started").exists())
    os.kill(proc.pid, sig)
    stdout, _ = proc.communicate(timeout=30)
    assert proc.returncode == code
    stream = events(stdout.decode())
    assert stream[-1]["type"] == "run:summary"
    assert stream[-1]["payload"]["status"] == "cancelled"
    (manifest,) = repo.manifests()
    assert manifest["status"] == "cancelled"
    assert not (repo.root / "must-not-run").exists()
    time.sleep(0.2)
    leftovers = subprocess.run(["pgrep", "-f", "sleep 30[78]"], capture_output=True, text=True)
    assert leftovers.stdout.strip() == "", "orphaned processes survived"


def test_shared_files_stay_bounded(tmp_path: Path) -> None:
    from codex_orchestrator.runs import store

    paths = store.RunPaths(tmp_path, "t", "2026-01-01T00-00-00-000Z-00000000")
    for i in range(store.METRICS_KEEP_RUNS + 7):
        store.RunStore.append_metrics(paths, {"run_id": f"r{i:04d}", "status": "succeeded", "tool_runs": 1})
    metrics = json.loads(paths.metrics.read_text())
    assert len(metrics["runs"]) == store.METRICS_KEEP_RUNS
    assert metrics["runs"][-1]["run_id"] == f"r{store.METRICS_KEEP_RUNS + 6:04d}"
    assert metrics["totals"]["runs"] == store.METRICS_KEEP_RUNS + 7
    assert metrics["totals"]["succeeded"] == metrics["totals"]["tool_runs"] == store.METRICS_KEEP_RUNS + 7


def test_plan_never_echoes_secret_env_values(repo: Repo) -> None:
    repo.pipeline({"id": "deploy", "command": "./deploy", "env": {"API_TOKEN": "s3cr3t", "REGION": "eu"}})
    for fmt in ("text", "json"):
        out = repo.run("plan", "--format", fmt).stdout
        assert "s3cr3t" not in out and "[REDACTED]" in out and "eu" in out
