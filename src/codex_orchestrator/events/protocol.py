"""Wire types of the JSONL event stream: data only, no logic.

Every line of the stream (stdout with `--format jsonl`, and `events.jsonl` in the
run directory) is an envelope `{"type", "timestamp", "payload"}`. The payload of
each type is a TypedDict below, so that building one is building a plain dict
(no conversion on the hot path) while mypy still checks every field. The JSON
Schemas in `schemas/events/` are generated from these classes
(`python -m codex_orchestrator.schemas`) and docs/events.md describes them.
"""

# No `from __future__ import annotations` here: TypedDict needs evaluated
# annotations to tell NotRequired fields from required ones.
from typing import Any, Literal, NotRequired, TypedDict

from .version import SCHEMA_VERSION  # noqa: F401  (part of the wire types' surface)

RunStatus = Literal["queued", "in_progress", "succeeded", "failed", "cancelled", "interrupted"]
StageStatus = Literal["pending", "running", "succeeded", "failed", "skipped", "cancelled"]
SandboxState = Literal["sandboxed", "denied", "escalated", "unsandboxed"]
StreamName = Literal["stdout", "stderr", "pty"]
# How one attempt ended; `running`: a PTY session call that returned (yielded) while its command still runs.
AttemptStatus = Literal["succeeded", "failed", "cancelled", "timed_out", "running"]
# How a tool call ended: an attempt's status, or `denied` (by the sandbox) / `rejected` (not approved).
ToolStatus = Literal["succeeded", "failed", "denied", "cancelled", "timed_out", "rejected", "running"]
ApprovalDecision = Literal["approved", "approved_for_session", "approved_always", "denied", "timed_out", "abort",
                           "channel-closed"]
# Who decided that a tool call may run (or why it may not): no one needed to (`not-required`, `known-safe`), a
# Codex rule, an approval reused from the session or the store, someone asked now (`prompt`), or no one could
# be asked; `codex`: Codex itself decided, inside a codex stage (docs/approvals.md).
ApprovalSource = Literal["not-required", "known-safe", "codex-rules", "forbidden-by-rule", "denied-by-policy",
                         "prompt", "session", "store", "no-channel", "timed-out", "channel-closed", "codex"]


class Envelope(TypedDict):
    """One line of the stream."""

    type: str
    timestamp: str  # ISO-8601 UTC with milliseconds, e.g. 2026-11-23T19:59:45.401Z
    payload: dict[str, Any]


class RunStart(TypedDict):
    schemaVersion: int
    runId: str
    taskId: str
    pipelineId: str
    manifest: str  # path of manifest.json
    artifactRoot: str  # the run directory
    parentRunId: str | None
    approvalPolicy: str
    sandboxMode: str
    instructionsHash: str | None
    parentLink: NotRequired[Literal["subpipeline", "parent-run"]]  # with parentRunId: how the run is linked
    parentTaskId: NotRequired[str]  # with parentRunId: the parent's task
    targetStageId: NotRequired[str]  # --target: the run ends after this stage
    codexThreads: NotRequired[dict[str, str]]  # stage id -> Codex thread id, for a resumed run's codex stages


class StageStart(TypedDict):
    stageId: str
    index: int
    title: str
    kind: Literal["command", "subpipeline", "codex"]
    command: NotRequired[str]
    logPath: NotRequired[str]
    threadId: NotRequired[str]  # a codex stage that continues its Codex thread (resume)


class StageEnd(TypedDict):
    stageId: str
    index: int
    status: StageStatus
    exitCode: int | None
    durationMs: float
    summary: str
    childRunId: NotRequired[str]
    threadId: NotRequired[str]  # a codex stage: its Codex thread
    structured: NotRequired[Any]  # a codex stage with outputSchema: its final message, parsed
    validationErrors: NotRequired[list[str]]


class ToolStart(TypedDict):
    toolRunId: str
    tool: str
    command: list[str]
    cwd: str
    sandboxMode: str
    approvalSource: ApprovalSource
    approvalKey: str  # sha256 of canonical argv + cwd + escalation; never the command's env
    stageId: NotRequired[str]
    source: NotRequired[Literal["codex"]]  # run by Codex inside a codex stage, not by us
    threadId: NotRequired[str]


class ApprovalRequest(TypedDict):
    requestId: str
    toolRunId: str
    command: list[str]
    cwd: str
    reason: str
    sandboxMode: str
    options: list[ApprovalDecision]


class ApprovalDecisionEvent(TypedDict):
    requestId: str | None
    toolRunId: str
    decision: ApprovalDecision
    approvalSource: ApprovalSource
    approvalKey: str


class ApprovalError(TypedDict):
    """A line on the stdin approval channel that is not a valid `approval:response`; the run keeps waiting."""

    line: str  # the line, cut to 200 characters
    error: str


class ApprovalWarning(TypedDict):
    """A valid `approval:response` that answers no question being asked; it is ignored."""

    requestId: str
    message: str


class ToolRetry(TypedDict):
    toolRunId: str
    attempt: int  # the attempt about to start (2 = first retry)
    delayMs: int
    reason: str
    sandboxState: SandboxState


class ToolAttempt(TypedDict):
    attempt: int
    sandboxState: SandboxState
    sandboxBackend: str
    exitCode: int | None
    signal: int | None
    durationMs: float
    status: AttemptStatus
    denied: bool


