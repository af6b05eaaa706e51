"""What a kill -9 leaves behind is cleaned up and accounted for (W2-2 item 11)."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest

from ..conftest import CLI, Repo


def test_a_killed_run_becomes_interrupted_in_state_and_metrics(repo: Repo) -> None:
    proc = subprocess.Popen([*CLI, "exec", "--jsonl", "--", "sh", "-c", "touch started; sleep 30"], cwd=repo.root,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while not (repo.root / "started").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed = repo.manifests()[-1]["run_id"]
    assert repo.run("exec", "--jsonl", "--", "true").returncode == 0
    state = json.loads((repo.root / "out" / "default" / "state.json").read_text())
    assert state["runs"][killed]["status"] == "interrupted"
    metrics = json.loads((repo.root / ".runs" / "default" / "metrics.json").read_text())
    assert [r["status"] for r in metrics["runs"] if r["run_id"] == killed] == ["interrupted"]
    assert metrics["totals"]["interrupted"] == 1
    assert repo.run("exec", "--jsonl", "--", "true").returncode == 0  # counted once, not at every run
    metrics = json.loads((repo.root / ".runs" / "default" / "metrics.json").read_text())
    assert metrics["totals"]["interrupted"] == 1


def test_stale_temporary_files_are_swept(repo: Repo) -> None:
    assert repo.run("exec", "--jsonl", "--", "true").returncode == 0
    stale = [repo.root / "out" / "default" / ".state.json.999999.0.tmp",
             repo.root / ".runs" / "default" / ".metrics.json.999999.3.tmp"]
    for path in stale:
        path.write_text("{half")
    assert repo.run("exec", "--jsonl", "--", "true").returncode == 0
    assert not any(path.exists() for path in stale)


def _views(repo: Repo) -> tuple[dict, dict]:  # type: ignore[type-arg]
    state = json.loads((repo.root / "out" / "default" / "state.json").read_text())
    metrics = json.loads((repo.root / ".runs" / "default" / "metrics.json").read_text())
    return state, metrics


@pytest.mark.parametrize("died", ["before metrics", "between metrics and state"])
def test_a_run_whose_process_died_before_its_final_state_is_completed_by_the_next_run(repo: Repo, died: str) -> None:
    """The process wrote the final manifest, then died before state.json (and maybe metrics.json) caught up:
    state.json still says in_progress. The next run of the task completes both from the manifest, once."""
    assert repo.run("exec", "--jsonl", "--", "true").returncode == 0
    state, metrics = _views(repo)
    run_id = state["latest_run_id"]
    state["runs"][run_id]["status"] = "in_progress"
    (repo.root / "out" / "default" / "state.json").write_text(json.dumps(state))
    if died == "before metrics":
        metrics["runs"] = [r for r in metrics["runs"] if r["run_id"] != run_id]
        metrics["totals"]["runs"] -= 1
        metrics["totals"]["succeeded"] -= 1
        (repo.root / ".runs" / "default" / "metrics.json").write_text(json.dumps(metrics))
    assert repo.run("exec", "--jsonl", "--", "true").returncode == 0
    state, metrics = _views(repo)
    assert state["runs"][run_id]["status"] == "succeeded"
    assert [r["status"] for r in metrics["runs"] if r["run_id"] == run_id] == ["succeeded"]
    assert metrics["totals"]["runs"] == metrics["totals"]["succeeded"] == 2


def test_a_long_lived_process_sees_what_other_processes_wrote_to_the_shared_files(repo: Repo) -> None:
    """One process keeps the last version of state.json/metrics.json it wrote (runs/shared.py); a run by
    another process in between, or a hand edit, must not be lost by the next update."""
    from codex_orchestrator import Orchestrator

    orch = Orchestrator(cwd=repo.root)
    assert orch.exec(["true"]).exit_code == 0
    assert repo.run("exec", "--jsonl", "--", "true").returncode == 0  # another process
    assert orch.exec(["true"]).exit_code == 0
    state, metrics = _views(repo)
    assert len(state["runs"]) == 3 and metrics["totals"]["runs"] == len(metrics["runs"]) == 3
    (repo.root / ".runs" / "default" / "metrics.json").write_text("{half")  # damaged behind its back
    assert orch.exec(["true"]).exit_code == 0
    state, metrics = _views(repo)
    assert len(state["runs"]) == 4 and metrics["rebuilt"] is True and len(metrics["runs"]) == 4
    orch.close()
