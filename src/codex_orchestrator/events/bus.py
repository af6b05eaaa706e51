"""One in-process event bus; every writer of a run is a subscriber.

The manifest, `events.jsonl`, stdout in `--format jsonl`, and later telemetry
and notifications all see the same envelopes in the same order. The line is
encoded once per event and handed to every subscriber with the envelope.

Subscribers marked `critical` (the run's own records) propagate their errors:
a run that cannot record itself must stop. The others (stdout, telemetry,
hooks) are dropped with one warning on their first failure, so that an
observer never breaks a run.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Literal, Protocol, overload

if TYPE_CHECKING:
    from . import protocol as P
    from .protocol import Envelope

Ts = str | None  # an envelope timestamp, when the caller already has one

_second_cache: list[object] = [-1, ""]  # the last whole second formatted, and its text


def utc_timestamp(now: float | None = None) -> str:
    """ISO-8601 UTC with milliseconds, e.g. 2026-11-23T19:59:45.401Z.

    Called for every output chunk, so the formatted second is cached.
    """
    now = time.time() if now is None else now
    seconds = int(now)
    if _second_cache[0] != seconds:
        _second_cache[0] = seconds
        _second_cache[1] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{_second_cache[1]}.{int((now - seconds) * 1000):03d}Z"


class Subscriber(Protocol):
    critical: bool

    def handle(self, event: Envelope, line: str) -> None:
        """Receive one event; `line` is its JSON encoding without the newline."""

    def close(self) -> None: ...


_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._lock = threading.RLock()
        self.closed = False

    def subscribe(self, subscriber: Subscriber) -> None:
        with self._lock:
            self._subscribers.append(subscriber)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        with self._lock:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)

    # `publish` is checked by mypy against the payload type of each event type (events/protocol.py):
    # a wrong or missing key in a payload is a type error, not a surprise for the consumer.
    if TYPE_CHECKING:
        @overload
        def publish(self, type_: Literal["run:start"], payload: P.RunStart,
                    timestamp: Ts = None) -> Envelope: ...

        @overload
        def publish(self, type_: Literal["stage:start"], payload: P.StageStart,
                    timestamp: Ts = None) -> Envelope: ...

        @overload
        def publish(self, type_: Literal["stage:end"], payload: P.StageEnd,
                    timestamp: Ts = None) -> Envelope: ...

        @overload
        def publish(self, type_: Literal["tool:start"], payload: P.ToolStart,
                    timestamp: Ts = None) -> Envelope: ...

        @overload
        def publish(self, type_: Literal["approval:request"], payload: P.ApprovalRequest,
                    timestamp: Ts = None) -> Envelope: ...

        @overload
        def publish(self, type_: Literal["approval:decision"], payload: P.ApprovalDecisionEvent,
                    timestamp: Ts = None) -> Envelope: ...

        @overload
        def publish(self, type_: Literal["approval:error"], payload: P.ApprovalError,
                    timestamp: Ts = None) -> Envelope: ...

        @overload
        def publish(self, type_: Literal["approval:warning"], payload: P.ApprovalWarning,
                    timestamp: Ts = None) -> Envelope: ...

        @overload
        def publish(self, type_: Literal["tool:retry"], payload: P.ToolRetry,
                    timestamp: Ts = None) -> Envelope: ...

        @overload
        def publish(self, type_: Literal["tool:complete"], payload: P.ToolComplete,
                    timestamp: Ts = None) -> Envelope: ...

        @overload
        def publish(self, type_: Literal["exec:begin"], payload: P.ExecBegin,
                    timestamp: Ts = None) -> Envelope: ...

        @overload
        def publish(self, type_: Literal["exec:chunk"], payload: P.ExecChunk,
                    timestamp: Ts = None) -> Envelope: ...

        @overload
        def publish(self, type_: Literal["exec:end"], payload: P.ExecEnd,
                    timestamp: Ts = None) -> Envelope: ...

        @overload
        def publish(self, type_: Literal["run:error"], payload: P.RunError,
                    timestamp: Ts = None) -> Envelope: ...

        @overload
        def publish(self, type_: Literal["run:summary"], payload: P.RunSummary,
                    timestamp: Ts = None) -> Envelope: ...

        @overload
        def publish(self, type_: Literal["codex:event"], payload: P.CodexEvent,
                    timestamp: Ts = None) -> Envelope: ...

        @overload
        def publish(self, type_: Literal["telemetry:degraded"], payload: P.TelemetryDegraded,
                    timestamp: Ts = None) -> Envelope: ...

        def publish(self, type_: str, payload: Any, timestamp: Ts = None) -> Envelope: ...

    else:
        def publish(self, type_, payload, timestamp=None):
            return self.publish_untyped(type_, payload, timestamp)

    def publish_untyped(self, type_: str, payload: Any, timestamp: str | None = None) -> Envelope:
        """Publish without the static check: for callers that forward an event whose type is data
        (the approval channel's problem reports). Everything else calls `publish`."""
        event: Envelope = {"type": type_, "timestamp": timestamp or utc_timestamp(), "payload": payload}
        line = _encode(event)
        failure: BaseException | None = None
        with self._lock:
            for subscriber in tuple(self._subscribers):
                if subscriber.critical:
                    # A record that cannot be written stops the run, but only after every subscriber has
                    # the event: stdout still gets `run:error` and `run:summary` when the disk is full.
                    try:
                        subscriber.handle(event, line)
                    except Exception as exc:
                        failure = failure or exc
                    continue
                try:
                    subscriber.handle(event, line)
                except Exception as exc:  # an observer must never break the run
                    self._subscribers.remove(subscriber)
                    name = getattr(subscriber, "name", None) or type(subscriber).__name__
                    print(f"codex-orchestrator: warning: {name} stopped: {exc}", file=sys.stderr)
        if failure is not None:
            raise failure
        return event

    def close(self) -> None:
        with self._lock:
            if self.closed:
                return
            self.closed = True
            for subscriber in self._subscribers:
                try:
                    subscriber.close()
                except Exception as exc:
                    if subscriber.critical:
                        raise
                    print(f"codex-orchestrator: warning: {exc}", file=sys.stderr)
