"""Telemetry that cannot be delivered never changes a run: a refused port, a blackhole that never answers
and a collector answering 500 each cost at most 1 s of wall time, leave the exit code alone, and are
reported by exactly one `telemetry:degraded` event before `run:summary`."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from ..conftest import Repo
from .receivers import OtlpReceiver, blackhole, refused_port


@contextmanager
def _refused() -> Iterator[str]:
    yield refused_port()


@contextmanager
def _server_error() -> Iterator[str]:
    with OtlpReceiver(status=500) as collector:
        yield collector.url


ENDPOINTS: dict[str, Callable[[], Any]] = {"refused": _refused, "blackhole": blackhole, "http-500": _server_error}


def _timed(repo: Repo, *args: str) -> tuple[float, Any]:
    start = time.perf_counter()
    result = repo.run(*args)
    return time.perf_counter() - start, result


def _lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


@pytest.mark.parametrize("kind", list(ENDPOINTS))
def test_an_unreachable_collector_costs_at_most_a_second_and_one_event(repo: Repo, kind: str) -> None:
    repo.pipeline({"id": "a", "title": "a", "command": "true"},
                  {"id": "b", "title": "b", "command": "exit 3", "allowFailure": False})
    baseline = statistics.median(_timed(repo, "start", "--format", "jsonl")[0] for _ in range(3))
    with ENDPOINTS[kind]() as url:
        elapsed, result = _timed(repo, "start", "--format", "jsonl", "--otel-endpoint", url)
    assert result.returncode == 3, result.stderr  # the failing stage's own code, as without telemetry
    events = _lines(result.stdout)
    degraded = [e for e in events if e["type"] == "telemetry:degraded"]
    assert len(degraded) == 1, [e["type"] for e in events]
    assert events[-1]["type"] == "run:summary"
    assert events[-1]["payload"]["status"] == "failed"
    payload = degraded[0]["payload"]
    assert payload["endpoint"].startswith(url) and payload["reason"]
    print(f"{kind}: run {elapsed * 1000:.0f} ms vs {baseline * 1000:.0f} ms without telemetry; "
          f"reason: {payload['reason']}")
    assert elapsed - baseline <= 1.0, f"telemetry cost {elapsed - baseline:.2f} s"
    # the run's own records agree
    run_dir = repo.root / ".runs" / "default" / "cli"
    (latest,) = [d for d in sorted(run_dir.iterdir())[-1:]]
    recorded = [json.loads(line)["type"] for line in (latest / "events.jsonl").read_text().splitlines()]
    assert recorded.count("telemetry:degraded") == 1
    assert json.loads((latest / "manifest.json").read_text())["exit_code"] == 3


def test_exec_exit_code_is_unchanged_by_a_failing_collector(repo: Repo) -> None:
    with _server_error() as url:
        result = repo.run("exec", "--jsonl", "--otel-endpoint", url, "--", "sh", "-c", "exit 7")
    assert result.returncode == 7
    types = [e["type"] for e in _lines(result.stdout)]
    assert types.count("telemetry:degraded") == 1
    assert types[-1] == "run:summary"
    assert "warning" not in result.stderr


def test_a_collector_that_recovers_is_not_degraded(repo: Repo) -> None:
    with OtlpReceiver() as collector:
        result = repo.run("exec", "--jsonl", "--otel-endpoint", collector.url, "--", "true")
    assert result.returncode == 0
    assert "telemetry:degraded" not in result.stdout
    assert collector.spans
