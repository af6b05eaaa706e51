"""The ToolOrchestrator: the only way any tool runs.

One call, `invoke(request)`, walks a short state machine:

    assess (rules, policy) -> approve (session, store, ask) -> pick sandbox
      -> attempt -> classify (ok / denied / transient / failed)
      -> [escalate with approval | back off] -> attempt ... -> record

and tells the event bus every step (`tool:start`, `approval:*`, `exec:*`,
`tool:retry`, `tool:complete`). Pipeline stages, `exec`, and later MCP and
custom tools all come through here, so approvals, sandboxing and records are
the same for every one of them.
"""

from __future__ import annotations

import itertools
import os
import shlex
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast

from .._paths import resolve
from ..errors import SandboxUnavailableError
from ..events.bus import EventBus, utc_timestamp
from .asker import HOW_TO_APPROVE, OPTIONS, ApprovalQuestion, Asker, NoChannel
from .policy import ESCALATE_ON_DENIAL, Assessment, assess
from .request import ToolRequest, ToolResult
from .runtime import Attempt, ChunkSink, Confine, PipesRuntime, PtyRuntime, RuntimeOutcome

if TYPE_CHECKING:  # pragma: no cover
    from ..config import Config
    from ..events.protocol import (
        ApprovalDecision,
        ApprovalSource,
        AttemptStatus,
        ExecChunk,
        SandboxState,
        StreamName,
        StreamSummary,
        ToolAttempt,
        ToolComplete,
        ToolStart,
        ToolStatus,
    )
    from ..exec.buffer import HeadTailBuffer
    from ..exec.cancel import CancelToken
    from ..exec.chunker import Chunk
    from ..exec.limit import OutputLimit
    from ..exec.sessions import ExecSessionManager
    from ..exec.snapshot import ShellSnapshots, Snapshot
    from ..sandbox import SandboxedSpawn
    from .approvals.rules import RuleSet
    from .approvals.store import ApprovalStore

APPROVED = frozenset({"approved", "approved_for_session", "approved_always"})
REUSED_SOURCES = frozenset({"session", "store", "codex-rules"})


# The source of a decision someone was asked for: `prompt`, unless no answer came.
_ASKED_SOURCES: dict[str, ApprovalSource] = {"timed_out": "timed-out", "channel-closed": "channel-closed"}

