"""Deliver notifications off the run's thread, record each delivery, never fail the run.

* `notify = ["prog", "arg"]` runs `prog arg '<json>'` (the payload appended as one last argument, as the
  Codex CLI does) for `run-complete`, `run-failed` and `approval-requested`.
* `notifications.webhooks = [{url, events, secret?, timeout_seconds?}]` POSTs the same JSON, signed with
  `X-Signature-256: sha256=<HMAC-SHA256 of the body>` when a secret is set (GitHub's convention); each
  attempt waits at most `timeout_seconds` (default 5), at most 3 attempts with backoff (0.5 s, 1 s).

Each delivery runs on its own daemon thread. At the end of the top-level run the process waits at most
`GRACE_SECONDS` in total for what is still in flight; the rest is recorded as `abandoned` (a notify
program still running is killed). Every delivery is recorded in the run's manifest (`notifications[]`),
and the programs' output and the webhooks' failures go to `notifications.log` in the run directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.client
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..redact import redact_command, secret_values

if TYPE_CHECKING:  # pragma: no cover
    from ..events.protocol import Envelope, RunSummary
    from ..runs.active import ActiveRun
    from ..runs.manifest import NotificationRecord

GRACE_SECONDS = 2.0
WEBHOOK_ATTEMPTS = 3
WEBHOOK_BACKOFF = (0.5, 1.0)
EVENTS = ("run-complete", "run-failed", "approval-requested")


class _Delivery:
    def __init__(self, target: str, event: str) -> None:
        self.target = target
        self.event = event
        self.status = "abandoned"  # until it ends
        self.attempts = 0
        self.error: str | None = None
        self.done = threading.Event()
        self.process: subprocess.Popen[bytes] | None = None

    def record(self, *, abandoned: bool) -> NotificationRecord:
        """`abandoned`: it had not ended when the grace ran out (decided once, before it was killed: the
        exit status the kill gives it is not its outcome)."""
        from ..runs.manifest import NotificationRecord

        error = self.error
        if abandoned:
            error = f"not delivered within the {GRACE_SECONDS:g} s grace at exit" + (f" ({error})" if error else "")
        return NotificationRecord(self.target, self.event, "abandoned" if abandoned else self.status,  # type: ignore[arg-type]
                                  self.attempts, error)


def display_target(url: str) -> str:
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"webhook:{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


class Notifier:
    """The process's notification targets; each run gets a `RunNotifier` subscriber."""

    name = "notifications"

    def __init__(self, argv: list[str], webhooks: list[dict[str, Any]], env: Mapping[str, str]) -> None:
        self.argv = list(argv)
        self.webhooks = [dict(hook) for hook in webhooks]
        self.secrets = secret_values(env)
        self._lock = threading.Lock()
        self._deliveries: list[_Delivery] = []
        self._log_fd = -1

    def for_run(self) -> RunNotifier:
        return RunNotifier(self)

    # ------------------------------------------------------------ the log

    def open_log(self, run: ActiveRun) -> None:
        from .._files import open_file

        if self._log_fd < 0:
            path = run.where.run_dir / "notifications.log"  # before run:start, the still hidden directory
            self._log_fd = open_file(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, within=run.paths.root)

    def _log(self, text: str) -> None:
        if self._log_fd >= 0:
            from ..events.bus import utc_timestamp

            with contextlib.suppress(OSError):  # a full disk loses a log line, never the run
                os.write(self._log_fd, f"{utc_timestamp()} {text}\n".encode())

    # ------------------------------------------------------------ dispatch

    def dispatch(self, event: str, payload: dict[str, Any]) -> None:
        body = json.dumps({"type": event, **payload}, ensure_ascii=False)
        if self.argv:
            self._start(_Delivery(f"notify:{self.argv[0]}", event), self._run_program, body)
        for hook in self.webhooks:
            if event in hook.get("events", EVENTS):
                self._start(_Delivery(display_target(hook["url"]), event), self._post, hook, body.encode())

    def _start(self, delivery: _Delivery, target: Any, *args: Any) -> None:
        with self._lock:
            self._deliveries.append(delivery)

        def work() -> None:
            try:
                target(delivery, *args)
            except Exception as exc:  # a bug in delivery is a failed delivery, never a failed run
                delivery.status, delivery.error = "failed", f"{type(exc).__name__}: {exc}"
            finally:
                delivery.done.set()

        threading.Thread(target=work, name=f"notify-{delivery.event}", daemon=True).start()

    def _run_program(self, delivery: _Delivery, body: str) -> None:
        delivery.attempts = 1
        out = self._log_fd if self._log_fd >= 0 else subprocess.DEVNULL
        try:
            delivery.process = subprocess.Popen([*self.argv, body], stdin=subprocess.DEVNULL, stdout=out,
                                                stderr=out, start_new_session=True, close_fds=True)
        except OSError as exc:
            delivery.status, delivery.error = "failed", f"cannot run {self.argv[0]}: {exc.strerror or exc}"
            self._log(f"{delivery.target} {delivery.event}: {delivery.error}")
            return
        code = delivery.process.wait()
        if code == 0:
            delivery.status = "delivered"
        else:
            delivery.status, delivery.error = "failed", f"exit code {code}"
            self._log(f"{delivery.target} {delivery.event}: {delivery.error}")

    def _post(self, delivery: _Delivery, hook: Mapping[str, Any], body: bytes) -> None:
        headers = {"Content-Type": "application/json", "User-Agent": "codex-orchestrator",
                   "X-Codex-Orchestrator-Event": delivery.event}
        if hook.get("secret"):
            headers["X-Signature-256"] = signature(hook["secret"], body)
        timeout = float(hook.get("timeout_seconds", 5))
        for attempt in range(1, WEBHOOK_ATTEMPTS + 1):
            delivery.attempts = attempt
            error, retry = _post_once(hook["url"], body, headers, timeout)
            if error is None:
                delivery.status, delivery.error = "delivered", None
                return
            delivery.error = redact_command(error, self.secrets)
            self._log(f"{delivery.target} {delivery.event} attempt {attempt}: {delivery.error}")
            if not retry or attempt == WEBHOOK_ATTEMPTS:
                break
            time.sleep(WEBHOOK_BACKOFF[min(attempt - 1, len(WEBHOOK_BACKOFF) - 1)])
        delivery.status = "failed"

    # ------------------------------------------------------------ the end

    def settle(self, grace: float = GRACE_SECONDS) -> list[NotificationRecord]:
        """Wait at most `grace` seconds in all for the deliveries in flight; record every delivery."""
        deadline = time.monotonic() + grace
        with self._lock:
            deliveries, self._deliveries = self._deliveries, []
        for delivery in deliveries:
            delivery.done.wait(max(0.0, deadline - time.monotonic()))
        unfinished = [delivery for delivery in deliveries if not delivery.done.is_set()]
        records = [delivery.record(abandoned=delivery in unfinished) for delivery in deliveries]
        for delivery in unfinished:
            if delivery.process is not None:
                with contextlib.suppress(OSError):
                    os.killpg(delivery.process.pid, signal.SIGKILL)
            self._log(f"{delivery.target} {delivery.event}: abandoned after the {grace:g} s grace")
        return records

    def close_log(self) -> None:
        if self._log_fd >= 0:
            os.close(self._log_fd)
            self._log_fd = -1


