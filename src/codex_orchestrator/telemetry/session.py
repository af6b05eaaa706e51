"""Traces and metrics of runs, from the event bus (docs/telemetry.md). Imported only when telemetry is on.

`Telemetry` is the process's exporter: one TracerProvider and MeterProvider with batch processors, the
shared `ExportGuard`, and the `TRACEPARENT` handed to commands. Each run (a child run of a subpipeline
too) gets its own `RunTracer`, a bus subscriber that turns the run's events into spans:

    run <pipeline>  ->  stage <id>  ->  tool <tool>  ->  attempt <n>

with span events for approval requests, decisions, denials and retries, and records the metrics.
"""

from __future__ import annotations

import collections
import logging
import math
import os
import random
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from .. import __version__
from ..metrics.figures import APPROVED, REUSED_SOURCES
from ..redact import redact_argv, redact_command, secret_values
from .export import ExportGuard, OtlpMetricExporter, OtlpSpanExporter

if TYPE_CHECKING:  # pragma: no cover
    from ..events.protocol import Envelope, RunSummary
    from ..runs.active import ActiveRun
    from .settings import TelemetrySettings

FLUSH_SECONDS = 0.6  # the most a run's end waits for telemetry: with the SDK's start-up, under 1 s
NS = "codex_orchestrator."


class _BatchSpans(SpanProcessor):
    """Ended spans go to a bounded queue and are exported by one worker thread (every 2 s, or at 512), or
    by `force_flush`. Not the SDK's BatchSpanProcessor: that one registers an at-fork hook that starts a
    thread in every forked child, and a child with two threads cannot enter a user namespace (the built-in
    sandbox's `unshare` fails with EINVAL)."""

    MAX_QUEUE = 2048
    BATCH = 512
    DELAY = 2.0

    def __init__(self, exporter: SpanExporter) -> None:
        self._exporter = exporter
        self._queue: collections.deque[ReadableSpan] = collections.deque(maxlen=self.MAX_QUEUE)
        self._export_lock = threading.Lock()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._work, name="otel-spans", daemon=True)
        self._thread.start()

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        self._queue.append(span)  # a full queue drops the oldest: memory stays bounded
        if len(self._queue) >= self.BATCH:
            self._wake.set()

    def _work(self) -> None:
        while True:
            self._wake.wait(self.DELAY)
            self._wake.clear()
            self._export()

    def _export(self) -> None:
        with self._export_lock:
            while self._queue:
                batch = [self._queue.popleft() for _ in range(min(self.BATCH, len(self._queue)))]
                self._exporter.export(batch)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        self._export()
        return True

    def shutdown(self) -> None:
        self._exporter.shutdown()


class _Tracers(TracerProvider):
    def _handle_fork(self) -> None:
        """Nothing in a forked child. The SDK's at-fork hook runs Python code (locks, the resource) in every
        child of this process, and the sandbox forks again inside its child (the pid namespace's init):
        a lock held by another thread at the first fork then deadlocks it. Our children exec at once and
        never use telemetry."""


class _Meters(MeterProvider):
    def _handle_fork(self) -> None:
        """Nothing in a forked child (see _Tracers)."""


class _PresetIds(RandomIdGenerator):
    """Random ids, except one span id drawn ahead: the attempt span whose id a command already got in its
    `TRACEPARENT` (the environment is built before `exec:begin` starts the span)."""

    def __init__(self) -> None:
        self.preset: int | None = None

    def generate_span_id(self) -> int:
        preset, self.preset = self.preset, None
        return preset if preset is not None else super().generate_span_id()


