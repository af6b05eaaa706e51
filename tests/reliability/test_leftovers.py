"""What a kill -9 leaves behind is cleaned up and accounted for (W2-2 item 11)."""

from __future__ import annotations

import json
import signal
import subprocess
import time

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
