"""Pipeline runs from any front end: `start`/`resume` in the CLI, `run/*` in the server, the Python API."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._record import record

if TYPE_CHECKING:  # pragma: no cover
    from ..config import Config
    from ..events.bus import Subscriber
    from ..exec.cancel import CancelToken
    from ..observe import Observers
    from ..pipelines.runner import PipelineRunner, RunOutcome
    from ..runs.lock import RunLock
    from ..runs.store import RunPaths
    from ..tools.asker import Asker


def make_runner(config: Config, *, task_id: str, cancel: CancelToken, asker: Asker,
                stream: Subscriber | None, output_format: str | None = None,
                observers: Observers | None = None) -> PipelineRunner:
    """A runner for the repo's pipelines; `stream` sees every event of the run and its child runs, and so
    do the `observers` (telemetry, notifications)."""
    from ..pipelines.registry import Registry
    from ..pipelines.runner import PipelineRunner

    registry = Registry.load(config)
    runner = PipelineRunner(
        config=config, registry=registry, cancel=cancel, asker=asker, task_id=task_id,
        approval_policy=config.get("approval_policy"), sandbox_mode=config.get("sandbox_mode"), stream=stream,
        output_format=output_format, observers=observers,
    )
    if registry.uses_sessions():
        from ..exec.sessions import ExecSessionManager

        runner.sessions = ExecSessionManager()  # shared by the run and its child runs; closed at the end
    return runner


def run_pipeline(runner: PipelineRunner, pipeline_id: str | None) -> RunOutcome:
    """Run a pipeline (the default one when `pipeline_id` is None) to its end."""
    pipeline = runner.registry.get(pipeline_id)
    try:
        return runner.start(pipeline)
    finally:
        if runner.sessions is not None:
            runner.sessions.close_all()


@record
class Resumable:
    paths: RunPaths
    manifest: dict[str, Any]
    lock: RunLock | None  # None: the run already succeeded, there is nothing to do


def open_for_resume(config: Config, run_id: str, task_id: str | None, token: str | None) -> Resumable:
    """Find a run, check its token, and take its lock before reading the manifest that decides.

    A second resume racing this one is refused (BusyError, exit 75) rather than deciding from a
    manifest this one is about to change.
    """
    import hmac

    from ..errors import ApprovalError, UsageError
    from ..runs.lock import RunLock
    from ..runs.recorder import effective_status
    from ..runs.store import RunStore, read_manifest_dict

    store = RunStore(config.repo_root)
    paths = store.find(run_id, task_id)
    manifest = read_manifest_dict(paths)
    if token is not None:
        stored = store.read_token(paths)
        # An `exec` run has no token: it cannot be resumed, which is refused below with its own message.
        if stored is None and manifest["pipeline"].get("source") != "exec":
            raise ApprovalError(f"run {run_id} has no resume token (.resume-token is missing); "
                                "resume it without --token")
        if stored is not None and not hmac.compare_digest(token.strip(), stored):
            raise ApprovalError(f"wrong resume token for run {run_id}")
    lock = RunLock.acquire(paths, holder=manifest.get("pid"))
    manifest = read_manifest_dict(paths)
    status, _ = effective_status(manifest, paths=paths)
    if status == "succeeded":
        lock.release()
        return Resumable(paths, manifest, None)
    from ..runs.lineage import is_subpipeline_child

    problem = None
    if manifest["pipeline"].get("source") == "exec":
        problem = f"run {run_id} is an `exec` run: only pipeline runs can be resumed; run the command again"
    elif is_subpipeline_child(manifest):  # a --parent-run link is not: that run is resumed on its own
        problem = f"run {run_id} is a child run; resume its parent {manifest['parent_run_id']} instead"
    if problem:
        lock.release()
        raise UsageError(problem)
    return Resumable(paths, manifest, lock)


def resume_run(runner: PipelineRunner, resumable: Resumable) -> RunOutcome:
    assert resumable.lock is not None
    runner.task_id = resumable.paths.task_id
    try:
        return runner.resume(resumable.paths, resumable.manifest, resumable.lock)
    finally:
        if runner.sessions is not None:
            runner.sessions.close_all()


def status_view(paths: RunPaths) -> dict[str, Any]:
    """What `status --format json` and the server's `run/status` show of a run."""
    from ..errors import DamagedError, UnreadableError
    from ..runs.recorder import effective_status
    from ..runs.store import read_manifest_dict

    try:
        manifest = read_manifest_dict(paths)
    except (DamagedError, UnreadableError) as exc:
        return {"run_id": paths.run_id, "task_id": paths.task_id, "pipeline": None, "status": "damaged",
                "status_detail": str(exc), "manifest": str(paths.manifest), "stages": [], "child_runs": []}
    status, detail = effective_status(manifest, paths=paths)
    return {
        "run_id": manifest["run_id"], "task_id": manifest["task_id"], "pipeline": manifest["pipeline"]["id"],
        "status": status, "status_detail": detail, "recorded_status": manifest["status"],
        "started_at": manifest["started_at"], "updated_at": manifest["updated_at"],
        "completed_at": manifest.get("completed_at"), "heartbeat_at": manifest.get("heartbeat_at"),
        "manifest": str(paths.manifest),
        "parent_run_id": manifest.get("parent_run_id"), "parent_task_id": manifest.get("parent_task_id"),
        "parent_link": manifest.get("parent_link"), "target_stage_id": manifest.get("target_stage_id"),
        "stages": [{"id": c["id"], "status": c["status"], "exit_code": c["exit_code"], "summary": c["summary"],
                    **({"codex_thread_id": c["codex_thread_id"]} if c.get("codex_thread_id") else {})}
                   for c in manifest["commands"]],
        "child_runs": manifest.get("child_runs", []),
    }
