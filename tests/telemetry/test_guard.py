"""The export guard in one process, against real loopback endpoints: retries, the budget, degradation."""

from __future__ import annotations

import time
from typing import Any

from codex_orchestrator.telemetry.export import ExportGuard, _Poster, send

from .receivers import OtlpReceiver, blackhole, refused_port


def _guard() -> tuple[ExportGuard, list[tuple[Any, ...]]]:
    calls: list[tuple[Any, ...]] = []
    return ExportGuard(lambda *args: calls.append(args)), calls


def test_three_consecutive_failures_stop_export_once() -> None:
    guard, calls = _guard()
    url = refused_port() + "/v1/traces"
    assert send(guard, _Poster(url, {}, 1.0), "traces", b"x", 1.0) is False
    assert guard.stopped and guard.failures == 3
    assert len(calls) == 1 and calls[0][0] == "traces" and calls[0][2] == 3
    began = time.monotonic()
    assert send(guard, _Poster(url, {}, 1.0), "traces", b"x", 1.0) is False  # stopped: no network at all
    assert time.monotonic() - began < 0.05
    assert len(calls) == 1


def test_a_transient_failure_is_retried_and_forgotten() -> None:
    guard, calls = _guard()
    with OtlpReceiver(status=500) as collector:
        poster = _Poster(collector.url + "/v1/traces", {}, 1.0)

        def recover() -> None:
            collector.status = 200

        import threading

        threading.Timer(0.05, recover).start()
        assert send(guard, poster, "traces", b"", 1.0) is True
    assert guard.failures == 0 and not guard.stopped and calls == []


def test_retries_are_capped_at_three_a_minute() -> None:
    guard, _ = _guard()
    assert all(guard.may_retry(0.0) for _ in range(3))
    assert not guard.may_retry(0.0)


def test_the_shutdown_deadline_bounds_a_blackhole() -> None:
    guard, _ = _guard()
    with blackhole() as url:
        guard.deadline = time.monotonic() + 0.3
        began = time.monotonic()
        assert send(guard, _Poster(url + "/v1/traces", {}, 10.0), "traces", b"x", 10.0) is False
        assert time.monotonic() - began < 0.6
    assert "no answer" in guard.last_error
