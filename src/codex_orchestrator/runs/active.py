"""A run in progress: its directory, manifest, bus subscribers and heartbeat.

`ActiveRun.create` makes a new run; `ActiveRun.reopen` continues one (resume).
Both subscribe the run's own writers (manifest, events.jsonl) to the bus, and
`finish` publishes `run:summary`, appends the metrics record and closes them.

Observers that need the run's end (telemetry, notifications) are subscribers that also implement
`RunHook`: `before_summary` runs just before `run:summary` is published (the last moment an event such
as `telemetry:degraded` can still precede it), `after_summary` just after (deliveries, then recorded in
the manifest). A hook that fails is reported on stderr and never changes the run's status or exit code.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .._protocols import conforms
from ..events.bus import EventBus, Subscriber, utc_timestamp
from ..events.sinks import JsonlFileSink
from ..events.version import SCHEMA_VERSION
from . import views
from .ids import new_run_id
from .manifest import (
    CommandRecord,
    InstructionSourceRecord,
    InstructionsRecord,
    Manifest,
    PipelineRef,
    ResumeEvent,
)
from .recorder import ManifestRecorder
from .store import RunPaths, RunStore, metrics_record, process_start_time, read_manifest_dict, state_entry

if TYPE_CHECKING:  # pragma: no cover
    from ..config import Config
    from ..events.protocol import RunError, RunStart, RunStatus, RunSummary
    from .lineage import ParentRef
    from .lock import RunLock


@runtime_checkable
class RunHook(Protocol):
    """A subscriber that also wants the run itself (`attached`, once its bus exists) and its end; see the
    module docstring."""

    def attached(self, run: ActiveRun) -> None: ...

    def before_summary(self, run: ActiveRun, summary: RunSummary) -> None: ...

    def after_summary(self, run: ActiveRun) -> None: ...


class ActiveRun:
    def __init__(self, paths: RunPaths, manifest: Manifest, bus: EventBus, recorder: ManifestRecorder,
                 lock: RunLock, hooks: list[RunHook] | None = None) -> None:
        self.paths = paths
        self.lock = lock
        self.storage_failed = False  # a run file could not be written (full disk): finish best effort
        self.manifest = manifest
        self.bus = bus
        self.recorder = recorder
        self.next_sequence = itertools.count(1).__next__
        self.started_monotonic = time.monotonic()
        self.instructions_env: dict[str, str] = {}
        self.hooks: list[RunHook] = hooks or []

    @classmethod
    def create(
        cls,
        *,
        config: Config,
        task_id: str,
        pipeline: PipelineRef,
        cwd: Path,
        commands: list[CommandRecord],
        approval_policy: str,
        sandbox_mode: str,
        parent: ParentRef | None = None,
        target_stage_id: str | None = None,
        subscribers: Iterable[Subscriber] = (),
        with_instructions: bool = True,
        output_format: str | None = None,
    ) -> ActiveRun:
        store = RunStore(config.repo_root)
        paths = RunPaths(config.repo_root, task_id, new_run_id())
        now = utc_timestamp()
        manifest = Manifest(
            task_id=task_id, run_id=paths.run_id, pipeline=pipeline, approval_policy=approval_policy,
            sandbox_mode=sandbox_mode, started_at=now, updated_at=now, target_stage_id=target_stage_id,
            cwd=str(cwd), config_sources=config.sources(), commands=commands,
            events_path=str(paths.events),
            heartbeat_interval_seconds=float(config.get("heartbeat_interval_seconds")),
        )
        manifest.metrics.output_format = output_format
        if parent is not None:
            parent.link(manifest)
        staging, lock = store.create(paths, resumable=pipeline.source != "exec")
        run = cls._attach(paths, manifest, config, subscribers, lock, staging=staging)
        if with_instructions:
            run._load_instructions(config, cwd)
        return run  # run:start writes the first manifest and publishes the directory (RunStore.publish)

    @classmethod
    def reopen(
        cls, paths: RunPaths, config: Config, *, from_stage: str | None, reason: str, lock: RunLock,
        subscribers: Iterable[Subscriber] = (), parent: ParentRef | None = None,
    ) -> ActiveRun:
        """Continue a run whose lock the caller holds (taken before it read the manifest to decide).
        `parent` (resume --parent-run) links a run that has no parent yet."""
        from .._files import sweep_temps

        sweep_temps(paths.run_dir, within=paths.root)  # what a kill -9 of the last process left behind
        from .store import reserve_room

        reserve_room(paths)
        manifest = Manifest.from_dict(read_manifest_dict(paths))
        if parent is not None:
            parent.link(manifest)
        manifest.resume_events.append(
            ResumeEvent(utc_timestamp(), from_stage, reason, manifest.status, os.getpid())
        )
        manifest.completed_at = None
        manifest.status_detail = None
        manifest.status = "queued"
        run = cls._attach(paths, manifest, config, subscribers, lock)
        if manifest.instructions is not None and manifest.instructions.path:
            from ..instructions import ENV_VAR

            run.instructions_env = {ENV_VAR: manifest.instructions.path}
        return run  # run:start writes the manifest with its resume event

    @classmethod
    def _attach(
        cls, paths: RunPaths, manifest: Manifest, config: Config, subscribers: Iterable[Subscriber],
        lock: RunLock, *, staging: RunPaths | None = None,
    ) -> ActiveRun:
        """`staging`: the hidden directory of a new run, which the recorder's first write publishes."""
        manifest.pid, manifest.pid_start_time, manifest.host = _this_process()
        bus = EventBus()
        recorder = ManifestRecorder(manifest, paths, float(config.get("heartbeat_interval_seconds")),
                                    staging=staging)
        bus.subscribe(recorder)
        bus.subscribe(JsonlFileSink((staging or paths).events, within=paths.root))  # see `where`
        hooks: list[RunHook] = []
        for subscriber in subscribers:
            bus.subscribe(subscriber)
            if conforms(subscriber, RunHook):
                hooks.append(subscriber)
        run = cls(paths, manifest, bus, recorder, lock, hooks)
        run._call_hooks("attached")
        return run

    @property
    def where(self) -> RunPaths:
        """Where the run's directory is now: a new run's stays hidden until `run:start` publishes it (with its
        first manifest, RunStore.publish), so a file opened before then is opened here; its descriptor
        follows the directory."""
        return self.recorder.staging or self.paths

    def _load_instructions(self, config: Config, cwd: Path) -> None:
        """Compose AGENTS.md guidance, record it, and give stages its path."""
        from .._files import write_text_atomic
        from ..instructions import ENV_VAR, load_instructions

        instructions = load_instructions(
            cwd, codex_home=config.codex_home, max_bytes=int(config.get("project_doc_max_bytes")),
            fallback_names=tuple(config.get("project_doc_fallback_filenames")),
        )
        record = instructions.to_manifest()
        path = None
        if instructions.text:
            write_text_atomic(self.where.instructions, instructions.text, within=self.paths.root)
            path = str(self.paths.instructions)
            self.instructions_env = {ENV_VAR: path}
        sources: list[Any] = record.get("sources", [])  # type: ignore[assignment]
        warnings: list[Any] = record.get("warnings", [])  # type: ignore[assignment]
        self.manifest.instructions = InstructionsRecord(
            hash=str(record["hash"]) if instructions.text else None,
            sources=[InstructionSourceRecord(**source) for source in sources],
            warnings=[str(w) for w in warnings],
            path=path,
        )

    def stage_env(self, stage_id: str) -> dict[str, str]:
        """The variables every command of this run gets (docs/exec.md, "The run's variables"): the
        reference orchestrator's names, so scripts written for it work unchanged, and ours. They are
        added after `shell_environment_policy` (they are the run's facts, not the user's environment);
        a stage's own `env` and `exec --env` still win, as in the reference. The paths are for reading:
        the run store is read-only inside the sandbox."""
        m, paths = self.manifest, self.paths
        env = {
            "MCP_RUNNER_TASK_ID": m.task_id,
            "CODEX_ORCHESTRATOR_TASK_ID": m.task_id,
            "CODEX_ORCHESTRATOR_RUN_ID": m.run_id,
            "CODEX_ORCHESTRATOR_PIPELINE_ID": m.pipeline.id,
            "CODEX_ORCHESTRATOR_MANIFEST_PATH": str(paths.manifest),
            "CODEX_ORCHESTRATOR_RUN_DIR": str(paths.run_dir),
            "CODEX_ORCHESTRATOR_RUNS_DIR": str(paths.root / ".runs"),
            "CODEX_ORCHESTRATOR_OUT_DIR": str(paths.root / "out"),
            "CODEX_ORCHESTRATOR_ROOT": str(paths.root),
            "CODEX_ORCHESTRATOR_STAGE_ID": stage_id,
            # Always set (empty without a parent), so a nested run never shows its caller's parent.
            "CODEX_ORCHESTRATOR_PARENT_RUN_ID": m.parent_run_id or "",
        }
        env.update(self.instructions_env)  # CODEX_ORCHESTRATOR_INSTRUCTIONS_FILE, when there is guidance
        return env

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        m = self.manifest
        start: RunStart = {
            "schemaVersion": SCHEMA_VERSION, "runId": m.run_id, "taskId": m.task_id, "pipelineId": m.pipeline.id,
            "manifest": str(self.paths.manifest), "artifactRoot": str(self.paths.run_dir),
            "parentRunId": m.parent_run_id, "approvalPolicy": m.approval_policy, "sandboxMode": m.sandbox_mode,
            "instructionsHash": m.instructions.hash if m.instructions else None,
        }
        if m.parent_run_id and m.parent_link and m.parent_task_id:
            start["parentLink"], start["parentTaskId"] = m.parent_link, m.parent_task_id
        if m.target_stage_id:
            start["targetStageId"] = m.target_stage_id
        threads = {c.id: c.codex_thread_id for c in m.commands if c.codex_thread_id}
        if threads:
            start["codexThreads"] = threads  # a resumed run's codex stages continue these
        self.bus.publish("run:start", start)
        self.recorder.start_heartbeat()

    def summary(
        self, status: RunStatus, detail: str | None, *, exit_code: int | None, signal: int | None = None,
        attempts: int = 0, sandbox_state: Any = None, tool_run: Any = None, stages: list[Any] | None = None,
        outputs: dict[str, Any] | None = None, reused: int = 0, prompted: int = 0,
    ) -> RunSummary:
        m = self.manifest
        latency = round((time.monotonic() - self.started_monotonic) * 1000, 3)
        return {
            "status": status, "statusDetail": detail,
            "run": {"id": m.run_id, "taskId": m.task_id, "pipelineId": m.pipeline.id,
                    "manifest": str(self.paths.manifest), "artifactRoot": str(self.paths.run_dir)},
            "result": {"exitCode": exit_code, "signal": signal, "durationMs": latency, "attempts": attempts,
                       "sandboxState": sandbox_state},
            "toolRun": tool_run,
            "stages": stages or [],
            "outputs": {"stdoutTail": "", "stderrTail": "", "truncated": False, "structured": None,
                        **(outputs or {})},  # type: ignore[typeddict-item]
            "metrics": {"latencyMs": latency, "approvalsReused": reused, "approvalsPrompted": prompted,
                        "toolRuns": m.metrics.tool_runs, **self._figures(reused, prompted),  # type: ignore[typeddict-item]
                        **_tokens(m)},
        }

    def _figures(self, reused: int, prompted: int) -> dict[str, Any]:
        from .._record import asdict
        from ..metrics.figures import run_figures

        metrics = {**asdict(self.manifest.metrics), "approvals_reused": reused, "approvals_prompted": prompted}
        return run_figures(metrics, self.manifest.tool_runs)

    def record_error(self, exc: BaseException) -> tuple[str, int]:
        """Publish `run:error` for a failure of the orchestrator itself; returns (message, exit code)."""
        from ..errors import EXIT_INTERNAL, OrchestratorError, StorageError

        message = str(exc) or type(exc).__name__
        code = exc.exit_code if isinstance(exc, OrchestratorError) else EXIT_INTERNAL
        payload: RunError = {"message": message, "code": code}
        if isinstance(exc, StorageError):
            from .store import release_reserve

            self.storage_failed = True
            release_reserve(self.paths)  # room for the final manifest, summary and metrics
            if exc.path:
                payload["path"] = exc.path
        with contextlib.suppress(StorageError):  # the same full disk: stdout still got it; the first error is reported
            self.bus.publish("run:error", payload)
        return message, code

    def finish(self, summary: RunSummary) -> None:
        """Publish run:summary (the manifest and run-summary.json follow it), record metrics, close."""
        m = self.manifest
        m.metrics.approvals_reused = summary["metrics"]["approvalsReused"]
        m.metrics.approvals_prompted = summary["metrics"]["approvalsPrompted"]
        from ..errors import StorageError

        self._call_hooks("before_summary", summary)
        try:
            if summary["status"] != "succeeded" and m.pipeline.source != "exec":
                RunStore.keep_token(self.paths)  # before the final manifest says it can be resumed
            self.bus.publish("run:summary", summary)
            manifest = self.recorder.written or m.to_dict()  # the final manifest, just written
            views.finished(self.paths, state_entry(manifest, self.paths.manifest),
                           metrics_record(manifest, summary["metrics"]["latencyMs"]))
            self._call_hooks("after_summary")
        except StorageError:
            if summary["status"] == "succeeded" or not self.storage_failed:
                raise
            # The run is already failing because the disk is full; what could be written was.
        finally:
            with contextlib.suppress(StorageError):
                self.bus.close()
            self.lock.release()

    def _call_hooks(self, name: str, *args: Any) -> None:
        """Telemetry and notifications at the run's end: never a reason for the run to fail."""
        for hook in self.hooks:
            try:
                getattr(hook, name)(self, *args)
            except Exception as exc:
                label = getattr(hook, "name", None) or type(hook).__name__
                print(f"codex-orchestrator: warning: {label}: {exc}", file=sys.stderr)


_process: tuple[int, int | None, str] | None = None


def _this_process() -> tuple[int, int | None, str]:
    """(pid, its start time, host) for the manifest: read once per process (a server creates thousands of runs)."""
    global _process
    if _process is None or _process[0] != os.getpid():  # a forked child is another process
        _process = (os.getpid(), process_start_time(os.getpid()), os.uname().nodename)
    return _process


def _tokens(m: Manifest) -> dict[str, Any]:
    """`tokens` for run:summary.metrics when a codex stage reported usage (docs/codex.md)."""
    u = m.metrics
    if not (u.input_tokens or u.output_tokens or u.cached_input_tokens or u.reasoning_output_tokens):
        return {}
    return {"tokens": {"inputTokens": u.input_tokens, "cachedInputTokens": u.cached_input_tokens,
                       "outputTokens": u.output_tokens, "reasoningOutputTokens": u.reasoning_output_tokens}}
