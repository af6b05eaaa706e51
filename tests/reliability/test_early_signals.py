"""A signal at any moment of start-up never leaves a run directory without a valid, final manifest."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest

from ..conftest import CLI, Repo


@pytest.mark.parametrize("command", [["exec", "--jsonl", "--", "sleep", "30"], ["start", "--format", "jsonl"]])
def test_sigterm_early_leaves_no_half_made_run(repo: Repo, command: list[str]) -> None:
    repo.pipeline({"kind": "command", "id": "s", "title": "s", "command": "sleep 30"})
    for delay in (0.0, 0.02, 0.05, 0.08, 0.1, 0.12, 0.15, 0.2, 0.3):
        proc = subprocess.Popen([*CLI, *command], cwd=repo.root, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) in (143, -signal.SIGTERM)
    cli = repo.root / ".runs" / "default" / "cli"
    for run_dir in cli.iterdir() if cli.exists() else []:
        manifest = json.loads((run_dir / "manifest.json").read_text())  # exists, and is whole JSON
        assert manifest["status"] == "cancelled", (run_dir.name, manifest["status"])
        assert all(c["status"] != "running" for c in manifest["commands"])


def test_an_exec_manifest_is_current_without_waiting_for_a_heartbeat(repo: Repo) -> None:
    proc = subprocess.Popen([*CLI, "exec", "--jsonl", "--", "sh", "-c", "touch started; sleep 30"],
                            cwd=repo.root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not (repo.root / "started").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert repo.manifests()[-1]["commands"][0]["status"] == "running"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert repo.run("exec", "--jsonl", "--", "true").returncode == 0
    assert repo.manifests()[-1]["commands"][0]["completed_at"] is not None
