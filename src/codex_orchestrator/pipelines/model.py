"""Pipelines and stages: the records every other part of the tool reads.

A repo config in the reference orchestrator's shape is parsed into these by
`parse.py` (with `stageSets` expanded in place by `stage_sets.py`; our `{kind: "codex"}`
stage by `codex_spec.py`, docs/codex.md); the built-in
`diagnostics` pipeline builds them directly. A stage that came from a stage set
remembers which (`origin`), so `plan` can say where each stage was written.
"""

from __future__ import annotations

from typing import Any

from .._record import field, record
from ..errors import UsageError


@record(frozen=True)
class SessionSpec:
    id: str
    reuse: bool = True
    persist: bool = False


@record(frozen=True)
class CommandStage:
    id: str
    title: str
    command: str
    cwd: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    allow_failure: bool = False
    session: SessionSpec | None = None
    timeout: float | None = None
    escalate: bool = False
    justification: str | None = None
    retry_on_exit_codes: tuple[int, ...] = ()
    summary_hint: str | None = None  # the stage's summary line when it succeeds (the reference's summaryHint)
    origin: tuple[str, ...] = ()  # the stage sets it was expanded from, outermost first; () when written inline
    kind: str = "command"


@record(frozen=True)
class SubpipelineStage:
    id: str
    title: str
    pipeline: str
    optional: bool = False
    origin: tuple[str, ...] = ()
    kind: str = "subpipeline"


@record(frozen=True)
class CodexStage:
    """Runs the Codex agent (`codex exec --json`) on `prompt` under our policy (docs/codex.md)."""

    id: str
    title: str
    prompt: str
    model: str | None = None
    profile: str | None = None
    output_schema: str | None = None  # repo-relative path of a JSON Schema for the final message
    timeout: float | None = None
    cwd: str | None = None
    allow_failure: bool = False
    origin: tuple[str, ...] = ()
    kind: str = "codex"


Stage = CommandStage | SubpipelineStage | CodexStage


@record(frozen=True)
class Pipeline:
    id: str
    title: str
    stages: tuple[Stage, ...]
    source: str  # "builtin" or the config file
    # Descriptive only: shown by `pipelines` and `plan`, never read as a setting (docs/security.md).
    description: str | None = None
    tags: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    guardrails_required: bool | None = None

    def up_to(self, stage_id: str) -> Pipeline:
        """This pipeline cut after `stage_id` (`--target`): that stage and every stage before it."""
        ids = [stage.id for stage in self.stages]
        if stage_id not in ids:
            from ..suggest import did_you_mean

            raise UsageError(f"--target {stage_id!r}: pipeline {self.id!r} has no such stage"
                             f"{did_you_mean(stage_id, ids)} (stages: {', '.join(ids)})")
        kept = self.stages[: ids.index(stage_id) + 1]
        return Pipeline(self.id, self.title, kept, self.source, self.description, self.tags, self.metadata,
                        self.guardrails_required)
