"""Where runs live on disk, and the files shared by every run of a task.

    .runs/<task>/cli/<run-id>/manifest.json, events.jsonl, run-summary.json,
                              commands/NN-<stage>.log, .resume-token, instructions.md
    .runs/<task>/metrics.json   one record per finished run (shared, locked)
    out/<task>/state.json       latest status of the task's runs (shared, locked)
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from .._files import make_dirs, read_json, update_json_locked, write_text_atomic
from .._record import record
from ..errors import NotFoundError
from .ids import validate_run_id, validate_task_id

# Both shared files are rewritten by every run, so both are bounded: a task run thousands
# of times in CI must not make each run slower than the last.
STATE_KEEP_RUNS = 100  # state.json: the latest runs of the task
METRICS_KEEP_RUNS = 200  # metrics.json: the latest records; `totals` counts every run ever recorded


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:48] or "stage"


@record(frozen=True)
class RunPaths:
    root: Path
    task_id: str
    run_id: str

    @property
    def task_dir(self) -> Path:
        return self.root / ".runs" / self.task_id

    @property
    def run_dir(self) -> Path:
        return self.task_dir / "cli" / self.run_id

    @property
    def manifest(self) -> Path:
        return self.run_dir / "manifest.json"

    @property
    def events(self) -> Path:
        return self.run_dir / "events.jsonl"

    @property
    def run_summary(self) -> Path:
        return self.run_dir / "run-summary.json"

    @property
    def resume_token(self) -> Path:
        return self.run_dir / ".resume-token"

    @property
    def instructions(self) -> Path:
        return self.run_dir / "instructions.md"

    @property
    def metrics(self) -> Path:
        return self.task_dir / "metrics.json"

    @property
    def state(self) -> Path:
        return self.root / "out" / self.task_id / "state.json"

    @property
    def protected(self) -> tuple[Path, ...]:
        """What a sandboxed command must not write: the whole run store, and the task's state file and lock
        (`out/` itself stays writable: builds use it)."""
        return (self.root / ".runs", self.state, self.state.with_name(self.state.name + ".lock"))

    def command_log(self, index: int, stage_id: str) -> Path:
        return self.run_dir / "commands" / f"{index:02d}-{_slug(stage_id)}.log"


class RunStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def create(self, task_id: str, run_id: str) -> RunPaths:
        """Make the run directory and its resume token (mode 0600)."""
        paths = RunPaths(self.root, validate_task_id(task_id), run_id)
        make_dirs(paths.run_dir / "commands", within=self.root)
        _ignore_in_git(self.root / ".runs", self.root)
        write_text_atomic(paths.resume_token, os.urandom(16).hex() + "\n", mode=0o600, within=self.root)
        return paths

    def find(self, run_id: str, task_id: str | None = None) -> RunPaths:
        validate_run_id(run_id)
        if task_id is not None:
            paths = RunPaths(self.root, validate_task_id(task_id), run_id)
            if paths.manifest.is_file():
                return paths
        else:
            runs_dir = self.root / ".runs"
            for task_dir in sorted(runs_dir.iterdir()) if runs_dir.is_dir() else []:
                paths = RunPaths(self.root, task_dir.name, run_id)
                if paths.manifest.is_file():
                    return paths
        raise NotFoundError(f"run {run_id} not found under {self.root / '.runs'}")

    def latest(self, task_id: str) -> RunPaths:
        """The task's most recent top-level run (a subpipeline's child run is not one)."""
        cli_dir = self.root / ".runs" / validate_task_id(task_id) / "cli"
        runs = sorted((p.name for p in cli_dir.iterdir()), reverse=True) if cli_dir.is_dir() else []
        for run_id in runs:
            paths = RunPaths(self.root, task_id, run_id)
            try:
                if read_manifest_dict(paths).get("parent_run_id") is None:
                    return paths
            except (OSError, ValueError, NotFoundError):
                continue  # a run dir whose manifest is not written yet
        raise NotFoundError(f"task {task_id} has no runs under {self.root / '.runs'}")

    @staticmethod
    def read_token(paths: RunPaths) -> str:
        return paths.resume_token.read_text().strip()

    # Shared files: read-modify-write under a lock, so concurrent runs never lose a record.

    @staticmethod
    def record_state(paths: RunPaths, entry: dict[str, Any]) -> None:
        def update(state: Any) -> Any:
            if not isinstance(state, dict) or not isinstance(state.get("runs"), dict):
                state = {"version": 1, "task_id": paths.task_id, "runs": {}}
            runs: dict[str, Any] = state["runs"]
            runs[paths.run_id] = entry
            if len(runs) > STATE_KEEP_RUNS:
                for run_id in sorted(runs)[: len(runs) - STATE_KEEP_RUNS]:
                    del runs[run_id]
            latest = max(runs)
            state.update(updated_at=entry.get("updated_at"), latest_run_id=latest, latest=runs[latest])
            return state

        update_json_locked(paths.state, update, None, within=paths.root)
        _ignore_in_git(paths.state.parent, paths.root)

    @staticmethod
    def append_metrics(paths: RunPaths, record: dict[str, Any]) -> None:
        def update(metrics: Any) -> Any:
            if not isinstance(metrics, dict) or not isinstance(metrics.get("runs"), list):
                metrics = {"version": 1, "task_id": paths.task_id, "runs": []}
            totals = metrics.setdefault("totals", {})
            totals["runs"] = totals.get("runs", 0) + 1
            status_key = str(record.get("status"))
            totals[status_key] = totals.get(status_key, 0) + 1
            for key in ("approvals_reused", "approvals_prompted", "tool_runs", "retries", "sandbox_denials"):
                totals[key] = totals.get(key, 0) + int(record.get(key) or 0)
            runs: list[Any] = metrics["runs"]
            runs.append(record)
            del runs[: max(0, len(runs) - METRICS_KEEP_RUNS)]
            return metrics

        update_json_locked(paths.metrics, update, None, within=paths.root)


def _ignore_in_git(folder: Path, root: Path) -> None:
    """Keep `git status` clean, as pytest and ruff do for their caches: a `.gitignore` of `*` in the folders
    that are ours alone (`.runs/`, `out/<task>/`; never `out/` itself, where builds write)."""
    path = folder / ".gitignore"
    if not os.path.lexists(path):
        write_text_atomic(path, "# written by codex-orchestrator: run records stay out of git\n*\n",
                          fsync=False, within=root)


def read_manifest_dict(paths: RunPaths) -> dict[str, Any]:
    data = read_json(paths.manifest, within=paths.root)
    if not isinstance(data, dict):
        raise NotFoundError(f"{paths.manifest}: not a manifest")
    return data


def _proc_stat(pid: int) -> list[bytes] | None:
    """Fields of /proc/PID/stat after the command name (state is [0], start time [19])."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return None
    return stat[stat.rindex(b")") + 2 :].split()


def process_start_time(pid: int) -> int | None:
    """The kernel's start time of `pid` in clock ticks, which tells a live pid from a reused one."""
    fields = _proc_stat(pid)
    return int(fields[19]) if fields else None


def process_alive(pid: int | None, start_time: int | None) -> bool:
    """True while the process that wrote a manifest runs (a zombie or a reused pid is dead)."""
    if pid is None:
        return False
    fields = _proc_stat(pid)
    if fields is None or fields[0] in (b"Z", b"X"):
        return False
    return start_time is None or int(fields[19]) == start_time
