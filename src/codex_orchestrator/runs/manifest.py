"""The run manifest: typed records of one run, and nothing else.

`schemas/manifest.schema.json` is generated from these classes
(`python -m codex_orchestrator.schemas`) and a test fails if the two drift.
Field names are snake_case like the reference orchestrator's manifest, except
the tool-run records, which are the `tool:complete` wire records as streamed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # pragma: no cover
    # Types only; schemas.py resolves them for the manifest schema (get_type_hints with the protocol).
    from ..events.protocol import RunStatus, StageStatus, ToolComplete

from .._record import asdict, field, fields, record

# 2: the run is locked by its directory, not by a `.lock` file in it (runs/lock.py); an `exec` run has no
# resume token (it cannot be resumed).
MANIFEST_VERSION = 2
# How a run is linked to its parent: it is the child run of a subpipeline stage, or it was started
# (or resumed) with --parent-run. Only a subpipeline's child run is resumed through its parent.
ParentLink = Literal["subpipeline", "parent-run"]


@record
class PipelineRef:
    id: str
    title: str
    source: str  # "builtin" | the config file it came from | "exec"


@record
class CommandRecord:
    """One stage of the pipeline."""

    index: int
    id: str
    title: str
    kind: Literal["command", "subpipeline", "codex"]
    command: str | None
    status: StageStatus
    started_at: str | None = None
    completed_at: str | None = None
    exit_code: int | None = None
    duration_ms: float | None = None
    log_path: str | None = None
    summary: str | None = None
    allow_failure: bool = False
    child_run_id: str | None = None
    tool_run_id: str | None = None
    codex_thread_id: str | None = None  # a codex stage: the Codex thread it runs (and resume continues)


@record
class FileChangeRecord:
    """A file a codex stage's agent changed (Codex's `file_change` item)."""

    path: str  # relative to the repository when inside it
    kind: Literal["add", "delete", "update"]
    stage_id: str
    thread_id: str | None
    status: str  # completed | failed


@record
class ChildRunRecord:
    run_id: str
    pipeline: str
    stage_id: str
    status: RunStatus
    manifest: str


@record
class ResumeEvent:
    timestamp: str
    from_stage: str | None
    reason: str
    previous_status: RunStatus
    pid: int


@record
class InstructionSourceRecord:
    path: str
    scope: str
    bytes: int
    sha256: str
    truncated: bool


@record
class InstructionsRecord:
    hash: str | None
    sources: list[InstructionSourceRecord] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    path: str | None = None  # the composed text, as given to stages


@record
class RunMetrics:
    approvals_reused: int = 0
    approvals_prompted: int = 0
    tool_runs: int = 0
    retries: int = 0
    sandbox_denials: int = 0
    input_tokens: int = 0  # summed over the codex stages' turns
    cached_input_tokens: int = 0
    output_tokens: int = 0
    reasoning_output_tokens: int = 0
    approvals_needed: int = 0  # every approval decision (reused, asked, or refused without asking)
    approval_denials: int = 0
    output_format: str | None = None  # jsonl | json | text: how the run's output was delivered


@record
class NotificationRecord:
    """One delivery of a notification (docs/notifications.md)."""

    target: str  # "notify:<program>" or "webhook:<url without credentials or query>"
    event: Literal["run-complete", "run-failed", "approval-requested"]
    status: Literal["delivered", "failed", "abandoned"]
    attempts: int
    error: str | None = None


@record
class Manifest:
    task_id: str
    run_id: str
    pipeline: PipelineRef
    approval_policy: str
    sandbox_mode: str
    started_at: str
    updated_at: str
    version: int = MANIFEST_VERSION
    parent_run_id: str | None = None
    parent_link: ParentLink | None = None  # None for a run without a parent
    parent_task_id: str | None = None  # the parent's task: a --parent-run parent may be another task's run
    target_stage_id: str | None = None  # --target: the run ends after this stage (resume keeps it)
    status: RunStatus = "queued"
    status_detail: str | None = None
    completed_at: str | None = None
    heartbeat_at: str | None = None
    pid: int | None = None
    pid_start_time: int | None = None  # tells a live pid from a reused one
    heartbeat_interval_seconds: float = 5.0
    host: str | None = None
    cwd: str = ""
    config_sources: dict[str, str] = field(default_factory=dict)
    commands: list[CommandRecord] = field(default_factory=list)
    tool_runs: list[ToolComplete] = field(default_factory=list)
    child_runs: list[ChildRunRecord] = field(default_factory=list)
    resume_events: list[ResumeEvent] = field(default_factory=list)
    files_changed: list[FileChangeRecord] = field(default_factory=list)
    instructions: InstructionsRecord | None = None
    metrics: RunMetrics = field(default_factory=RunMetrics)
    notifications: list[NotificationRecord] = field(default_factory=list)
    events_path: str = ""
    run_summary_path: str | None = None
    exit_code: int | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = asdict(self)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        """Rebuild a manifest read from disk (for status and resume)."""
        values = dict(data)
        values["pipeline"] = PipelineRef(**values["pipeline"])
        values["commands"] = [CommandRecord(**record) for record in values.get("commands", [])]
        values["child_runs"] = [ChildRunRecord(**record) for record in values.get("child_runs", [])]
        values["resume_events"] = [ResumeEvent(**record) for record in values.get("resume_events", [])]
        values["files_changed"] = [FileChangeRecord(**record) for record in values.get("files_changed", [])]
        values["metrics"] = RunMetrics(**values.get("metrics", {}))
        values["notifications"] = [NotificationRecord(**record) for record in values.get("notifications", [])]
        instructions = values.get("instructions")
        if instructions is not None:
            sources = [InstructionSourceRecord(**source) for source in instructions.get("sources", [])]
            values["instructions"] = InstructionsRecord(**{**instructions, "sources": sources})
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known})
