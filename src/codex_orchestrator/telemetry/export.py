"""OTLP/HTTP protobuf exporters that degrade instead of getting in the way (docs/telemetry.md).

The payloads are encoded by OpenTelemetry's own OTLP encoders (`opentelemetry-exporter-otlp-proto-common`)
and POSTed with `http.client`. The stock OTLP/HTTP exporter is not used because its client retries inside
one export (up to six times with exponential backoff until its timeout), which would break both rules
below; and it brings `requests` in.

* **One budget for the process** (`ExportGuard`, shared by traces and metrics): a failed export (refused,
  no answer in time, any non-2xx) is retried at most 3 times a minute, after 0.1 s then 0.2 s; after 3
  consecutive failures exporting stops for the rest of the process and `on_degraded` is called once
  with the reason (the run publishes one `telemetry:degraded` event).
* **Bounded shutdown**: `flush_by(deadline)` caps every request's timeout at the deadline; nothing
  is sent after it.

Exports run on the SDK's batch threads, never on the run's thread.
"""

from __future__ import annotations

import collections
import http.client
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from .settings import display_url

MAX_CONSECUTIVE_FAILURES = 3
RETRIES_PER_MINUTE = 3
RETRY_DELAYS = (0.1, 0.2)
USER_AGENT = "codex-orchestrator-otlp"


class ExportGuard:
    """The retry budget, the degraded switch and the shutdown deadline shared by every exporter."""

    def __init__(self, on_degraded: Callable[[str, str, int, str], None]) -> None:
        self._lock = threading.Lock()
        self._on_degraded = on_degraded
        self.failures = 0  # consecutive
        self.stopped = False
        self.last_error = ""
        self.deadline: float | None = None  # monotonic; set by the shutdown flush
        self._retries: collections.deque[float] = collections.deque()

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()

    def may_retry(self, delay: float) -> bool:
        """A retry now (after `delay`) fits the budget of 3 a minute and the shutdown deadline."""
        with self._lock:
            now = time.monotonic()
            while self._retries and now - self._retries[0] > 60:
                self._retries.popleft()
            left = self.remaining()
            if self.stopped or len(self._retries) >= RETRIES_PER_MINUTE or (left is not None and left <= delay):
                return False
            self._retries.append(now)
            return True

    def succeeded(self) -> None:
        with self._lock:
            self.failures = 0

    def failed(self, signal: str, endpoint: str, error: str) -> None:
        with self._lock:
            self.failures += 1
            self.last_error = error
            if self.stopped or self.failures < MAX_CONSECUTIVE_FAILURES:
                return
            self.stopped = True
            failures = self.failures
        self._on_degraded(signal, display_url(endpoint), failures, error)

    def stop(self, signal: str, endpoint: str, reason: str) -> None:
        """Stop at once (the shutdown flush ran out of time): degraded with `reason` unless it already is."""
        with self._lock:
            if self.stopped:
                return
            self.stopped = True
            failures = self.failures
        self._on_degraded(signal, display_url(endpoint), failures, reason)


class _Poster:
    """POSTs one serialized OTLP request; keeps a connection to the collector between exports."""

    def __init__(self, url: str, headers: dict[str, str], timeout: float) -> None:
        parts = urlsplit(url)
        self.url = url
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._headers = {"Content-Type": "application/x-protobuf", "User-Agent": USER_AGENT, **headers}
        self._timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def post(self, body: bytes, timeout: float) -> str | None:
        """None when the collector took it (2xx), else why not."""
        try:
            if self._conn is None:
                cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
                self._conn = cls(self._host, self._port, timeout=timeout)
            else:
                self._conn.timeout = timeout
                if self._conn.sock is not None:
                    self._conn.sock.settimeout(timeout)
            self._conn.request("POST", self._path, body=body, headers=self._headers)
            response = self._conn.getresponse()
            response.read()
            if 200 <= response.status < 300:
                return None
            return f"HTTP {response.status} {response.reason}".strip()
        except TimeoutError:
            self.close()
            return f"no answer within {timeout:.3g} s"
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def send(guard: ExportGuard, poster: _Poster, signal: str, body: bytes, timeout: float) -> bool:
    """One export with the guard's retries; True when it was delivered."""
    attempt = 0
    while not guard.stopped:
        left = guard.remaining()
        if left is not None and left <= 0:
            return False
        error = poster.post(body, timeout if left is None else min(timeout, left))
        if error is None:
            guard.succeeded()
            return True
        guard.failed(signal, poster.url, error)
        delay = RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)]
        if not guard.may_retry(delay):
            return False
        time.sleep(delay)
        attempt += 1
    return False


class OtlpSpanExporter(SpanExporter):
    def __init__(self, guard: ExportGuard, url: str, headers: dict[str, str], timeout: float) -> None:
        self._guard = guard
        self._poster = _Poster(url, headers, timeout)
        self._timeout = timeout

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._guard.stopped:
            return SpanExportResult.FAILURE
        body = encode_spans(spans).SerializeToString()
        ok = send(self._guard, self._poster, "traces", body, self._timeout)
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self._poster.close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class OtlpMetricExporter(MetricExporter):
    def __init__(self, guard: ExportGuard, url: str, headers: dict[str, str], timeout: float) -> None:
        super().__init__()
        self._guard = guard
        self._poster = _Poster(url, headers, timeout)
        self._timeout = timeout

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        if self._guard.stopped:
            return MetricExportResult.FAILURE
        body = encode_metrics(metrics_data).SerializeToString()
        ok = send(self._guard, self._poster, "metrics", body, self._timeout)
        return MetricExportResult.SUCCESS if ok else MetricExportResult.FAILURE

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self._poster.close()
