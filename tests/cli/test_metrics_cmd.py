"""`metrics`: the figures of run:summary.metrics and metrics.json, aggregated over tasks."""

from __future__ import annotations

import json
from pathlib import Path

from ..conftest import Repo


def test_summary_metrics_and_the_metrics_command_agree(repo: Repo, isolated_home: Path) -> None:
    rules = isolated_home / ".codex" / "rules"
    rules.mkdir()
    (rules / "default.rules").write_text('prefix_rule(pattern=["printenv"], decision="allow")\n')
    repo.pipeline({"id": "a", "title": "a", "command": "printenv HOME"},
                  {"id": "b", "title": "b", "command": "test -f m || { touch m; exit 75; }",
                   "retryOnExitCodes": [75]})
    result = repo.run("start", "--format", "jsonl", "--task", "t1")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.splitlines()[-1])["payload"]
    m = summary["metrics"]
    assert m["approvalsNeeded"] == 1 and m["approvalsReused"] == 1 and m["approvalReusePct"] == 100.0
    assert m["retries"] == 1 and m["toolRuns"] == 2 and m["outputFormat"] == "jsonl"
    assert 0 < m["toolLatencyP50Ms"] <= m["toolLatencyP95Ms"]
    record = json.loads((repo.root / ".runs" / "t1" / "metrics.json").read_text())["runs"][-1]
    assert record["approval_reuse_pct"] == 100.0 and record["output_format"] == "jsonl"
    assert record["tool_latency_p95_ms"] == m["toolLatencyP95Ms"] and len(record["tool_latencies_ms"]) == 2
    assert repo.run("exec", "--format", "text", "--task", "t2", "--", "sh", "-c", "exit 1").returncode == 1

    report = json.loads(repo.run("metrics", "--format", "json").stdout)
    assert report["tasks"] == ["t1", "t2"]
    assert report["runs"] == 2 and report["by_status"] == {"failed": 1, "succeeded": 1}
    assert report["approvals"] == {"needed": 1, "reused": 1, "prompted": 0, "denied": 0, "reuse_pct": 100.0}
    assert report["retries"] == 1 and report["tool_runs"] == 3
    assert report["tool_latency_ms"]["samples"] == 3
    assert report["jsonl_adoption"] == {"jsonl_runs": 1, "runs": 2, "unknown": 0, "pct": 50.0}
    only = json.loads(repo.run("metrics", "--task", "t2", "--since", "1h", "--format", "json").stdout)
    assert only["tasks"] == ["t2"] and only["runs"] == 1
    text = repo.run("metrics").stdout
    assert "approval reuse    100.0 %" in text and "JSONL adoption    50.0 %" in text


def test_since_filters_and_bad_input_is_a_usage_error(repo: Repo) -> None:
    assert repo.run("exec", "--jsonl", "--", "true").returncode == 0
    path = repo.root / ".runs" / "default" / "metrics.json"
    data = json.loads(path.read_text())
    data["runs"][0]["completed_at"] = "2020-01-01T00:00:00.000Z"
    path.write_text(json.dumps(data))
    assert json.loads(repo.run("metrics", "--since", "7d", "--format", "json").stdout)["runs"] == 0
    assert json.loads(repo.run("metrics", "--format", "json").stdout)["runs"] == 1
    bad = repo.run("metrics", "--since", "soon")
    assert bad.returncode == 2 and "expected a duration" in bad.stderr
    assert repo.run("metrics", "--task", "../x").returncode == 2
