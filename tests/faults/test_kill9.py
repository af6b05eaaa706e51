"""Fault injection (W2-2): `kill -9` of the orchestrator at random moments, then `status` and `resume`.

Counts, over TRIALS runs: every JSON file stays valid (events.jsonl: whole lines, at most a torn last
one, which readers skip), no process of the killed run is alive 1 s later (so a resume never overlaps a
survivor), `status` says `interrupted`, and `resume` finishes without re-running a stage that had
succeeded.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

from ..conftest import CLI, Repo, live_pids

TRIALS = 30
STAGES = [
    {"kind": "command", "id": "one", "title": "one", "command": "echo one >> ran.txt"},
    {"kind": "command", "id": "two", "title": "two", "command": "sleep 0.15; echo two >> ran.txt"},
    {"kind": "command", "id": "three", "title": "three",
     "command": "head -c 300000 /dev/zero | tr '\\0' x; echo; echo three >> ran.txt"},
]


def _valid_json_files(root: Path) -> int:
    checked = 0
    for path in root.rglob("*.json"):
        if ".corrupt-" in path.name:
            continue
        json.loads(path.read_text())
        checked += 1
    for path in root.rglob("events.jsonl"):
        lines = path.read_bytes().split(b"\n")
        for line in lines[:-1]:
            json.loads(line)
        assert lines[-1] == b"" or path.stat().st_size > 0  # a torn last line is the only allowance
    return checked


def _run_processes(run_marker: str) -> list[int]:
    return live_pids(run_marker, where="environ")


def test_kill_9_at_random_moments(repo: Repo) -> None:
    repo.pipeline(*STAGES)
    rng = random.Random(20261124)
    counts = {"valid": 0, "no_survivor": 0, "interrupted_or_done": 0, "resumed_clean": 0}
    for trial in range(TRIALS):
        (repo.root / "ran.txt").unlink(missing_ok=True)
        before = {m["run_id"] for m in repo.manifests()}
        marker = f"CO_FAULT_TRIAL_{os.getpid()}_{trial}"
        proc = subprocess.Popen([*CLI, "start", "--format", "jsonl"], cwd=repo.root,
                                env={**os.environ, marker: "1"}, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.0, 0.6))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        _valid_json_files(repo.root)
        counts["valid"] += 1
        deadline = time.monotonic() + 1.0
        while _run_processes(marker) and time.monotonic() < deadline:
            time.sleep(0.02)
        if not _run_processes(marker):
            counts["no_survivor"] += 1
        run = next((m for m in repo.manifests() if m["run_id"] not in before), None)
        if run is None:
            counts["interrupted_or_done"] += 1
            counts["resumed_clean"] += 1  # killed before a run existed: nothing to resume
            continue
        status = json.loads(repo.run("status", "--run", run["run_id"], "--format", "json").stdout)["status"]
        if status in ("interrupted", "succeeded"):
            counts["interrupted_or_done"] += 1
        done_before = {c["id"] for c in run["commands"] if c["status"] == "succeeded"}
        result = repo.run("resume", "--run", run["run_id"], "--format", "jsonl")
        ran = (repo.root / "ran.txt").read_text().split() if (repo.root / "ran.txt").exists() else []
        after = next(m for m in repo.manifests() if m["run_id"] == run["run_id"])
        if (result.returncode == 0 and after["status"] == "succeeded"
                and all(ran.count(stage) == 1 for stage in done_before)):
            counts["resumed_clean"] += 1
    assert counts == dict.fromkeys(counts, TRIALS), counts
