"""Traces and metrics reach a real OTLP/HTTP collector on loopback, decoded with opentelemetry-proto."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..conftest import Repo
from .receivers import OtlpReceiver


def _events(repo: Repo, task: str = "default") -> list[dict[str, Any]]:
    run_dir = next(d for d in sorted((repo.root / ".runs" / task / "cli").iterdir()) if not d.name.startswith("."))
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]


def _two_stage_pipeline(repo: Repo, isolated_home: Path) -> None:
    rules = isolated_home / ".codex" / "rules"
    rules.mkdir()
    (rules / "default.rules").write_text('prefix_rule(pattern=["printenv"], decision="allow")\n')
    repo.pipeline(
        {"id": "build", "title": "Build", "command": "printenv TRACEPARENT"},
        {"id": "test", "title": "Test", "command": "test -f marker || { touch marker; exit 75; }",
         "retryOnExitCodes": [75]},
    )


def test_a_two_stage_pipeline_yields_the_span_tree_and_metric_points(repo: Repo, isolated_home: Path) -> None:
    _two_stage_pipeline(repo, isolated_home)
    with OtlpReceiver() as collector:
        result = repo.run("start", "--format", "jsonl", "--otel-endpoint", collector.url,
                          env={"OTEL_RESOURCE_ATTRIBUTES": "team=infra", "SECRET_TOKEN": "s3cr3t-value"})
    assert result.returncode == 0, result.stderr
    spans = collector.spans
    (run,) = collector.by_name("run p")
    stages = {s["attributes"]["codex_orchestrator.stage"]: s for s in collector.by_name("stage ")}
    tools = collector.by_name("tool stage")
    attempts = collector.by_name("attempt ")
    assert len(spans) == 1 + 2 + 2 + 3  # run, 2 stages, 2 tool runs, 1 + 2 attempts
    assert {s["trace_id"] for s in spans} == {run["trace_id"]}
    assert run["parent_id"] == ""
    assert run["attributes"]["codex_orchestrator.pipeline"] == "p"
    assert run["attributes"]["codex_orchestrator.task"] == "default"
    assert run["attributes"]["process.exit.code"] == 0
    assert set(stages) == {"build", "test"}
    assert all(s["parent_id"] == run["span_id"] for s in stages.values())
    by_stage = {t["attributes"]["codex_orchestrator.stage"]: t for t in tools}
    for stage_id, tool in by_stage.items():
        assert tool["parent_id"] == stages[stage_id]["span_id"]
        assert tool["attributes"]["codex_orchestrator.sandbox_mode"]
    assert by_stage["build"]["attributes"]["process.command"] == "printenv TRACEPARENT"
    assert by_stage["build"]["attributes"]["codex_orchestrator.approval_source"] == "codex-rules"
    assert [e["name"] for e in by_stage["build"]["events"]] == ["approval.decision"]
    assert by_stage["test"]["attributes"]["codex_orchestrator.retry_count"] == 1
    assert [e["name"] for e in by_stage["test"]["events"]] == ["tool.retry"]
    attempt_parents = sorted(a["parent_id"] for a in attempts)
    assert attempt_parents == sorted([by_stage["build"]["span_id"], *[by_stage["test"]["span_id"]] * 2])
    exit_codes = sorted(a["attributes"]["process.exit.code"] for a in attempts)
    assert exit_codes == [0, 0, 75]
    # The command joined the run's trace: its TRACEPARENT names its own attempt span.
    printed = "".join(e["payload"]["data"] for e in _events(repo) if e["type"] == "exec:chunk").strip()
    (build_attempt,) = [a for a in attempts if a["parent_id"] == by_stage["build"]["span_id"]]
    assert printed == f"00-{run['trace_id']}-{build_attempt['span_id']}-01"
    assert collector.resources[0]["service.name"] == "codex-orchestrator"
    assert collector.resources[0]["team"] == "infra"

    points = {(m["name"], tuple(sorted(m["attributes"].items()))): m for m in collector.metrics}
    runs = [m for m in collector.metrics if m["name"] == "codex_orchestrator.runs"]
    assert [(r["value"], r["attributes"]["codex_orchestrator.status"]) for r in runs] == [(1, "succeeded")]
    durations = [m for m in collector.metrics if m["name"] == "codex_orchestrator.tool_run.duration"]
    assert [(d["value"], d["attributes"]) for d in durations] == [
        (2, {"codex_orchestrator.tool": "stage", "codex_orchestrator.status": "succeeded"})]
    assert durations[0]["sum"] > 0
    approvals = [m for m in collector.metrics if m["name"] == "codex_orchestrator.approvals"]
    assert [(a["value"], a["attributes"]) for a in approvals] == [
        (1, {"codex_orchestrator.approval_source": "codex-rules", "codex_orchestrator.approval_reused": True})]
    retries = [m for m in collector.metrics if m["name"] == "codex_orchestrator.retries"]
    assert [r["value"] for r in retries] == [1]
    assert points  # every point decoded
    assert all("s3cr3t-value" not in json.dumps(s) for s in spans)


def test_exec_joins_an_incoming_trace_and_redacts_secrets(repo: Repo) -> None:
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    with OtlpReceiver() as collector:
        result = repo.run("exec", "--jsonl", "--otel-endpoint", collector.url, "--", "sh", "-c",
                          "echo $TRACEPARENT", "API_TOKEN=hunter2-long-secret",
                          env={"TRACEPARENT": parent, "MY_PASSWORD": "pa55word-secret"})
    assert result.returncode == 0, result.stderr
    (run,) = collector.by_name("run exec")
    assert run["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert run["parent_id"] == "b7ad6b7169203331"
    (tool,) = collector.by_name("tool exec")
    assert "API_TOKEN=[REDACTED]" in tool["attributes"]["process.command"]
    text = json.dumps(collector.spans)
    assert "hunter2-long-secret" not in text and "pa55word-secret" not in text
    (attempt,) = collector.by_name("attempt 1")
    assert f"00-0af7651916cd43dd8448eb211c80319c-{attempt['span_id']}-01" in result.stdout


def test_standard_environment_variables_turn_it_on(repo: Repo) -> None:
    with OtlpReceiver() as collector:
        result = repo.run("exec", "--jsonl", "--", "true",
                          env={"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url, "OTEL_SERVICE_NAME": "ci-runner",
                               "OTEL_EXPORTER_OTLP_HEADERS": "x-api-key=abc%3D1,tenant=t1"})
    assert result.returncode == 0, result.stderr
    assert collector.by_name("run exec")
    assert collector.resources[0]["service.name"] == "ci-runner"
    _path, headers = collector.requests[0]
    assert headers["x-api-key"] == "abc=1" and headers["tenant"] == "t1"


def test_codex_otel_table_turns_it_on(repo: Repo, isolated_home: Path) -> None:
    with OtlpReceiver() as collector:
        (isolated_home / ".codex" / "config.toml").write_text(
            f'[otel]\nenvironment = "staging"\n[otel.exporter.otlp-http]\nendpoint = "{collector.url}/v1/logs"\n'
            'protocol = "binary"\nheaders = { "authorization" = "Bearer tok" }\n')
        result = repo.run("exec", "--jsonl", "--", "true")
    assert result.returncode == 0, result.stderr
    assert collector.by_name("run exec")
    assert collector.resources[0]["deployment.environment.name"] == "staging"
    assert collector.requests[0][1]["authorization"] == "Bearer tok"


def test_sdk_disabled_turns_it_off(repo: Repo) -> None:
    with OtlpReceiver() as collector:
        result = repo.run("exec", "--jsonl", "--", "true",
                          env={"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url, "OTEL_SDK_DISABLED": "true"})
    assert result.returncode == 0
    assert collector.requests == []
