"""The manifest writer: a bus subscriber that keeps manifest.json true at every moment.

It turns events into manifest updates and writes the manifest atomically after
each one that changes it (never for output chunks; a `tool:complete` is written
with the `stage:end` or `run:summary` that follows it at once, or by the next
heartbeat: `events.jsonl` has it from the start). While the run is live the
process's heartbeat thread (heartbeat.py) refreshes `heartbeat_at`, so `status`
can tell a run whose process died from one still working.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._files import dump_json, write_beside, write_json_atomic
from ..events.bus import utc_timestamp
from ..metrics.figures import APPROVED
from .manifest import ChildRunRecord, FileChangeRecord, Manifest, NotificationRecord
from .store import RunPaths, RunStore, process_alive, state_entry

if TYPE_CHECKING:
    from ..events.protocol import Envelope
    from .heartbeat import Beat

_IGNORED = frozenset({"exec:chunk", "exec:begin", "exec:end", "tool:retry", "approval:request"})


class ManifestRecorder:
    critical = True

    def __init__(self, manifest: Manifest, paths: RunPaths, heartbeat_interval: float, *,
                 staging: RunPaths | None = None) -> None:
        self.manifest = manifest
        self.paths = paths
        self.staging = staging  # a new run's hidden directory, until the first write publishes it
        self._lock = threading.RLock()
        self._interval = heartbeat_interval
        self._heartbeat: Beat | None = None
        self.written: dict[str, Any] | None = None  # the manifest as last written (read, never changed)

    # --- writing

    def write(self, *, durable: bool = False, before_replace: Callable[[], None] | None = None) -> None:
        """Replace the manifest atomically. Only the final write is fsynced (`durable`): an update
        during the run is superseded a moment later, and a power loss that rolls it back to an earlier
        version loses nothing the final write would not have replaced (docs/manifest.md)."""
        with self._lock:
            self.manifest.updated_at = utc_timestamp()
            self.written = self.manifest.to_dict()
            if self.staging is not None:  # the first write of a new run (run:start): it publishes the run
                RunStore.publish(self.staging, self.paths, self.written)
                self.staging = None
                if not durable:
                    return
            write_json_atomic(self.paths.manifest, self.written, fsync=durable, within=self.paths.root,
                              before_replace=before_replace)

    def write_state(self) -> None:
        """The run's `in_progress` entry in state.json (views.py says when it is written)."""
        from . import views

        views.started(self.paths, state_entry(self.written or self.manifest.to_dict(), self.paths.manifest))

    def set_notifications(self, records: list[NotificationRecord]) -> None:
        """The deliveries of the run's notifications, known only after run:summary (docs/notifications.md)."""
        with self._lock:
            self.manifest.notifications = list(records)
            self.write()

    def add_child(self, child: ChildRunRecord) -> None:
        with self._lock:
            self.manifest.child_runs.append(child)
            self.write()

    def start_heartbeat(self) -> None:
        from .heartbeat import every

        self._heartbeat = every(self._interval, self._beat)

    def _beat(self) -> bool:
        with self._lock:
            if self.manifest.status not in ("queued", "in_progress"):
                return False
            self.manifest.heartbeat_at = utc_timestamp()
            self.write()
            return True

    # --- subscriber

    def handle(self, event: Envelope, line: str) -> None:
        type_ = event["type"]
        if type_ in _IGNORED:
            return
        payload: Any = event["payload"]
        with self._lock:
            m = self.manifest
            if type_ == "run:start":
                m.status = "in_progress"
                m.heartbeat_at = event["timestamp"]
                self.write()
                self.write_state()
                return
            if type_ == "stage:start":
                record = m.commands[payload["index"] - 1]
                record.status = "running"
                record.started_at = event["timestamp"]
                record.completed_at = record.exit_code = record.summary = None
                record.log_path = payload.get("logPath", record.log_path)  # a command stage's raw output
            elif type_ == "stage:end":
                record = m.commands[payload["index"] - 1]
                record.status = payload["status"]
                record.completed_at = event["timestamp"]
                record.exit_code = payload["exitCode"]
                record.duration_ms = payload["durationMs"]
                record.summary = payload["summary"]
                record.child_run_id = payload.get("childRunId", record.child_run_id)
            elif type_ == "tool:complete":
                # Not written at once: the stage:end or run:summary right after it writes it, and so does
                # the next heartbeat for a tool run that ends no stage (a codex stage's commands).
                self._record_tool_run(m, payload)
                return
            elif type_ == "approval:decision":
                m.metrics.approvals_needed += 1
                if payload["decision"] not in APPROVED:
                    m.metrics.approval_denials += 1
                if payload["approvalSource"] == "prompt":
                    m.metrics.approvals_prompted += 1
                elif payload["approvalSource"] in ("session", "store", "codex-rules"):
                    m.metrics.approvals_reused += 1
            elif type_ == "codex:event":
                if not _codex_event(m, payload):
                    return
            elif type_ == "run:summary":
                self._finish(payload, event["timestamp"])
                return
            else:
                return
            self.write()

    @staticmethod
    def _record_tool_run(m: Manifest, payload: Any) -> None:
        m.tool_runs.append(payload)
        m.metrics.tool_runs += 1
        m.metrics.retries += payload["retryCount"]
        m.metrics.sandbox_denials += sum(1 for a in payload["attempts"] if a["denied"])
        if m.commands and payload.get("stageId"):
            for record in m.commands:
                if record.id == payload["stageId"] and record.status == "running":
                    record.tool_run_id = payload["toolRunId"]

    def _finish(self, summary: dict[str, Any], timestamp: str) -> None:
        m = self.manifest
        m.status = summary["status"]
        m.status_detail = summary["statusDetail"]
        m.completed_at = timestamp
        m.exit_code = summary["result"]["exitCode"]
        m.run_summary_path = str(self.paths.run_summary)
        # Both files fsynced, the two flushes in flight at once; the summary is in place before the final
        # manifest that names it. state.json and metrics.json follow in ActiveRun.finish.
        summary_written = write_beside(self.paths.run_summary, dump_json(summary).encode(), within=self.paths.root)
        try:
            self.write(durable=True, before_replace=summary_written.wait)
        except BaseException:
            summary_written.wait(quiet=True)  # nothing is left writing behind the error
            raise

    def close(self) -> None:
        """No heartbeat after this (one already writing finishes first: it holds the manifest's lock)."""
        if self._heartbeat is not None:
            self._heartbeat.stop()