class ToolOrchestrator:
    def __init__(
        self,
        config: Config,
        bus: EventBus,
        *,
        cancel: CancelToken,
        asker: Asker | None = None,
        sessions: ExecSessionManager | None = None,
        env: Mapping[str, str] | None = None,
        approval_policy: str | None = None,
        store: ApprovalStore | None = None,
        rules: RuleSet | None = None,
        sequence: Callable[[], int] | None = None,
        session_approvals: set[str] | None = None,
        protected_paths: tuple[Path, ...] = (),
        snapshots: ShellSnapshots | None = None,
    ) -> None:
        self.config = config
        self.bus = bus
        self.cancel = cancel
        self.asker = asker or NoChannel()
        self.sessions = sessions
        self.base_env = dict(os.environ if env is None else env)  # trusted: the user's own environment
        self._command_env: dict[str, str] | None = None  # base_env filtered by shell_environment_policy
        self.policy: str = approval_policy or config.get("approval_policy")
        self._store = store
        self._rules = rules
        self.protected_paths = protected_paths  # the run store: read-only inside the sandbox
        self._session_approvals = session_approvals if session_approvals is not None else set()
        self._next_sequence = sequence or itertools.count(1).__next__
        self.approvals_reused = 0
        self.approvals_prompted = 0
        self._lock = threading.Lock()  # the counters and the lazily made PTY runtime; calls share nothing else
        self._pipes = PipesRuntime()
        self._pty: PtyRuntime | None = None
        # Shell snapshots only for a caller that runs many commands: one that keeps sessions across calls
        # (serve, mcp serve, the Python API), or that passes its own (a pipeline run). A one-shot `exec`
        # would pay for a snapshot it uses once.
        self.snapshots = snapshots if snapshots is not None else sessions.snapshots if sessions is not None else None

    # ------------------------------------------------------------------ approval sources (lazy)

    @property
    def command_env(self) -> dict[str, str]:
        """What every command starts from: the user's environment after `shell_environment_policy`."""
        if self._command_env is None:
            from ..exec.env import apply_policy

            self._command_env = apply_policy(self.base_env, self.config.env_policy())
        return self._command_env

    @property
    def store(self) -> ApprovalStore:
        if self._store is None:
            from .approvals.store import ApprovalStore

            self._store = ApprovalStore.default(self.base_env)
        return self._store

    @property
    def rules(self) -> RuleSet | None:
        """The user's Codex rules; None when there are none (the parser is then never imported)."""
        if self._rules is None:
            layers = self.config.rules_layers()  # $CODEX_HOME/rules, then the project's .codex/rules
            if not layers:
                return None
            from .approvals.rules import load_rule_layers

            self._rules = load_rule_layers(layers)
        return self._rules

    # ------------------------------------------------------------------ the state machine

    def invoke(self, request: ToolRequest, *, cancel: CancelToken | None = None) -> ToolResult:
        """Decide (rules, policy, approval), announce, attempt (escalating or backing off), record.

        Re-entrant: every bit of a call's state lives in its `_ToolCall`, so one orchestrator may run
        many calls at once from several threads. `cancel` stops this call only (default: the
        orchestrator's token, which stops them all).
        """
        from .approvals.keys import canonical_argv

        argv = canonical_argv(request.command)
        call = _ToolCall(request, "tr_" + os.urandom(6).hex(), time.monotonic(), resolve(request.cwd), argv,
                         request.sandbox_mode or self.config.get("sandbox_mode"), cancel or self.cancel)
        if request.capture_stdout:
            call.capture = _Capture(request.capture_stdout)
        self._decide(call)
        start: ToolStart = {
            "toolRunId": call.tool_run_id, "tool": request.tool, "command": argv, "cwd": str(call.cwd),
            "sandboxMode": call.mode if call.sandboxed else "danger-full-access", "approvalSource": call.source,
            "approvalKey": call.key,
        }
        if request.stage_id:
            start["stageId"] = request.stage_id
        self.bus.publish("tool:start", start)
        if call.assessment.action == "reject":
            call.status = "cancelled" if call.cancel.cancelled else "rejected"  # Ctrl-C at the approval prompt
            call.state = "sandboxed" if call.sandboxed else "unsandboxed"
            call.message = call.assessment.reason
        else:
            self._run_attempts(call)
        result = self._complete(call)
        result.escalation_refused = call.escalation_refused
        return result

    def _decide(self, call: _ToolCall) -> None:
        """Assess (rules, policy, an allow rule's downgrade) and, if needed, ask: fills call's decision."""
        from .approvals.keys import approval_key
        from .approvals.safe_commands import is_known_safe

        rules = self.rules
        match = rules.evaluate(call.request.command) if rules is not None else None
        rule_reason = None
        if match is not None:
            rule_reason = next((r.justification for r in match.rules if r.justification), None) or (
                f"{match.decision} by {match.rules[0].source}:{match.rules[0].line}"
            )
        rule_decision = str(match.decision) if match is not None else None
        if rule_decision is None:  # Codex's built-in dangerous-command check applies where no rule speaks
            from .approvals.dangerous import REASON, is_dangerous

            if is_dangerous(call.request.command):
                rule_decision, rule_reason = "prompt", REASON
        assessment = assess(
            self.policy, rule_decision=rule_decision, rule_reason=rule_reason,
            escalate=call.request.escalate, known_safe=is_known_safe(call.argv),
            justification=call.request.justification,
        )
        if assessment.source == "codex-rules" and not assessment.sandboxed and call.mode != "danger-full-access":
            call.downgrade = self._rule_downgrade(call.argv, call.cwd, call.request)
            if call.downgrade is not None:
                assessment = Assessment("run", "codex-rules", call.downgrade, True, False)
        call.key = approval_key(call.argv, call.cwd, assessment.escalated)
        call.source = assessment.source
        if assessment.source == "codex-rules":  # an allow rule is an approval given ahead of time
            self._count(reused=1)
            self.bus.publish("approval:decision", {
                "requestId": None, "toolRunId": call.tool_run_id, "decision": "approved",
                "approvalSource": "codex-rules", "approvalKey": call.key,
            })
        if assessment.action == "ask":
            ok, call.source, call.message = self._approve(call, call.key, assessment.reason, call.mode)
            call.approved_before_run = ok
            if not ok:
                assessment = Assessment("reject", call.source, call.message or "not approved", True,
                                        assessment.escalated)
        call.assessment = assessment
        call.sandboxed = assessment.sandboxed and call.mode != "danger-full-access"
        call.state = "sandboxed" if call.sandboxed else "unsandboxed"

    def _run_attempts(self, call: _ToolCall) -> None:
        """Attempt until done: after a sandbox denial, maybe once more outside it (its own question); after
        an exit code the tool declares transient, again with exponential backoff."""
        request = call.request
        max_attempts = int(self.config.get("retry.max_attempts"))
        backoff_ms = int(self.config.get("retry.backoff_ms"))
        with ExitStack() as stack:
            log = self._open_log(stack, request.log_path)
            while True:
                number = len(call.attempts) + 1
                try:
                    attempt = self._attempt(call, number, log)
                except SandboxUnavailableError as exc:
                    call.status, call.message = "failed", str(exc)
                    self._complete(call)
                    raise
                call.streams = attempt.outcome_streams
                call.attempts.append(attempt.record)
                call.message = attempt.limit_message or call.message
                call.status = "running" if attempt.running else attempt.status
                if attempt.running or call.status in ("succeeded", "cancelled", "timed_out"):
                    return
                if attempt.denied:
                    if self._leave_sandbox(call, number):
                        continue
                    return
                if attempt.exit_code in request.retry_on_exit_codes and number < max_attempts:
                    delay = backoff_ms * 2 ** (number - 1)
                    self.bus.publish("tool:retry", {"toolRunId": call.tool_run_id, "attempt": number + 1,
                                                    "delayMs": delay,
                                                    "reason": f"exit code {attempt.exit_code} is declared transient",
                                                    "sandboxState": call.state})
                    if call.cancel.wait(delay / 1000):
                        call.status = "cancelled"
                        return
                    continue
                return

    def _leave_sandbox(self, call: _ToolCall, number: int) -> bool:
        """After a sandbox denial: True to rerun outside the sandbox, False to end as `denied`."""
        from .approvals.keys import approval_key

        call.state = call.status = "denied"
        if self.policy not in ESCALATE_ON_DENIAL or call.cancel.cancelled:
            call.message = (f"the sandbox denied the command (approval_policy={self.policy} does not escalate; "
                            "with on-failure you are asked to rerun it outside the sandbox)")
            return False
        # Leaving the sandbox is always its own question: an approval to run the command *in* the sandbox
        # never covers running it outside. Only an approval that was for running outside (an `escalate`
        # request, or a stored/session escalated key) covers the retry.
        if not (call.approved_before_run and call.assessment.escalated):
            reason = "the sandbox denied the command; run it again outside the sandbox?"
            esc_key = approval_key(call.argv, call.cwd, True)
            ok, esc_source, call.message = self._approve(call, esc_key, reason, "danger-full-access")
            if not ok:
                call.escalation_refused = True
                return False
            call.source = esc_source
        self.bus.publish("tool:retry", {"toolRunId": call.tool_run_id, "attempt": number + 1, "delayMs": 0,
                                        "reason": "sandbox denied; retrying outside the sandbox",
                                        "sandboxState": "escalated"})
        call.sandboxed, call.state, call.message = False, "escalated", None
        return True

    def _rule_downgrade(self, argv: list[str], cwd: Path, request: ToolRequest) -> str | None:
        """Why an `allow` rule may not take this command out of the sandbox (tools/allow.py), or None."""
        from .allow import downgrade_reason

        policy = self.config.sandbox_policy(mode="workspace-write", protected=self.protected_paths)
        writable = policy.resolved_writable_roots(cwd, self.base_env)
        reason = downgrade_reason(argv, cwd, request.env, self.base_env, writable)
        return f"the allow rule runs it inside the sandbox: {reason}" if reason else None

    # ------------------------------------------------------------------ approvals

    def approve(self, *, tool_run_id: str, argv: list[str], cwd: Path, reason: str, mode: str,
                cancel: CancelToken | None = None) -> tuple[bool, ApprovalSource, str | None]:
        """Ask for an approval outside `invoke` (a runtime that runs a whole agent, e.g. a codex stage,
        asks once for all of it): the same session cache, store, policy and events. Returns
        (approved, approval source, why not)."""
        from .approvals.keys import approval_key

        call = _ToolCall(ToolRequest(tool="approval", command=argv, cwd=cwd), tool_run_id, time.monotonic(), cwd,
                         argv, mode, cancel or self.cancel)
        return self._approve(call, approval_key(argv, cwd, False), reason, mode)

    def _approve(self, call: _ToolCall, key: str, reason: str, mode: str) -> tuple[bool, ApprovalSource, str | None]:
        """Find an approval for `key`: session cache, then the store, then ask. Returns (ok, source, message)."""
        tool_run_id, argv, cwd = call.tool_run_id, call.argv, call.cwd
        decision: ApprovalDecision
        source: ApprovalSource
        request_id: str | None = None
        if key in self._session_approvals:
            source, decision = "session", "approved_for_session"
        elif self.store.lookup(key) is not None:
            source, decision = "store", "approved_always"
        elif self.policy == "never":
            source, decision = "denied-by-policy", "denied"
        else:
            request_id = "apr_" + os.urandom(6).hex()
            command = shlex.join(argv)
            self.bus.publish("approval:request", {
                "requestId": request_id, "toolRunId": tool_run_id, "command": argv, "cwd": str(cwd),
                "reason": reason, "sandboxMode": mode, "options": list(OPTIONS),
            })
            if not self.asker.available:
                source, decision = "no-channel", "denied"
            else:
                question = ApprovalQuestion(request_id, tool_run_id, command, str(cwd), reason, mode, tuple(argv))
                decision = self.asker.ask(question, float(self.config.get("approval_timeout_seconds")), call.cancel,
                                          report=self.bus.publish_untyped)
                source = _ASKED_SOURCES.get(decision, "prompt")
                self._count(prompted=1)
            if decision in ("approved_for_session", "approved_always"):
                self._session_approvals.add(key)
            if decision == "approved_always":
                self.store.add(key, argv, cwd, "danger-full-access" in mode, "prompt")
        if source in REUSED_SOURCES:
            self._count(reused=1)
        self.bus.publish("approval:decision", {
            "requestId": request_id, "toolRunId": tool_run_id, "decision": decision,
            "approvalSource": source, "approvalKey": key,
        })
        if decision in APPROVED:
            return True, source, None
        if source == "no-channel":
            return False, source, f"approval required ({reason}); {HOW_TO_APPROVE}"
        if source == "denied-by-policy":
            return False, source, "approval_policy=never does not ask for approval"
        if source == "channel-closed":
            return False, source, f"the approval channel closed before an answer for: {shlex.join(argv)}"
        return False, source, f"approval {decision} for: {shlex.join(argv)}"

    # ------------------------------------------------------------------ one attempt

    def _attempt(self, call: _ToolCall, number: int, log: BinaryIO | None) -> _AttemptRecord:
        """Run one attempt through its runtime, tell the bus, and classify how it ended."""
        from ..exec.limit import OutputLimit

        request = call.request
        correlation_id = f"{call.tool_run_id}:{number}"
        # An attempt escalated out of the sandbox cannot use the (sandboxed) session shell.
        escalated_out = not call.sandboxed and call.mode != "danger-full-access"
        in_session = request.session_id is not None and not escalated_out
        self.bus.publish("exec:begin", {
            "correlationId": correlation_id, "sessionId": request.session_id if in_session else None,
            "command": request.display, "argv": request.argv, "cwd": str(call.cwd),
            "pty": request.pty or in_session, "attempt": number,
            "sandboxMode": call.mode if call.sandboxed else "danger-full-access",
        })
        on_chunk = self._chunk_publisher(correlation_id)
        if call.capture is not None:
            on_chunk = call.capture.tee(on_chunk)
        limit = OutputLimit(int(self.config.get("output_limit_bytes")), self.config.get("on_output_limit"))
        attempt = self._attempt_spec(call, on_chunk, log, limit, in_session=in_session)
        begun = time.monotonic()
        runtime = self._pty_runtime() if in_session or request.pty else self._pipes
        outcome = runtime.run(attempt)
        duration_ms = round((time.monotonic() - begun) * 1000, 3)
        denied = call.sandboxed and self._denied_by_sandbox(request, call.cwd, attempt.env, outcome)
        status = _attempt_status(outcome, limit)
        attempt_state: SandboxState = "denied" if denied else call.state
        self.bus.publish("exec:end", {
            "correlationId": correlation_id, "exitCode": outcome.exit_code, "signal": outcome.signal,
            "durationMs": duration_ms, "status": status,
            "bytes": sum(b.total_bytes for b in outcome.streams.values()), "sandboxState": attempt_state,
            "logPath": str(request.log_path) if request.log_path else None,
            "streams": _stream_summaries(outcome.streams, limit),
        })
        record: ToolAttempt = {
            "attempt": number, "sandboxState": attempt_state, "sandboxBackend": outcome.backend,
            "exitCode": outcome.exit_code, "signal": outcome.signal, "durationMs": duration_ms,
            "status": status, "denied": denied,
        }
        return _AttemptRecord(record, outcome.streams, status, denied, outcome.running, outcome.exit_code,
                              limit.message() if limit.exceeded else None)

    def _attempt_spec(self, call: _ToolCall, on_chunk: ChunkSink, log: BinaryIO | None, limit: OutputLimit,
                      *, in_session: bool) -> Attempt:
        from ..exec.env import child_env

        request = call.request
        mode, sandboxed = call.mode, call.sandboxed

        def confine(argv: Sequence[str], pty: bool, /, *, protect: tuple[Path, ...] = ()) -> SandboxedSpawn | None:
            return self._prepare(list(argv), call.cwd, mode, sandboxed, pty=pty, protect=protect)

        network_disabled = sandboxed and self.config.sandbox_policy(mode=mode).network_blocked
        env = child_env(self.command_env, request.env, pty=request.pty,  # Codex's CODEX_SANDBOX_NETWORK_DISABLED=1
                        network_disabled=network_disabled)
        if "CODEX_ORCHESTRATOR_ATTEMPT" not in request.env:  # 1, then 2... on a retry (docs/exec.md)
            env["CODEX_ORCHESTRATOR_ATTEMPT"] = str(len(call.attempts) + 1)
        snapshot = None
        if self.snapshots is not None and not (request.pty or in_session):
            snapshot = self._shell_snapshot(call, request.argv, confine, network_disabled=network_disabled)
        return Attempt(
            argv=request.argv, display=request.display, cwd=call.cwd,
            env=env, confine=confine, on_chunk=on_chunk,
            log=log, limit=limit, cancel=call.cancel, timeout=request.timeout,
            session_id=request.session_id if in_session else None,
            fresh_session=in_session and not request.session_reuse, yield_ms=request.metadata.get("yield_ms"),
            snapshot=snapshot, explicit_env=self._explicit_env(request) if snapshot is not None else frozenset(),
        )

    def _shell_snapshot(self, call: _ToolCall, argv: list[str], confine: Confine, *,
                        network_disabled: bool) -> Snapshot | None:
        """The snapshot for a `/…/bash -lc SCRIPT` command, taken now by the first command that needs it.

        Keyed by everything that shapes what the profile sees and may do: the shell, the working directory,
        the sandbox (mode, writable roots, network, protected paths, backend; or none under
        danger-full-access) and the environment the profile starts from. The snapshot is taken through
        the same `confine` as the command, so it ran in the very sandbox its users run in.
        """
        if len(argv) < 3 or argv[1] != "-lc" or not argv[0].startswith("/") or os.path.basename(argv[0]) != "bash":
            return None
        if not call.sandboxed and call.mode != "danger-full-access":
            # A command that left the sandbox (an escalated rerun, an allow rule's) keeps its own `bash -lc`:
            # a snapshot taken inside the sandbox must never run outside it.
            return None
        from ..exec.env import child_env
        from ..exec.snapshot import take

        assert self.snapshots is not None
        base = child_env(self.command_env, None, pty=False, network_disabled=network_disabled)
        policy = self.config.sandbox_policy(mode=call.mode, protected=self.protected_paths) if call.sandboxed else None
        key = (argv[0], str(call.cwd), repr(policy), self.config.get("sandbox_backend"), frozenset(base.items()))

        def prepare(spawn_argv: list[str]) -> tuple[list[str], Callable[[], None] | None]:
            spawn = confine(spawn_argv, False)
            return (spawn.argv, spawn.preexec) if spawn is not None else (spawn_argv, None)

        return self.snapshots.get(key, lambda: take(argv[0], cwd=call.cwd, env=base, prepare=prepare,
                                                    cancel=call.cancel), call.cancel)

    def _explicit_env(self, request: ToolRequest) -> frozenset[str]:
        """The variables set for this command, which win over the profile's (Codex's explicit overrides): the
        request's env (the run's and stage's variables), the policy's `set` and our own."""
        from ..exec.env import NETWORK_DISABLED

        return frozenset({*request.env, *self.config.env_policy().set, "CODEX_ORCHESTRATOR_ATTEMPT", NETWORK_DISABLED})

    def _denied_by_sandbox(self, request: ToolRequest, cwd: Path, env: Mapping[str, str],
                           outcome: RuntimeOutcome) -> bool:
        """Whether a sandboxed attempt failed because of the sandbox (and so may be escalated)."""
        if outcome.running or outcome.cancelled or outcome.timed_out:
            return False
        from ..sandbox import is_likely_denial

        text = "\n".join(buffer.render() for buffer in outcome.streams.values())
        network_blocked = not bool(self.config.get("sandbox_workspace_write.network_access"))
        denied = is_likely_denial(outcome.exit_code, outcome.signal, text, sandboxed=True,
                                  network_blocked=network_blocked)
        # `./script.sh` (mode 644), `/tmp`: the shell says so with or without a sandbox.
        return denied and not (outcome.exit_code in (126, 127) and not _runnable_outside(request, cwd, env))

    def _prepare(
        self, argv: list[str], cwd: Path, mode: str, sandboxed: bool, *, pty: bool, protect: tuple[Path, ...] = ()
    ) -> SandboxedSpawn | None:
        if not sandboxed:
            return None
        from ..sandbox import prepare

        policy = self.config.sandbox_policy(mode=mode, protected=self.protected_paths + protect)
        # The layout (writable roots, $TMPDIR) comes from our own environment, never the command's:
        # a stage env `TMPDIR=/` must not make `/` writable.
        return prepare(policy, argv, cwd, self.base_env, backend=self.config.get("sandbox_backend"), pty=pty)

    def _pty_runtime(self) -> PtyRuntime:
        """The PTY runtime, made on first use: its session manager is shared by every call."""
        with self._lock:
            if self._pty is None:
                from ..exec.sessions import ExecSessionManager
                from .runtime import PtyRuntime

                if self.sessions is None:
                    self.sessions = ExecSessionManager()
                self._pty = PtyRuntime(self.sessions)
            return self._pty

    def _chunk_publisher(self, correlation_id: str) -> Callable[[str, Chunk], None]:
        """The per-chunk hot path: one dict, one timestamp (shared with the envelope), one publish."""
        publish = self.bus.publish
        next_sequence = self._next_sequence

        def on_chunk(stream: str, chunk: Chunk) -> None:
            now = utc_timestamp()
            payload: ExecChunk = {"correlationId": correlation_id, "stream": cast("StreamName", stream),
                                  "sequence": next_sequence(), "bytes": len(chunk.data), "timestamp": now, "data": ""}
            if chunk.text:
                payload["data"] = chunk.data.decode("utf-8")
            else:
                import base64

                payload["data"] = base64.b64encode(chunk.data).decode("ascii")
                payload["encoding"] = "base64"
            publish("exec:chunk", payload, now)

        return on_chunk

    def _open_log(self, stack: ExitStack, path: Path | None) -> BinaryIO | None:
        if path is None:
            return None
        from .._files import open_file

        fd = open_file(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, within=self.config.repo_root)
        return cast("BinaryIO", stack.enter_context(_StoreLog(os.fdopen(fd, "ab"), path)))

    # ------------------------------------------------------------------ records

    def _complete(self, call: _ToolCall) -> ToolResult:
        """Publish `tool:complete` and build the call's result."""
        request, attempts = call.request, call.attempts
        last = attempts[-1] if attempts else None
        duration_ms = round((time.monotonic() - call.started) * 1000, 3)
        record: ToolComplete = {
            "toolRunId": call.tool_run_id, "tool": request.tool, "status": call.status,
            "exitCode": last["exitCode"] if last else None, "signal": last["signal"] if last else None,
            "retryCount": max(0, len(attempts) - 1), "sandboxState": call.state, "durationMs": duration_ms,
            "approvalSource": call.source, "attempts": attempts,
        }
        if request.stage_id:
            record["stageId"] = request.stage_id
        if call.message:
            record["message"] = call.message
        if call.downgrade:
            record["ruleDowngrade"] = call.downgrade
        self.bus.publish("tool:complete", record)
        return ToolResult(
            captured_stdout=call.capture.value() if call.capture is not None else None,
            tool_run_id=call.tool_run_id, status=call.status, exit_code=record["exitCode"], signal=record["signal"],
            duration_ms=duration_ms, retry_count=record["retryCount"], sandbox_state=call.state,
            approval_source=call.source, attempts=attempts, streams=call.streams, record=record,
            message=call.message,
        )

    def _count(self, *, reused: int = 0, prompted: int = 0) -> None:
        with self._lock:
            self.approvals_reused += reused
            self.approvals_prompted += prompted


