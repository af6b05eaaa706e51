"""Run a pipeline's stages in order, each one through the ToolOrchestrator.

The runner owns ordering, `allowFailure`, subpipelines (child runs linked both
ways), cancellation and resume; it does not spawn anything itself. Every stage
becomes a ToolRequest, so approvals, the sandbox, retries and records are the
same as for `exec`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._record import field, record
from ..errors import ConfigError
from ..runs.active import ActiveRun
from ..runs.lineage import ParentRef
from ..runs.manifest import ChildRunRecord, CommandRecord, PipelineRef
from ..tools.orchestrator import ToolOrchestrator
from ..tools.outcome import cancel_detail, cancel_exit_code, finished_status
from ..tools.outcome import exit_code as exit_code_of
from ..tools.request import ToolRequest, ToolResult
from .model import CodexStage, CommandStage, Pipeline, SubpipelineStage
from .paths import FixedPaths

if TYPE_CHECKING:  # pragma: no cover
    from ..config import Config
    from ..events.bus import Subscriber
    from ..events.protocol import RunStatus, StageEnd, StageStart
    from ..exec.cancel import CancelToken
    from ..exec.sessions import ExecSessionManager
    from ..exec.snapshot import ShellSnapshots
    from ..observe import Observers
    from ..runs.lock import RunLock
    from ..runs.store import RunPaths
    from ..tools.asker import Asker
    from .registry import Registry


@record
class RunOutcome:
    run: ActiveRun
    status: RunStatus
    exit_code: int


@record
class PipelineRunner:
    config: Config
    registry: Registry
    cancel: CancelToken
    asker: Asker
    task_id: str
    approval_policy: str
    sandbox_mode: str
    stream: Subscriber | None = None  # stdout (jsonl) or the human view; sees child runs' events too
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    sessions: ExecSessionManager | None = None
    output_format: str | None = None  # jsonl | json | text, recorded in the run's metrics (JSONL adoption)
    observers: Observers | None = None  # telemetry and notifications: subscribed to every run, child runs too
    parent_run: ParentRef | None = None  # --parent-run: the top-level run's parent
    target_stage: str | None = None  # --target: the top-level run ends after this stage
    _session_approvals: set[str] = field(default_factory=set)
    _paths: FixedPaths | None = None  # every stage's cwd and writable roots, fixed when the run starts
    _failure_code: int | None = None  # the exit code of the stage that failed the run
    _reused: int = 0
    _prompted: int = 0
    _codex_bin: str | None = None  # found before the run starts when a stage needs it (codex/locate.py)
    _snapshots: ShellSnapshots | None = None  # the run's shell snapshots, child runs included

    # ------------------------------------------------------------------ entry points

    def start(self, pipeline: Pipeline, *, parent: ActiveRun | None = None, stage_id: str | None = None) -> RunOutcome:
        self.registry.check_references(pipeline.id)
        link, target = self.parent_run, None
        if parent is None:
            if self.target_stage is not None:
                pipeline, target = pipeline.up_to(self.target_stage), self.target_stage
            self._paths = FixedPaths.for_pipeline(self.config, self.registry, pipeline, self.env)
            self._preflight_codex(pipeline)
        else:
            link = ParentRef(parent.manifest.run_id, parent.manifest.task_id, "subpipeline")
        commands = [
            CommandRecord(index=i, id=s.id, title=s.title, kind=s.kind,  # type: ignore[arg-type]
                          command=s.command if isinstance(s, CommandStage) else None,
                          status="pending", allow_failure=getattr(s, "allow_failure", False))
            for i, s in enumerate(pipeline.stages, start=1)
        ]
        run = ActiveRun.create(
            config=self.config, task_id=self.task_id, pipeline=PipelineRef(pipeline.id, pipeline.title,
                                                                            pipeline.source),
            cwd=self.config.repo_root, commands=commands, approval_policy=self.approval_policy,
            sandbox_mode=self.sandbox_mode, parent=link, target_stage_id=target,
            subscribers=self._subscribers(child=parent is not None), output_format=self.output_format,
        )
        if parent is not None and stage_id is not None:
            parent.recorder.add_child(ChildRunRecord(run.manifest.run_id, pipeline.id, stage_id, "in_progress",
                                                     str(run.paths.manifest)))
        return self._execute(run, pipeline, 0)

    def resume(self, paths: RunPaths, manifest: dict[str, Any], lock: RunLock) -> RunOutcome:
        pipeline = self.registry.get(manifest["pipeline"]["id"])
        target = manifest.get("target_stage_id")
        if target and target in [s.id for s in pipeline.stages]:
            pipeline = pipeline.up_to(target)  # a run started with --target resumes as far as its target
        recorded = [c["id"] for c in manifest["commands"]]
        if recorded != [s.id for s in pipeline.stages]:
            raise ConfigError(
                f"pipeline {pipeline.id!r} changed since run {paths.run_id} started "
                f"(stages then: {', '.join(recorded)}); start a new run instead"
            )
        self._paths = FixedPaths.for_pipeline(self.config, self.registry, pipeline, self.env)
        self._preflight_codex(pipeline)
        # Every stage may have succeeded already: the run was killed between its last stage and its
        # summary. Resuming it then only records the summary.
        first = next((i for i, c in enumerate(manifest["commands"]) if c["status"] != "succeeded"),
                     len(pipeline.stages))
        from_stage = pipeline.stages[first].id if first < len(pipeline.stages) else None
        run = ActiveRun.reopen(paths, self.config, from_stage=from_stage, reason="resume", lock=lock,
                               subscribers=self._subscribers(child=False), parent=self.parent_run)
        return self._execute(run, pipeline, first)

    # ------------------------------------------------------------------ the loop

    def _shell_snapshots(self, pipeline: Pipeline) -> ShellSnapshots | None:
        """Shell snapshots (exec/snapshot.py) for a run with several shell-line stages in one folder: its
        profile then runs once, not once per stage. A caller that keeps sessions brings its own; a run of
        one such stage would pay for a snapshot it uses once."""
        if self.sessions is not None:
            return None
        if self._snapshots is None:
            folders: dict[str | None, int] = {}
            for stage in pipeline.stages:
                if isinstance(stage, CommandStage) and stage.session is None:
                    folders[stage.cwd] = folders.get(stage.cwd, 0) + 1
            if max(folders.values(), default=0) < 2:
                return None
            from ..exec.snapshot import ShellSnapshots

            self._snapshots = ShellSnapshots()
        return self._snapshots

    def _execute(self, run: ActiveRun, pipeline: Pipeline, first: int) -> RunOutcome:
        orchestrator = ToolOrchestrator(
            self.config, run.bus, cancel=self.cancel, asker=self.asker, sessions=self.sessions, env=self.env,
            approval_policy=self.approval_policy, sequence=run.next_sequence,
            session_approvals=self._session_approvals, protected_paths=run.paths.protected,
            snapshots=self._shell_snapshots(pipeline),
        )
        run.start()
        status: RunStatus = "succeeded"
        detail: str | None = None
        stage_ends: list[StageEnd] = []
        try:
            for index, stage in enumerate(pipeline.stages, start=1):
                if index <= first:
                    continue
                if self.cancel.cancelled:
                    break
                end = self._run_stage(run, orchestrator, stage, index)
                stage_ends.append(end)
                if end["status"] == "cancelled" or self.cancel.cancelled:
                    break
                if end["status"] == "failed" and not getattr(stage, "allow_failure", False):
                    status, detail = "failed", f"stage {stage.id!r} failed: {end['summary']}"
                    break
        except BaseException as exc:  # record why, then let the CLI report it
            status, (detail, _) = "failed", run.record_error(exc)
            raise
        finally:
            if self.cancel.cancelled:
                status, detail = "cancelled", cancel_detail(self.cancel.signum, self.cancel.reason)
            self._reused += orchestrator.approvals_reused
            self._prompted += orchestrator.approvals_prompted
            exit_code = self._exit_code(status)
            run.finish(run.summary(
                status, detail, exit_code=exit_code, stages=stage_ends,
                reused=orchestrator.approvals_reused, prompted=orchestrator.approvals_prompted,
            ))
        return RunOutcome(run, status, exit_code)

    def _exit_code(self, status: RunStatus) -> int:
        """0, 128+N when cancelled, else what stopped the run: the failing stage's own exit code, 124 for a
        time-out, 77 when it was not allowed to run (tools/outcome.py), or 1 when no command's code
        applies (a stage whose paths moved)."""
        if status == "succeeded":
            return 0
        if status == "cancelled":
            return cancel_exit_code(self.cancel.signum)
        return self._failure_code or 1

    def _run_stage(self, run: ActiveRun, orchestrator: ToolOrchestrator, stage: Any, index: int) -> StageEnd:
        log_path = run.paths.command_log(index, stage.id)
        start: StageStart = {"stageId": stage.id, "index": index, "title": stage.title, "kind": stage.kind}
        if isinstance(stage, CommandStage):
            start["command"], start["logPath"] = stage.command, str(log_path)
        elif isinstance(stage, CodexStage):
            start["logPath"] = str(log_path)
            thread_id = run.manifest.commands[index - 1].codex_thread_id
            if thread_id:
                start["threadId"] = thread_id
        run.bus.publish("stage:start", start)
        began = time.monotonic()
        if isinstance(stage, SubpipelineStage):
            end = self._run_subpipeline(run, stage, index)
        elif isinstance(stage, CodexStage):
            end = self._run_codex(run, orchestrator, stage, index, log_path)
        else:
            end = self._run_command(run, orchestrator, stage, index, log_path)
        end["durationMs"] = round((time.monotonic() - began) * 1000, 3)
        run.bus.publish("stage:end", end)
        return end

    def _run_command(
        self, run: ActiveRun, orchestrator: ToolOrchestrator, stage: CommandStage, index: int, log_path: Path
    ) -> StageEnd:
        assert self._paths is not None
        cwd, moved = self._paths.check(run.manifest.pipeline.id, stage)
        if moved is not None:
            return {"stageId": stage.id, "index": index, "status": "failed", "exitCode": None, "durationMs": 0.0,
                    "summary": moved}
        stage_env: Any = {**run.stage_env(stage.id), **stage.env}
        request = ToolRequest(
            tool="stage", command=stage.command, cwd=cwd,
            env=self.observers.child_env(stage_env) if self.observers else stage_env,
            escalate=stage.escalate, justification=stage.justification, timeout=stage.timeout,
            retry_on_exit_codes=stage.retry_on_exit_codes, log_path=log_path, stage_id=stage.id,
            pty=stage.session is not None, session_id=stage.session.id if stage.session else None,
            session_reuse=stage.session.reuse if stage.session else True,
        )
        result = orchestrator.invoke(request)
        if result.status != "succeeded" and not stage.allow_failure:
            self._failure_code = exit_code_of(result, self.cancel.signum)
        # As in the reference: a stage that succeeds is summed up by its summaryHint when it has one.
        summary = stage.summary_hint if result.ok and stage.summary_hint else _stage_summary(result)
        return {
            "stageId": stage.id, "index": index, "status": finished_status(result.status),
            "exitCode": result.exit_code, "durationMs": result.duration_ms, "summary": summary,
        }

    def _preflight_codex(self, pipeline: Pipeline) -> None:
        """Before anything runs: the codex program exists, and every codex stage's profile and outputSchema are
        acceptable (exit 2 otherwise)."""
        from ..codex.preflight import preflight

        found = preflight(self.config, self.registry, pipeline, self.env)
        if found is not None:
            self._codex_bin = found

    def _run_codex(self, run: ActiveRun, orchestrator: ToolOrchestrator, stage: CodexStage, index: int,
                   log_path: Path) -> StageEnd:
        from ..codex.invocation import bounds_from
        from ..codex.stage import CodexStageRun

        assert self._paths is not None and self._codex_bin is not None
        cwd, moved = self._paths.check(run.manifest.pipeline.id, stage)
        if moved is not None:
            return {"stageId": stage.id, "index": index, "status": "failed", "exitCode": None, "durationMs": 0.0,
                    "summary": moved}
        bounds = bounds_from(self.config, writable_roots=self._paths.roots(run.manifest.pipeline.id, stage),
                             cwd=cwd, env=self.env, protected=run.paths.protected, profile=stage.profile)
        end, code = CodexStageRun(
            config=self.config, run=run, orchestrator=orchestrator, stage=stage, index=index, cwd=cwd,
            bounds=bounds, binary=self._codex_bin, env={**self.env, **run.stage_env(stage.id)}, cancel=self.cancel,
            log_path=log_path,
        ).execute()
        if end["status"] == "failed" and not stage.allow_failure:
            self._failure_code = code
        return end

    def _run_subpipeline(self, run: ActiveRun, stage: SubpipelineStage, index: int) -> StageEnd:
        if stage.pipeline not in self.registry.pipelines and stage.optional:
            return {"stageId": stage.id, "index": index, "status": "skipped", "exitCode": None, "durationMs": 0.0,
                    "summary": f"optional subpipeline {stage.pipeline!r} is not defined"}
        child = self.start(self.registry.get(stage.pipeline), parent=run, stage_id=stage.id)
        for child_record in run.manifest.child_runs:
            if child_record.run_id == child.run.manifest.run_id:
                child_record.status = child.status
        if child.status == "failed":
            self._failure_code = child.exit_code
        return {"stageId": stage.id, "index": index, "status": finished_status(child.status),
                "exitCode": child.exit_code, "durationMs": 0.0,
                "summary": f"child run {child.run.manifest.run_id} {child.status}",
                "childRunId": child.run.manifest.run_id}

    def _subscribers(self, *, child: bool) -> Iterable[Subscriber]:
        observers = self.observers.for_run() if self.observers else []
        if self.stream is None:
            return observers
        # Observers before the stream: what they publish at the run's end (telemetry:degraded) reaches
        # the stream before run:summary.
        return [*observers, self.stream if not child else _ChildFilter(self.stream)]


class _ChildFilter:
    """Shows a child run's events in the parent's stream, but not its run:start / run:summary,
    so the stream still starts and ends with the top-level run's."""

    critical = False

    def __init__(self, inner: Subscriber) -> None:
        self.inner = inner

    def handle(self, event: Any, line: str) -> None:
        if event["type"] not in ("run:start", "run:summary"):
            self.inner.handle(event, line)

    def close(self) -> None:
        pass


def _stage_summary(result: ToolResult) -> str:
    """One line for the stage: its status, and the last line it printed (stderr first when it failed)."""
    if result.message:
        return result.message
    order = ("stderr", "pty", "stdout") if result.status != "succeeded" else ("pty", "stdout")
    last_line = ""
    for name in order:
        lines = [line for line in result.tail_text(name, 4096).splitlines() if line.strip()]
        if lines:
            last_line = lines[-1].strip()[:200]
            break
    head = f"{result.status} (exit {result.exit_code})" if result.exit_code is not None else result.status
    return f"{head}: {last_line}" if last_line else head