class ToolComplete(TypedDict):
    toolRunId: str
    tool: str
    status: ToolStatus
    exitCode: int | None
    signal: int | None
    retryCount: int
    sandboxState: SandboxState
    durationMs: float
    approvalSource: ApprovalSource
    attempts: list[ToolAttempt]
    stageId: NotRequired[str]
    message: NotRequired[str]
    ruleDowngrade: NotRequired[str]  # why a Codex `allow` rule did not take the command out of the sandbox
    source: NotRequired[Literal["codex"]]  # a command or MCP call Codex made inside a codex stage
    threadId: NotRequired[str]  # the Codex thread it belongs to
    codexItemId: NotRequired[str]
    command: NotRequired[str]  # as Codex reports it (`/bin/bash -lc '...'`, or `server/tool` for MCP)
    outputTail: NotRequired[str]  # the last 2 KiB of its output


class ExecBegin(TypedDict):
    correlationId: str
    sessionId: str | None
    command: str
    argv: list[str]
    cwd: str
    pty: bool
    sandboxMode: str
    attempt: int


class ExecChunk(TypedDict):
    correlationId: str
    stream: StreamName
    sequence: int  # strictly increasing within the run
    bytes: int
    timestamp: str
    data: str
    encoding: NotRequired[Literal["base64"]]  # present only when the bytes are not valid UTF-8


class StreamSummary(TypedDict):
    bytes: int
    head: str
    tail: str
    truncated: bool
    droppedBytes: NotRequired[int]  # bytes past output_limit_bytes, not in the log nor in exec:chunk events


class ExecEnd(TypedDict):
    correlationId: str
    exitCode: int | None
    signal: int | None
    durationMs: float
    status: AttemptStatus
    bytes: int
    sandboxState: SandboxState
    logPath: str | None
    streams: dict[str, StreamSummary]


class SummaryRun(TypedDict):
    id: str
    taskId: str
    pipelineId: str
    manifest: str
    artifactRoot: str


class SummaryResult(TypedDict):
    exitCode: int | None
    signal: int | None
    durationMs: float
    attempts: int
    sandboxState: SandboxState | None


class SummaryOutputs(TypedDict):
    stdoutTail: str
    stderrTail: str
    truncated: bool
    structured: Any
    validationErrors: NotRequired[list[str]]


class TokenUsage(TypedDict):
    """Model tokens of the run's codex stages, summed over every turn (Codex's `turn.completed.usage`)."""

    inputTokens: int
    cachedInputTokens: int
    outputTokens: int
    reasoningOutputTokens: int


class SummaryMetrics(TypedDict):
    """The run's figures (docs/telemetry.md): also in `.runs/<task>/metrics.json` and `codex-orchestrator metrics`."""

    latencyMs: float
    approvalsReused: int  # from the session cache, the approval store or a Codex allow rule
    approvalsPrompted: int
    toolRuns: int
    tokens: NotRequired[TokenUsage]  # present when a codex stage reported usage
    approvalsNeeded: int  # every approval decision: reused, asked, or refused without asking
    approvalReusePct: float | None  # approvalsReused / approvalsNeeded * 100; null when none was needed
    toolLatencyP50Ms: float | None  # over this run's tool runs; null without any
    toolLatencyP95Ms: float | None
    retries: int
    approvalDenials: int  # approvals refused: denied, timed out, no channel, policy never
    sandboxDenials: int  # attempts the sandbox denied
    outputFormat: Literal["jsonl", "json", "text", "codex", "summary"] | None  # how the run's output was delivered


class RunSummary(TypedDict):
    status: RunStatus
    statusDetail: str | None
    run: SummaryRun
    result: SummaryResult
    toolRun: ToolComplete | None
    stages: list[StageEnd]
    outputs: SummaryOutputs
    metrics: SummaryMetrics


class CodexEvent(TypedDict):
    """One line of `codex exec --json` from a codex stage, unchanged in `event` (docs/codex.md)."""

    stageId: str
    index: int
    threadId: str | None  # None until Codex's `thread.started`
    event: dict[str, Any]


class RunError(TypedDict):
    message: str
    code: int  # the exit code the orchestrator ends with (74: a run file could not be written)
    path: NotRequired[str]  # the file that could not be written


class TelemetryDegraded(TypedDict):
    """OTLP export stopped for the rest of this process after repeated failures; the run goes on unchanged."""

    signal: Literal["traces", "metrics"]
    endpoint: str  # scheme://host:port/path, without credentials or query
    failures: int  # consecutive failed exports
    reason: str  # the last failure: refused, timed out, HTTP 500 ...


# The registry the schema generator and docs walk: event type -> payload class.
EVENT_TYPES: dict[str, type] = {
    "run:start": RunStart,
    "stage:start": StageStart,
    "stage:end": StageEnd,
    "tool:start": ToolStart,
    "approval:request": ApprovalRequest,
    "approval:decision": ApprovalDecisionEvent,
    "approval:error": ApprovalError,
    "approval:warning": ApprovalWarning,
    "tool:retry": ToolRetry,
    "tool:complete": ToolComplete,
    "exec:begin": ExecBegin,
    "exec:chunk": ExecChunk,
    "exec:end": ExecEnd,
    "codex:event": CodexEvent,
    "run:error": RunError,
    "telemetry:degraded": TelemetryDegraded,
    "run:summary": RunSummary,
}