_USAGE = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens")


def _codex_event(m: Manifest, payload: Any) -> bool:
    """What a codex stage's event changes in the manifest: the thread id (written at once, so a kill -9
    right after still lets `resume` continue the thread), token usage, changed files. True if any."""
    event = payload["event"]
    kind = event.get("type")
    record = m.commands[payload["index"] - 1]
    if kind == "thread.started" and isinstance(event.get("thread_id"), str):
        record.codex_thread_id = event["thread_id"]
        return True
    if kind == "turn.completed":
        usage = event.get("usage") or {}
        for name in _USAGE:
            value = usage.get(name)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                setattr(m.metrics, name, getattr(m.metrics, name) + value)
        return True
    item = event.get("item") or {}
    if kind == "item.completed" and item.get("type") == "file_change":
        for change in item.get("changes") or []:
            path = str(change.get("path", ""))
            if m.cwd and os.path.isabs(path) and Path(path).is_relative_to(m.cwd):
                path = os.path.relpath(path, m.cwd)
            m.files_changed.append(FileChangeRecord(path, change.get("kind", "update"), record.id,
                                                    payload.get("threadId"), str(item.get("status", ""))))
        return True
    return False


def effective_status(manifest: dict[str, Any], now: float | None = None,
                     paths: RunPaths | None = None) -> tuple[str, str | None]:
    """The status to report: a live-looking run that no process runs any more is `interrupted`.

    The run's lock decides (runs/lock.py): held means alive however old the heartbeat (a stopped
    process), free means interrupted. Wave-1 runs (made before runs were locked) fall back to the pid and
    heartbeat.
    """
    status = manifest.get("status", "queued")
    if status not in ("queued", "in_progress"):
        return status, manifest.get("status_detail")
    if paths is not None:
        from .lock import lock_held

        held = lock_held(paths, manifest)
        if held is not None:
            if held:
                return status, manifest.get("status_detail")
            return "interrupted", "no orchestrator process holds the run any more (it was killed or crashed)"
    if not process_alive(manifest.get("pid"), manifest.get("pid_start_time")):
        return "interrupted", "the orchestrator process is gone (it was killed or crashed)"
    interval = float(manifest.get("heartbeat_interval_seconds") or 5.0)
    beat = manifest.get("heartbeat_at")
    if beat and (now or time.time()) - _parse_timestamp(beat) > max(3 * interval, 15.0):
        return "interrupted", "no heartbeat for 3 intervals"
    return status, manifest.get("status_detail")


def _parse_timestamp(text: str) -> float:
    import calendar

    base, _, millis = text.rstrip("Z").partition(".")
    return calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) + int(millis or 0) / 1000