def _attempt_status(outcome: RuntimeOutcome, limit: OutputLimit) -> AttemptStatus:
    if outcome.running:
        return "running"
    if outcome.cancelled:
        return "cancelled"
    if outcome.timed_out:
        return "timed_out"
    return "succeeded" if outcome.exit_code == 0 and not limit.kills else "failed"


def _stream_summaries(streams: Mapping[str, HeadTailBuffer], limit: OutputLimit) -> dict[str, StreamSummary]:
    summaries: dict[str, StreamSummary] = {
        name: {"bytes": b.total_bytes, "head": b.head().decode("utf-8", "replace"),
               "tail": b.tail().decode("utf-8", "replace"), "truncated": b.truncated}
        for name, b in streams.items()
    }
    for name, dropped in limit.dropped.items():
        if name in summaries:
            summaries[name]["droppedBytes"] = dropped
    return summaries


class _Capture:
    """One call's copy of stdout (or the pty stream), up to a limit, for --output-schema."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()
        self.overflow = False

    def tee(self, inner: ChunkSink) -> ChunkSink:
        def on_chunk(stream: str, chunk: Chunk) -> None:
            if stream != "stderr" and not self.overflow:
                if len(self.data) + len(chunk.data) > self.limit:
                    self.overflow = True
                    self.data.clear()
                else:
                    self.data.extend(chunk.data)
            inner(stream, chunk)

        return on_chunk

    def value(self) -> bytes | None:
        """What was kept; None when stdout went past the limit."""
        return None if self.overflow else bytes(self.data)


class _AttemptRecord:
    def __init__(self, record: ToolAttempt, streams: dict[str, HeadTailBuffer], status: AttemptStatus, denied: bool,
                 running: bool, exit_code: int | None, limit_message: str | None = None) -> None:
        self.limit_message = limit_message  # output past output_limit_bytes was dropped (or stopped it)
        self.record = record
        self.outcome_streams = streams
        self.status = status
        self.denied = denied
        self.running = running
        self.exit_code = exit_code


def _runnable_outside(request: ToolRequest, cwd: Path, env: Mapping[str, str]) -> bool:
    """Whether the program the command starts is an executable file as seen from here, outside the sandbox.

    Exit 126/127 with "Permission denied" is a sandbox denial only then; a file without the x bit, a
    directory or a missing program fails the same way with or without a sandbox, so blaming the sandbox
    (and offering to leave it) would be wrong.
    """
    import shutil

    from .approvals.keys import canonical_argv

    argv = canonical_argv(request.command)
    if not argv or (argv[0] in ("bash", "sh") and len(argv) == 3 and argv[1] in ("-c", "-lc")):
        return True  # an opaque shell script: we cannot tell which program failed
    program = argv[0]
    if "/" in program:
        path = program if os.path.isabs(program) else str(cwd / program)
    else:
        path = shutil.which(program, path=env.get("PATH", os.defpath)) or ""
    return bool(path) and os.path.isfile(path) and os.access(path, os.X_OK)


class _StoreLog:
    """A command log: a full disk while writing it is a StorageError naming it (exit 74), not a crash."""

    def __init__(self, handle: BinaryIO, path: Path) -> None:
        self._handle = handle
        self._path = path

    def write(self, data: bytes) -> int:
        try:
            return self._handle.write(data)
        except OSError as exc:
            raise self._error(exc) from None

    def flush(self) -> None:
        try:
            self._handle.flush()
        except OSError as exc:
            raise self._error(exc) from None

    def _error(self, exc: OSError) -> Exception:
        from .._files import storage_error

        return storage_error(self._path, exc)

    def __enter__(self) -> _StoreLog:
        return self

    def __exit__(self, *exc: object) -> None:
        import contextlib

        with contextlib.suppress(OSError):
            self._handle.close()


class _ToolCall:
    """The state of one `invoke`, kept off the orchestrator so that calls never share it."""

    def __init__(self, request: ToolRequest, tool_run_id: str, started: float, cwd: Path, argv: list[str],
                 mode: str, cancel: CancelToken) -> None:
        self.request = request
        self.cancel = cancel
        self.capture: _Capture | None = None
        self.tool_run_id = tool_run_id
        self.started = started
        self.cwd = cwd
        self.argv = argv
        self.mode = mode
        self.assessment = Assessment("run", "not-required", "", True, False)
        self.key = ""
        self.source: ApprovalSource = "not-required"
        self.downgrade: str | None = None
        self.approved_before_run = False
        self.sandboxed = True
        self.state: SandboxState = "sandboxed"
        self.status: ToolStatus = "failed"
        self.message: str | None = None
        self.escalation_refused = False
        self.attempts: list[ToolAttempt] = []
        self.streams: dict[str, HeadTailBuffer] = {}

