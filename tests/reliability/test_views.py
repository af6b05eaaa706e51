"""A server's writer thread for the shared files (runs/views.py), in a process of its own: `defer()` is
for the whole process, so each case runs a small script in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from ..conftest import Repo


def _script(repo: Repo, body: str) -> subprocess.CompletedProcess[str]:
    code = textwrap.dedent("""
        import json, sys, threading, time
        from pathlib import Path
        from codex_orchestrator import Orchestrator
        from codex_orchestrator.runs import views
        views.GATHER_SECONDS = 30  # nothing is written unless flushed
        views.defer()
        orch = Orchestrator(cwd=sys.argv[1], sandbox="danger-full-access")
    """) + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", code, str(repo.root)], capture_output=True, text=True, timeout=60)


def _metrics(repo: Repo) -> list[dict[str, object]]:
    return json.loads((repo.root / ".runs" / "default" / "metrics.json").read_text())["runs"]  # type: ignore[no-any-return]


def test_answers_come_before_the_shared_files_and_exit_writes_them(repo: Repo) -> None:
    done = _script(repo, """
        ids = [orch.exec(["true"]).run_id for _ in range(3)]
        assert not Path(sys.argv[1], "out", "default", "state.json").exists()  # gathered, not written
        print(json.dumps(ids))
    """)
    assert done.returncode == 0, done.stderr
    ids = json.loads(done.stdout)
    state = json.loads((repo.root / "out" / "default" / "state.json").read_text())["runs"]
    assert {i: state[i]["status"] for i in ids} == dict.fromkeys(ids, "succeeded")  # written at exit
    assert [r["run_id"] for r in _metrics(repo)] == ids and all(r["latency_ms"] for r in _metrics(repo))


def test_an_update_meanwhile_leaves_the_runs_the_writer_holds_to_it(repo: Repo) -> None:
    """A run whose `in_progress` entry is on disk and whose final lines the writer still holds is not
    stale: an update of the task meanwhile (here another run's start, written at once) must not settle it
    from its manifest, which would record it without its latency."""
    done = _script(repo, """
        from codex_orchestrator.runs import views
        from codex_orchestrator.runs.store import RunPaths, RunStore
        result = {}
        worker = threading.Thread(target=lambda: result.setdefault("r", orch.exec("sleep 0.5")))
        worker.start()
        time.sleep(0.25)
        views.flush()  # the long run's in_progress entry goes out while it runs
        worker.join()  # it ended: its lock is free, its final lines wait in the writer
        long_id = result["r"].run_id
        other = RunPaths(Path(sys.argv[1]), "default", "2000-01-01T00-00-00-000Z-00000000")
        RunStore.record_state(other, {"run_id": other.run_id, "status": "succeeded", "pipeline": "exec"})
        state = json.loads(Path(sys.argv[1], "out", "default", "state.json").read_text())["runs"]
        assert state[long_id]["status"] == "in_progress", state[long_id]  # left to the writer
        print(long_id)
    """)
    assert done.returncode == 0, done.stderr
    long_id = done.stdout.strip()
    records = [r for r in _metrics(repo) if r["run_id"] == long_id]
    assert len(records) == 1 and records[0]["latency_ms"] is not None and records[0]["status"] == "succeeded"
    state = json.loads((repo.root / "out" / "default" / "state.json").read_text())["runs"]
    assert state[long_id]["status"] == "succeeded"


def test_a_batch_of_records_is_counted_once_each_and_trimmed() -> None:
    """The writer adds a batch of records in one update: an ending already kept, or twice in the batch, is
    counted once; `totals` count every run, while only the last METRICS_KEEP_RUNS records are kept."""
    from codex_orchestrator.runs.store import METRICS_KEEP_RUNS, _add_metrics, _empty_metrics

    def record(n: int, status: str = "succeeded") -> dict[str, object]:
        return {"run_id": f"r{n:04d}", "status": status, "completed_at": f"t{n}", "tool_runs": 1}

    metrics = _empty_metrics("t")
    _add_metrics(metrics, *(record(n) for n in range(METRICS_KEEP_RUNS - 1)))
    _add_metrics(metrics, record(0), record(5), record(900, "failed"), record(900, "failed"), record(901))
    assert metrics["totals"]["runs"] == METRICS_KEEP_RUNS + 1
    assert (metrics["totals"]["succeeded"], metrics["totals"]["failed"]) == (METRICS_KEEP_RUNS, 1)
    assert metrics["totals"]["tool_runs"] == METRICS_KEEP_RUNS + 1
    kept = [r["run_id"] for r in metrics["runs"]]
    assert len(kept) == METRICS_KEEP_RUNS and kept[0] == "r0001" and kept[-2:] == ["r0900", "r0901"]
    _add_metrics(metrics, record(2, "interrupted"))  # another ending of a kept run: counted
    assert metrics["totals"]["interrupted"] == 1 and metrics["runs"][-1]["status"] == "interrupted"
