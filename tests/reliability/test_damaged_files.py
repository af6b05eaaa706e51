"""Damaged or unreadable files are never silently replaced (W2-2 item 6)."""

from __future__ import annotations

import json
import os

import pytest

from ..conftest import Repo


def _run(repo: Repo, n: int = 1) -> None:
    for _ in range(n):
        assert repo.run("exec", "--jsonl", "--", "true").returncode == 0


@pytest.mark.parametrize("garbage", ["{not json", '{"runs": "nope"}', "[]", '{"version":1,"runs":[],"tot'])
def test_damaged_metrics_is_kept_aside_and_rebuilt(repo: Repo, garbage: str) -> None:
    _run(repo, 3)
    metrics = repo.root / ".runs" / "default" / "metrics.json"
    metrics.write_text(garbage)
    result = repo.run("exec", "--jsonl", "--", "true")
    assert result.returncode == 0
    assert "was damaged" in result.stderr
    kept = list(metrics.parent.glob("metrics.json.corrupt-*"))
    assert len(kept) == 1 and kept[0].read_text() == garbage
    rebuilt = json.loads(metrics.read_text())
    assert rebuilt["totals"]["runs"] == 4  # three rebuilt from the manifests, plus this one
    assert rebuilt["totals"]["succeeded"] == 4 and rebuilt["totals"]["failed"] == 0


def test_truncated_state_is_kept_aside_and_rebuilt(repo: Repo) -> None:
    _run(repo, 2)
    state = repo.root / "out" / "default" / "state.json"
    text = state.read_text()
    state.write_text(text[: len(text) // 2])
    _run(repo)
    assert list(state.parent.glob("state.json.corrupt-*"))
    assert len(json.loads(state.read_text())["runs"]) == 3


def test_totals_always_have_every_status(repo: Repo) -> None:
    _run(repo)
    totals = json.loads((repo.root / ".runs" / "default" / "metrics.json").read_text())["totals"]
    assert {"succeeded", "failed", "cancelled", "interrupted"} <= set(totals)


@pytest.mark.parametrize("content", ['{"status": "succ', '{"version":1}', "[]", ""])
def test_a_damaged_manifest_is_reported_not_crashed_on(repo: Repo, content: str) -> None:
    repo.pipeline({"kind": "command", "id": "a", "title": "a", "command": "true"})
    assert repo.run("start", "--format", "jsonl").returncode == 0
    run_id = repo.manifests()[-1]["run_id"]
    (repo.root / ".runs" / "default" / "cli" / run_id / "manifest.json").write_text(content)
    status = repo.run("status", "--run", run_id)
    assert status.returncode == 65, status.stderr
    assert "damaged" in status.stdout and "internal error" not in status.stderr
    latest = repo.run("status")
    assert latest.returncode == 65 and "damaged" in latest.stdout  # not "the task has no runs"
    resume = repo.run("resume", "--run", run_id)
    assert resume.returncode == 65 and "damaged" in resume.stderr and "internal error" not in resume.stderr


def test_an_unreadable_shared_file_is_a_clear_error(repo: Repo) -> None:
    _run(repo)
    metrics = repo.root / ".runs" / "default" / "metrics.json"
    metrics.unlink()
    metrics.mkdir()  # a directory where the file should be: unreadable even for root
    result = repo.run("exec", "--jsonl", "--", "true")
    assert result.returncode == 77, result.stderr
    assert str(metrics) in result.stderr and "internal error" not in result.stderr
    manifest = repo.manifests()[-1]
    assert manifest["status"] == "succeeded"  # the run itself is finalised before the shared files
    assert os.path.isdir(metrics)