def _post_once(url: str, body: bytes, headers: dict[str, str], timeout: float) -> tuple[str | None, bool]:
    """(None, _) when delivered; else (why, whether to try again)."""
    parts = urlsplit(url)
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = cls(parts.hostname or "", parts.port, timeout=timeout)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
    except TimeoutError:
        return f"no answer within {timeout:g} s", True
    except (OSError, http.client.HTTPException) as exc:
        return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__, True
    finally:
        conn.close()
    if 200 <= response.status < 300:
        return None, False
    return f"HTTP {response.status} {response.reason}".strip(), response.status >= 500 or response.status == 429


class RunNotifier:
    """One run's notifications (a bus subscriber and a RunHook). Only the top-level run sends run-complete
    and run-failed; approval questions of child runs are sent too, and recorded in the top-level run."""

    critical = False
    name = "notifications"

    def __init__(self, notifier: Notifier) -> None:
        self.n = notifier
        self.top = False
        self.run: ActiveRun | None = None

    def attached(self, run: ActiveRun) -> None:
        self.run = run
        self.top = run.manifest.parent_run_id is None
        if self.top:
            self.n.open_log(run)

    def handle(self, event: Envelope, line: str) -> None:
        if event["type"] != "approval:request" or self.run is None:
            return
        p: Any = event["payload"]
        m = self.run.manifest
        secrets = self.n.secrets
        self.n.dispatch("approval-requested", {
            "run-id": m.run_id, "task-id": m.task_id, "pipeline-id": m.pipeline.id, "request-id": p["requestId"],
            "tool-run-id": p["toolRunId"], "command": redact_command(" ".join(p["command"]), secrets),
            "cwd": p["cwd"], "reason": redact_command(p["reason"], secrets), "sandbox-mode": p["sandboxMode"],
            "manifest-path": str(self.run.paths.manifest)})

    def close(self) -> None:
        pass

    def before_summary(self, run: ActiveRun, summary: RunSummary) -> None:
        if not self.top:
            return
        status = summary["status"]
        detail = summary["statusDetail"] or f"{run.manifest.pipeline.id} {status}"
        self.n.dispatch("run-complete" if status == "succeeded" else "run-failed", {
            "run-id": summary["run"]["id"], "task-id": summary["run"]["taskId"],
            "pipeline-id": summary["run"]["pipelineId"], "status": status,
            "exit-code": summary["result"]["exitCode"], "manifest-path": summary["run"]["manifest"],
            "summary": redact_command(detail, self.n.secrets)[:1000],
            "duration-ms": summary["result"]["durationMs"], "cwd": run.manifest.cwd})

    def after_summary(self, run: ActiveRun) -> None:
        if not self.top:
            return
        records = self.n.settle()
        self.n.close_log()
        if records:
            run.recorder.set_notifications(records)
