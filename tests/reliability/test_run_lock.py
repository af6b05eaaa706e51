"""One live orchestrator per run (W2-2 item 1): concurrent resumes, and a stopped orchestrator."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from ..conftest import CLI, Repo

TRIALS = 20


def _failed_run(repo: Repo) -> str:
    (repo.root / "ok").unlink(missing_ok=True)
    result = repo.run("start", "--format", "jsonl")
    assert result.returncode == 1, result.stderr
    (repo.root / "ok").touch()
    return str(repo.manifests()[-1]["run_id"])


def test_concurrent_resumes_execute_a_run_once(repo: Repo) -> None:
    repo.pipeline({"kind": "command", "id": "a", "title": "a", "command": "true"},
                  {"kind": "command", "id": "b", "title": "b",
                   "command": "test -e ok || exit 1; sleep 0.3; echo b >> ran.txt"})
    executed: list[int] = []
    for _ in range(TRIALS):
        (repo.root / "ran.txt").unlink(missing_ok=True)
        run_id = _failed_run(repo)
        procs = [subprocess.Popen([*CLI, "resume", "--run", run_id, "--format", "jsonl"], cwd=repo.root,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                 for _ in range(4)]
        outcomes = [(proc.wait(timeout=60), proc.stderr.read() if proc.stderr else "") for proc in procs]
        ran = (repo.root / "ran.txt").read_text().split() if (repo.root / "ran.txt").exists() else []
        executed.append(len(ran))
        for code, stderr in outcomes:
            assert code in (0, 75), stderr
            assert code == 0 or "is being run by pid" in stderr
        manifest = next(m for m in repo.manifests() if m["run_id"] == run_id)
        assert len(manifest["resume_events"]) == 1
        assert manifest["status"] == "succeeded"
    assert executed == [1] * TRIALS, executed


def test_a_stopped_orchestrator_is_not_interrupted_and_cannot_be_resumed(repo: Repo) -> None:
    repo.pipeline({"kind": "command", "id": "wait", "title": "wait", "command": "touch started; sleep 30"})
    env = {**os.environ, "CODEX_ORCHESTRATOR_HEARTBEAT_INTERVAL": "0.05"}
    proc = subprocess.Popen([*CLI, "start", "--format", "jsonl"], cwd=repo.root, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not (repo.root / "started").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGSTOP)
        time.sleep(0.3)  # many heartbeats missed; the heartbeat floor (15 s) is not what decides any more
        run_id = repo.manifests()[-1]["run_id"]
        manifest_path = Path(repo.manifests()[-1]["events_path"]).parent / "manifest.json"
        data = json.loads(manifest_path.read_text())
        data["heartbeat_at"] = "2000-01-01T00:00:00.000Z"  # as if stopped for ages
        manifest_path.write_text(json.dumps(data))
        status = json.loads(repo.run("status", "--run", run_id, "--format", "json").stdout)
        assert status["status"] == "in_progress"
        resumed = repo.run("resume", "--run", run_id)
        assert resumed.returncode == 75
        assert f"pid {proc.pid}" in resumed.stderr
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        os.kill(proc.pid, signal.SIGCONT)
        proc.wait()
    status = json.loads(repo.run("status", "--run", run_id, "--format", "json").stdout)
    assert status["status"] == "interrupted"
