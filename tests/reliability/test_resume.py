"""Resume of a run killed between its last stage and its summary finishes it (W2-2 item 2)."""

from __future__ import annotations

import json

from ..conftest import Repo


def test_resume_of_a_run_killed_before_its_summary(repo: Repo) -> None:
    repo.pipeline({"kind": "command", "id": "a", "title": "a", "command": "echo a >> ran.txt"},
                  {"kind": "command", "id": "b", "title": "b", "command": "echo b >> ran.txt"})
    assert repo.run("start", "--format", "jsonl").returncode == 0
    (manifest,) = repo.manifests()
    path = repo.root / ".runs" / "default" / "cli" / manifest["run_id"] / "manifest.json"
    manifest.update(status="in_progress", pid=999999, completed_at=None)
    path.write_text(json.dumps(manifest))
    result = repo.run("resume", "--run", manifest["run_id"], "--format", "json")
    assert result.returncode == 0, result.stderr
    assert "internal error" not in result.stderr
    (after,) = repo.manifests()
    assert after["status"] == "succeeded"
    assert after["resume_events"][-1]["from_stage"] is None
    assert (repo.root / "ran.txt").read_text().split() == ["a", "b"]  # nothing ran twice


def test_numeric_flags_refuse_inf_nan_and_negatives(repo: Repo) -> None:
    for value in ("inf", "nan", "-1", "0", "abc"):
        result = repo.run("exec", "--timeout", value, "--", "true")
        assert result.returncode == 2 and "--timeout" in result.stderr, (value, result.stderr)
        assert "Traceback" not in result.stderr
        status = repo.run("status", "--watch", "--interval", value)
        assert status.returncode == 2 and "--interval" in status.stderr
