"""Real loopback endpoints for the telemetry and notification tests.

* `OtlpReceiver`: an OTLP/HTTP collector that decodes the protobuf with `opentelemetry-proto` (traces and
  metrics), or answers every request with a given status (500).
* `blackhole()`: a listening socket nobody ever accepts from: connects succeed, nothing is ever answered.
* `refused_port()`: a port nothing listens on.
* `WebhookReceiver`: records POSTed JSON and headers; may answer a status or never answer at all.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


def _attrs(items: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in items:
        value = kv.value
        kind = value.WhichOneof("value")
        if kind == "array_value":
            out[kv.key] = [getattr(v, v.WhichOneof("value")) for v in value.array_value.values]
        else:
            out[kv.key] = getattr(value, kind) if kind else None
    return out


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class OtlpReceiver:
    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.spans: list[dict[str, Any]] = []
        self.metrics: list[dict[str, Any]] = []
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.resources: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                if receiver.status == 200:
                    receiver._decode(self.path, body, self.headers.get("Content-Type", ""))
                self.send_response(receiver.status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _decode(self, path: str, body: bytes, content_type: str) -> None:
        assert content_type == "application/x-protobuf", content_type
        if path == "/v1/traces":
            request = ExportTraceServiceRequest.FromString(body)
            for rs in request.resource_spans:
                self.resources.append(_attrs(rs.resource.attributes))
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        self.spans.append({
                            "name": span.name, "trace_id": span.trace_id.hex(), "span_id": span.span_id.hex(),
                            "parent_id": span.parent_span_id.hex(), "attributes": _attrs(span.attributes),
                            "events": [{"name": e.name, "attributes": _attrs(e.attributes)} for e in span.events],
                            "status": span.status.code, "start": span.start_time_unix_nano,
                            "end": span.end_time_unix_nano})
        elif path == "/v1/metrics":
            request = ExportMetricsServiceRequest.FromString(body)
            for rm in request.resource_metrics:
                for sm in rm.scope_metrics:
                    for metric in sm.metrics:
                        kind = metric.WhichOneof("data")
                        points = getattr(metric, kind).data_points
                        for point in points:
                            value = point.as_int if kind == "sum" and point.WhichOneof("value") == "as_int" \
                                else getattr(point, "as_double", None) if kind != "histogram" else point.count
                            self.metrics.append({"name": metric.name, "kind": kind, "value": value,
                                                 "attributes": _attrs(point.attributes),
                                                 **({"sum": point.sum} if kind == "histogram" else {})})
        else:
            raise AssertionError(f"unexpected path {path}")

    def __enter__(self) -> OtlpReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def by_name(self, prefix: str) -> list[dict[str, Any]]:
        return [s for s in self.spans if s["name"].startswith(prefix)]


@contextmanager
def blackhole() -> Iterator[str]:
    """Accepts connections into the kernel's backlog and never reads or answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


def refused_port() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


class WebhookReceiver:
    """`status` answers each POST; `hang=True` never answers (reads the request and sleeps)."""

    def __init__(self, status: int = 200, *, hang: bool = False) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.status = status
        self.hang = hang
        self._stop = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                if receiver.hang:
                    receiver._stop.wait(30)
                    return
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.received]

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()


def wait_for(predicate: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())