class Telemetry:
    def __init__(self, settings: TelemetrySettings, env: Mapping[str, str]) -> None:
        quiet = logging.getLogger("opentelemetry")
        quiet.addHandler(logging.NullHandler())
        quiet.propagate = False  # the SDK's own warnings would reach stderr through logging's last resort
        self.settings = settings
        self.secrets = secret_values(env)
        self.guard = ExportGuard(self._degraded)
        resource = Resource(settings.resource)
        self.ids = _PresetIds()
        self.tracer_provider = _Tracers(resource=resource, id_generator=self.ids, shutdown_on_exit=False)
        timeout, headers = settings.timeout_seconds, settings.headers
        if settings.traces_endpoint:
            exporter = OtlpSpanExporter(self.guard, settings.traces_endpoint, headers, timeout)
            self.tracer_provider.add_span_processor(_BatchSpans(exporter))
        self.tracer = self.tracer_provider.get_tracer("codex_orchestrator", __version__)
        readers = []
        if settings.metrics_endpoint:
            # No interval: no thread of the SDK's (see _BatchSpans); `_tick` collects once a minute instead.
            readers.append(PeriodicExportingMetricReader(
                OtlpMetricExporter(self.guard, settings.metrics_endpoint, headers, timeout),
                export_interval_millis=math.inf))
        self.meter_provider = _Meters(resource=resource, metric_readers=readers, shutdown_on_exit=False)
        meter = self.meter_provider.get_meter("codex_orchestrator", __version__)
        self.tool_duration = meter.create_histogram("codex_orchestrator.tool_run.duration", unit="ms",
                                                    description="Wall time of a tool run, approvals included")
        self.approvals = meter.create_counter("codex_orchestrator.approvals", unit="{approval}",
                                              description="Approvals needed, by source (reused or prompted)")
        self.denials = meter.create_counter("codex_orchestrator.denials", unit="{denial}",
                                            description="Approvals refused and sandbox denials")
        self.retries = meter.create_counter("codex_orchestrator.retries", unit="{retry}",
                                            description="Attempts after the first of a tool run")
        self.runs = meter.create_counter("codex_orchestrator.runs", unit="{run}", description="Runs by status")
        incoming = {k.lower(): v for k, v in env.items() if k in ("TRACEPARENT", "TRACESTATE")}
        self.incoming = TraceContextTextMapPropagator().extract(incoming) if incoming else otel_context.Context()
        self.runs_by_id: dict[str, RunTracer] = {}
        self.traceparent: str | None = None  # for the next command started (see TraceEnv)
        self._lock = threading.Lock()
        self._publish: Callable[..., Any] | None = None
        self._pending: dict[str, Any] | None = None
        self.announced = False
        if readers:
            threading.Thread(target=self._tick, name="otel-metrics", daemon=True).start()

    def _tick(self) -> None:
        """Metrics of a long-lived process (`serve`) leave once a minute; a CLI run's at its end."""
        while True:
            time.sleep(60)
            self.meter_provider.force_flush()

    # ---------------------------------------------------------------- degradation

    def _degraded(self, signal: str, endpoint: str, failures: int, reason: str) -> None:
        """From an exporter thread or the flush: one `telemetry:degraded` for the process."""
        payload = {"signal": signal, "endpoint": endpoint, "failures": failures,
                   "reason": redact_command(reason, self.secrets)}
        with self._lock:
            if self.announced:
                return
            self._pending = payload
            self._announce_locked()

    def _announce_locked(self) -> None:
        if self._pending is not None and self._publish is not None and not self.announced:
            self.announced = True
            payload, self._pending = self._pending, None
            try:
                self._publish("telemetry:degraded", payload)
            except Exception as exc:  # the run's bus refused it (closed): say so where a person sees it
                print(f"codex-orchestrator: warning: telemetry degraded: {payload['reason']} ({exc})",
                      file=sys.stderr)

    def attach(self, publish: Callable[..., Any]) -> None:
        with self._lock:
            self._publish = publish
            self._announce_locked()

    def finish(self) -> None:
        """The top-level run is ending: flush within FLUSH_SECONDS, then stop announcing on its bus."""
        self.guard.deadline = time.monotonic() + FLUSH_SECONDS
        flusher = threading.Thread(target=self._flush, name="otel-flush", daemon=True)
        flusher.start()
        flusher.join(FLUSH_SECONDS)
        if flusher.is_alive() or (self.guard.failures and not self.guard.stopped):
            what = self.guard.last_error or "no answer"
            endpoint = self.settings.traces_endpoint or self.settings.metrics_endpoint
            self.guard.stop("traces", endpoint, f"the end-of-run flush did not deliver within "
                                                f"{FLUSH_SECONDS:g} s: {what}")
        self.guard.deadline = None
        with self._lock:
            self._publish = None

    def _flush(self) -> None:
        self.tracer_provider.force_flush()
        self.meter_provider.force_flush()

    # ---------------------------------------------------------------- children join the trace

    def prepare_command(self, parent: Span) -> int:
        """Draw the span id of the next attempt, and the `TRACEPARENT` its command gets."""
        span_id = random.getrandbits(64) or 1
        ctx = parent.get_span_context()
        sampled = int(ctx.trace_flags) & 0x01  # W3C level 1: only the sampled flag
        self.traceparent = f"00-{ctx.trace_id:032x}-{span_id:016x}-{sampled:02x}"
        return span_id

    def for_run(self) -> RunTracer:
        return RunTracer(self)


class TraceEnv(Mapping[str, str]):
    """A command's environment overrides plus `TRACEPARENT` of the attempt about to start, read when the
    orchestrator builds the environment (after `tool:start`, before the process starts)."""

    def __init__(self, base: Mapping[str, str], telemetry: Telemetry) -> None:
        self._base = dict(base)
        self._telemetry = telemetry

    def _current(self) -> dict[str, str]:
        parent = self._telemetry.traceparent
        return {**self._base, "TRACEPARENT": parent} if parent else self._base

    def __getitem__(self, name: str) -> str:
        return self._current()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._current())

    def __len__(self) -> int:
        return len(self._current())


