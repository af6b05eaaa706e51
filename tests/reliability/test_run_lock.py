"""One live orchestrator per run (W2-2 item 1): concurrent resumes, and a stopped orchestrator."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
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


HOLD = ("import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDONLY); fcntl.flock(fd, fcntl.LOCK_EX); "
        "print('held', flush=True); time.sleep(60)")


def _hold(path: Path) -> subprocess.Popen[str]:
    """Another live process holding an flock on `path` (a run directory, or an older run's `.lock`)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "held\n"
    return proc


def _as_live(run_dir: Path, **fields: object) -> None:
    """Rewrite a finished run's manifest as if its process were still running it."""
    manifest_path = run_dir / "manifest.json"
    data = json.loads(manifest_path.read_text())
    data.update(status="in_progress", completed_at=None, **fields)
    manifest_path.write_text(json.dumps(data))


def _status(repo: Repo, run_id: str) -> str:
    return str(json.loads(repo.run("status", "--run", run_id, "--format", "json").stdout)["status"])


def test_the_run_directory_is_the_lock_and_older_layouts_are_still_told_live(repo: Repo) -> None:
    """This version locks a run by its directory (no `.lock`, one inode less per run). A run made by an
    earlier version keeps being judged the way that version locks it: by its `.lock` file if it has one,
    by its pid if it is a wave-1 run, made before runs were locked."""
    from codex_orchestrator.runs.store import process_start_time

    repo.pipeline({"kind": "command", "id": "a", "title": "a", "command": "test -e ok"})
    run_id = _failed_run(repo)
    run_dir = repo.root / ".runs" / "default" / "cli" / run_id
    assert not (run_dir / ".lock").exists()

    # This layout: another process holding the directory is a live run; free, it is interrupted.
    _as_live(run_dir)
    holder = _hold(run_dir)
    try:
        assert _status(repo, run_id) == "in_progress"
        assert repo.run("resume", "--run", run_id).returncode == 75
    finally:
        holder.kill()
        holder.wait()
    assert _status(repo, run_id) == "interrupted"

    # A version-1 run with a `.lock` file: that file is its lock, for this version too.
    _as_live(run_dir, version=1)
    (run_dir / ".lock").touch()
    holder = _hold(run_dir / ".lock")
    try:
        assert _status(repo, run_id) == "in_progress"
        busy = repo.run("resume", "--run", run_id)
        assert busy.returncode == 75, busy.stderr
    finally:
        holder.kill()
        holder.wait()
    assert _status(repo, run_id) == "interrupted"

    # A wave-1 run (version 1, no `.lock`): nothing to ask but its recorded pid.
    (run_dir / ".lock").unlink()
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        _as_live(run_dir, version=1, pid=sleeper.pid, pid_start_time=process_start_time(sleeper.pid))
        assert _status(repo, run_id) == "in_progress"
    finally:
        sleeper.kill()
        sleeper.wait()
    assert _status(repo, run_id) == "interrupted"

    resumed = repo.run("resume", "--run", run_id, "--format", "jsonl")
    assert resumed.returncode == 0, resumed.stderr
    assert not (run_dir / ".lock").exists()


def test_an_exec_run_has_no_resume_token_and_a_token_does_not_make_it_resumable(repo: Repo) -> None:
    result = repo.run("exec", "--format", "jsonl", "--", "false")
    assert result.returncode == 1
    (manifest,) = repo.manifests()
    run_dir = Path(manifest["events_path"]).parent
    assert not (run_dir / ".resume-token").exists()
    refused = repo.run("resume", "--run", manifest["run_id"], "--token", "guess")
    assert refused.returncode == 2 and "only pipeline runs can be resumed" in refused.stderr

    repo.pipeline({"kind": "command", "id": "a", "title": "a", "command": "test -e ok"})
    run_id = _failed_run(repo)
    token_file = repo.root / ".runs" / "default" / "cli" / run_id / ".resume-token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    token_file.unlink()  # a pipeline run whose token is gone: a token given cannot be checked, so it is refused
    missing = repo.run("resume", "--run", run_id, "--token", "guess")
    assert missing.returncode == 77 and "has no resume token" in missing.stderr
    assert repo.run("resume", "--run", run_id).returncode == 0


def test_a_shipped_run_whose_lock_is_a_fifo_does_not_hang_status(repo: Repo) -> None:
    """A repository may ship a run folder of the older layout whose `.lock` is a FIFO: opening it to ask
    must not wait for a writer that never comes (it is refused, naming it)."""
    repo.pipeline({"kind": "command", "id": "a", "title": "a", "command": "test -e ok"})
    run_id = _failed_run(repo)
    run_dir = repo.root / ".runs" / "default" / "cli" / run_id
    _as_live(run_dir, version=1)
    os.mkfifo(run_dir / ".lock")
    result = subprocess.run([*CLI, "status", "--run", run_id, "--format", "json"], cwd=repo.root,
                            capture_output=True, text=True, timeout=20)
    assert result.returncode == 2 and ".lock: is not a regular file" in result.stderr
