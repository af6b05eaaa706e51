"""`serve --otel-endpoint`: every call's run is traced to a real OTLP/HTTP receiver, and TRACEPARENT reaches it."""

from __future__ import annotations

import time

from tests.conftest import Repo
from tests.telemetry.receivers import OtlpReceiver

from .client import Client


def test_each_call_of_the_server_is_a_traced_run(repo: Repo) -> None:
    with OtlpReceiver() as collector:
        with Client(repo.root, args=("--otel-endpoint", collector.url)) as client:
            first = client.call("exec", {"command": "echo $TRACEPARENT"})
            second = client.call("exec", {"command": ["true"]})
            assert client.close() == 0
        deadline = time.monotonic() + 10
        while len(collector.by_name("run exec")) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    runs = collector.by_name("run exec")
    assert len(runs) == 2 and len({span["trace_id"] for span in runs}) == 2
    attempts = collector.by_name("attempt 1")
    traceparent = first["summary"]["outputs"]["stdoutTail"].strip()
    assert any(traceparent == f"00-{a['trace_id']}-{a['span_id']}-01" for a in attempts)
    assert second["status"] == "succeeded"