class RunTracer:
    """One run's spans and metrics, from its events (a bus subscriber and a RunHook)."""

    critical = False
    name = "telemetry"

    def __init__(self, telemetry: Telemetry) -> None:
        self.t = telemetry
        self.top = False
        self.run_id = ""
        self.pipeline = ""
        self.run_span: Span | None = None
        self.stage_span: Span | None = None
        self.tools: dict[str, Span] = {}
        self.next_attempt: dict[str, int] = {}
        self.attempts: dict[str, Span] = {}
        self._publish: Callable[..., Any] | None = None

    # ------------------------------------------------------------ RunHook

    def attached(self, run: ActiveRun) -> None:
        self._publish = run.bus.publish

    def before_summary(self, run: ActiveRun, summary: RunSummary) -> None:
        for span in [*self.attempts.values(), *self.tools.values(), self.stage_span]:
            if span is not None and span.is_recording():
                span.end()  # left open by an error of the orchestrator itself
        status, exit_code = summary["status"], summary["result"]["exitCode"]
        self.t.runs.add(1, {NS + "status": status, NS + "pipeline": self.pipeline})
        if self.run_span is not None:
            self.run_span.set_attributes({NS + "status": status, "process.exit.code": exit_code or 0})
            if status != "succeeded":
                self.run_span.set_status(Status(StatusCode.ERROR, summary["statusDetail"] or status))
            self.run_span.end()
        self.t.runs_by_id.pop(self.run_id, None)
        if self.top:
            self.t.finish()

    def after_summary(self, run: ActiveRun) -> None:
        pass

    # ------------------------------------------------------------ events

    def handle(self, event: Envelope, line: str) -> None:
        type_ = event["type"]
        if type_ == "exec:chunk":
            return  # the hot path: nothing to do per chunk
        handler = _HANDLERS.get(type_)
        if handler is not None:
            handler(self, event["payload"])

    def close(self) -> None:
        pass

    def _run_start(self, p: dict[str, Any]) -> None:
        self.run_id, self.pipeline, self.top = p["runId"], p["pipelineId"], p["parentRunId"] is None
        parent = self.t.runs_by_id.get(p["parentRunId"] or "")
        ctx = trace.set_span_in_context(parent.stage_span) if parent and parent.stage_span else self.t.incoming
        self.run_span = self.t.tracer.start_span(f"run {p['pipelineId']}", context=ctx, kind=SpanKind.INTERNAL,
                                                 attributes={
            NS + "task": p["taskId"], NS + "run_id": p["runId"], NS + "pipeline": p["pipelineId"],
            NS + "approval_policy": p["approvalPolicy"], NS + "sandbox_mode": p["sandboxMode"],
            **({NS + "parent_run_id": p["parentRunId"]} if p["parentRunId"] else {})})
        self.t.runs_by_id[self.run_id] = self
        if self.top and self._publish is not None:
            self.t.attach(self._publish)

    def _context(self, span: Span | None) -> otel_context.Context | None:
        return trace.set_span_in_context(span) if span is not None else None

    def _stage_start(self, p: dict[str, Any]) -> None:
        attributes = {NS + "stage": p["stageId"], NS + "stage_index": p["index"], NS + "stage_kind": p["kind"],
                      NS + "run_id": self.run_id}
        self.stage_span = self.t.tracer.start_span(f"stage {p['stageId']}", context=self._context(self.run_span),
                                                   attributes=attributes)

    def _stage_end(self, p: dict[str, Any]) -> None:
        span, self.stage_span = self.stage_span, None
        if span is None:
            return
        span.set_attributes({NS + "status": p["status"], **_exit(p["exitCode"])})
        if p["status"] == "failed":
            span.set_status(Status(StatusCode.ERROR, redact_command(p["summary"], self.t.secrets)[:200]))
        span.end()

    def _tool(self, tool_run_id: str) -> Span:
        """The tool run's span, started by its first event (an approval question comes before tool:start)."""
        span = self.tools.get(tool_run_id)
        if span is None:
            parent = self.stage_span or self.run_span
            span = self.t.tracer.start_span("tool", context=self._context(parent),
                                            attributes={NS + "tool_run_id": tool_run_id, NS + "run_id": self.run_id})
            self.tools[tool_run_id] = span
        return span

    def _approval_request(self, p: dict[str, Any]) -> None:
        self._tool(p["toolRunId"]).add_event("approval.requested", {
            NS + "request_id": p["requestId"], NS + "reason": redact_command(p["reason"], self.t.secrets),
            NS + "sandbox_mode": p["sandboxMode"]})

    def _approval_decision(self, p: dict[str, Any]) -> None:
        span = self._tool(p["toolRunId"])
        reused = p["approvalSource"] in REUSED_SOURCES
        attributes = {NS + "decision": p["decision"], NS + "approval_source": p["approvalSource"],
                      NS + "approval_reused": reused}
        span.add_event("approval.decision", attributes)
        self.t.approvals.add(1, {NS + "approval_source": p["approvalSource"], NS + "approval_reused": reused})
        if p["decision"] not in APPROVED:
            span.add_event("approval.denied", attributes)
            self.t.denials.add(1, {NS + "denial": "approval"})

    def _tool_start(self, p: dict[str, Any]) -> None:
        span = self._tool(p["toolRunId"])
        span.update_name(f"tool {p['tool']}")
        argv = redact_argv(list(p["command"]), self.t.secrets)
        span.set_attributes({
            NS + "tool": p["tool"], "process.command": " ".join(argv), "process.command_args": argv,
            "process.working_directory": p["cwd"], NS + "sandbox_mode": p["sandboxMode"],
            NS + "approval_source": p["approvalSource"], **({NS + "stage": p["stageId"]} if "stageId" in p else {})})
        self.next_attempt[p["toolRunId"]] = self.t.prepare_command(span)

    def _tool_retry(self, p: dict[str, Any]) -> None:
        span = self._tool(p["toolRunId"])
        span.add_event("tool.retry", {NS + "attempt": p["attempt"], NS + "delay_ms": p["delayMs"],
                                      NS + "reason": redact_command(p["reason"], self.t.secrets),
                                      NS + "sandbox_state": p["sandboxState"]})
        self.t.retries.add(1, {NS + "sandbox_state": p["sandboxState"]})
        self.next_attempt[p["toolRunId"]] = self.t.prepare_command(span)

    def _exec_begin(self, p: dict[str, Any]) -> None:
        tool_run_id = p["correlationId"].rpartition(":")[0]
        parent = self._tool(tool_run_id)
        self.t.ids.preset = self.next_attempt.pop(tool_run_id, None)
        self.attempts[p["correlationId"]] = self.t.tracer.start_span(
            f"attempt {p['attempt']}", context=self._context(parent),
            attributes={NS + "attempt": p["attempt"], NS + "sandbox_mode": p["sandboxMode"], NS + "pty": p["pty"]})

    def _exec_end(self, p: dict[str, Any]) -> None:
        span = self.attempts.pop(p["correlationId"], None)
        if span is None:
            return
        span.set_attributes({NS + "status": p["status"], NS + "sandbox_state": p["sandboxState"],
                             NS + "output_bytes": p["bytes"], **_exit(p["exitCode"])})
        if p["sandboxState"] == "denied":
            span.add_event("sandbox.denied", {NS + "sandbox_state": "denied"})
            self.t.denials.add(1, {NS + "denial": "sandbox"})
        if p["status"] != "succeeded":
            span.set_status(Status(StatusCode.ERROR, p["status"]))
        span.end()

    def _tool_complete(self, p: dict[str, Any]) -> None:
        span = self._tool(p["toolRunId"])
        del self.tools[p["toolRunId"]]
        self.t.traceparent = None
        span.set_attributes({NS + "status": p["status"], NS + "retry_count": p["retryCount"],
                             NS + "sandbox_state": p["sandboxState"], NS + "approval_source": p["approvalSource"],
                             **_exit(p["exitCode"])})
        if p["status"] != "succeeded":
            span.set_status(Status(StatusCode.ERROR, redact_command(p.get("message") or p["status"],
                                                                    self.t.secrets)[:200]))
        span.end()
        self.t.tool_duration.record(p["durationMs"], {NS + "tool": p["tool"], NS + "status": p["status"]})

    def _run_error(self, p: dict[str, Any]) -> None:
        if self.run_span is not None:
            self.run_span.add_event("run.error", {NS + "message": redact_command(p["message"], self.t.secrets),
                                                  NS + "code": p["code"]})


def _exit(code: int | None) -> dict[str, int]:
    return {"process.exit.code": code} if code is not None else {}


_HANDLERS: dict[str, Callable[[RunTracer, dict[str, Any]], None]] = {
    "run:start": RunTracer._run_start,
    "stage:start": RunTracer._stage_start,
    "stage:end": RunTracer._stage_end,
    "approval:request": RunTracer._approval_request,
    "approval:decision": RunTracer._approval_decision,
    "tool:start": RunTracer._tool_start,
    "tool:retry": RunTracer._tool_retry,
    "exec:begin": RunTracer._exec_begin,
    "exec:end": RunTracer._exec_end,
    "tool:complete": RunTracer._tool_complete,
    "run:error": RunTracer._run_error,
}


def start(settings: TelemetrySettings, env: Mapping[str, str] | None = None) -> Telemetry:
    return Telemetry(settings, os.environ if env is None else env)
