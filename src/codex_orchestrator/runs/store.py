"""Where runs live on disk, and the files shared by every run of a task.

    .runs/<task>/cli/<run-id>/manifest.json, events.jsonl, run-summary.json,
                              commands/NN-<stage>.log, instructions.md, .resume-token (pipeline runs);
                              the directory itself is the run's lock (lock.py)
    .runs/<task>/metrics.json   one record per finished run (shared, locked)
    .runs/<task>/.reserve.<pid>.0.tmp   room kept for the last records of that process's runs
    .runs/<task>/.views-<pid>-<start>   a server whose writer thread may hold lines of the task (views.py)
    out/<task>/state.json       latest status of the task's runs (shared, locked)
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import threading
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._files import dump_json, make_dirs, read_json, write_text_atomic
from .._proc import START_TIME, STATE, stat_fields
from .._record import record
from ..errors import DamagedError, NotFoundError, OrchestratorError, UnreadableError
from .ids import validate_run_id, validate_task_id

if TYPE_CHECKING:  # pragma: no cover
    from .lock import RunLock

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

    @cached_property
    def task_dir(self) -> Path:
        return self.root / ".runs" / self.task_id

    @cached_property
    def run_dir(self) -> Path:
        return self.task_dir / "cli" / self.run_id

    @cached_property
    def manifest(self) -> Path:
        return self.run_dir / "manifest.json"

    @cached_property
    def events(self) -> Path:
        return self.run_dir / "events.jsonl"

    @cached_property
    def run_summary(self) -> Path:
        return self.run_dir / "run-summary.json"

    @cached_property
    def resume_token(self) -> Path:
        return self.run_dir / ".resume-token"

    @cached_property
    def instructions(self) -> Path:
        return self.run_dir / "instructions.md"

    @cached_property
    def metrics(self) -> Path:
        return self.task_dir / "metrics.json"

    @cached_property
    def state(self) -> Path:
        return self.root / "out" / self.task_id / "state.json"

    @cached_property
    def protected(self) -> tuple[Path, ...]:
        """What a sandboxed command must not write: the whole run store, and the task's state file and lock
        (`out/` itself stays writable: builds use it)."""
        return (self.root / ".runs", self.state, self.state.with_name(self.state.name + ".lock"))

    def command_log(self, index: int, stage_id: str) -> Path:
        return self.run_dir / "commands" / f"{index:02d}-{_slug(stage_id)}.log"


class RunStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def create(self, paths: RunPaths, *, resumable: bool = True) -> tuple[RunPaths, RunLock]:
        """Make the run's directory under a hidden name, `.<run-id>.creating`: its folders, its resume token
        (only for a run `resume` can continue: not an `exec` run) and its lock, held. `publish` then writes
        its first manifest there and renames it into place, so a `kill -9` at any moment never leaves a run
        directory without a manifest. Returns the hidden directory's paths and the run's lock."""
        from .._files import write_new
        from .lock import RunLock

        validate_task_id(paths.task_id)
        staging = RunPaths(self.root, paths.task_id, f".{paths.run_id}.creating")
        make_dirs(staging.run_dir / "commands", within=self.root)
        _ignore_in_git(self.root / ".runs", self.root)
        # Written in place, not fsynced: the directory's rename publishes it, and only a run that ends
        # unsucceeded can be resumed; its end flushes the token (`keep_token`, docs/manifest.md).
        if resumable:
            write_new(staging.resume_token, (os.urandom(16).hex() + "\n").encode(), mode=0o600, within=self.root)
        reserve_room(staging)
        return staging, RunLock.new(staging)

    @staticmethod
    def publish(staging: RunPaths, paths: RunPaths, manifest: dict[str, Any]) -> None:
        """The run's first manifest (its `run:start` one), then the directory renamed into place: one step for
        readers. The manifest too is written whole under a temporary name and renamed: the hidden directory
        is never published without it, but a `kill -9` must not leave a `manifest.json` cut short anywhere
        (a rename, ~10 us). Not fsynced: an in-progress manifest is superseded within milliseconds, and
        only the final one is flushed (docs/manifest.md)."""
        from .._files import move_aside, write_bytes_atomic

        write_bytes_atomic(staging.manifest, dump_json(manifest).encode(), fsync=False, within=paths.root)
        move_aside(staging.run_dir, "", within=paths.root, to=paths.run_dir)

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
        """The task's most recent top-level run (a subpipeline's child run is not one; a run linked with
        --parent-run is)."""
        from .lineage import is_subpipeline_child

        cli_dir = self.root / ".runs" / validate_task_id(task_id) / "cli"
        runs = sorted((p.name for p in cli_dir.iterdir() if not p.name.startswith(".")), reverse=True) \
            if cli_dir.is_dir() else []
        for run_id in runs:
            paths = RunPaths(self.root, task_id, run_id)
            try:
                if not is_subpipeline_child(read_manifest_dict(paths)):
                    return paths
            except NotFoundError:
                continue  # a run dir whose manifest is not written yet
            except (DamagedError, UnreadableError):
                return paths  # `status` reports it as damaged rather than pretending the task has no runs
        raise NotFoundError(f"task {task_id} has no runs under {self.root / '.runs'}")

    @staticmethod
    def keep_token(paths: RunPaths) -> None:
        """Flush the resume token to disk: the run ended in a state `resume` can continue. Best effort: a
        token that cannot be flushed is still there until a power loss."""
        from .._files import open_file

        try:
            fd = open_file(paths.resume_token, os.O_RDONLY, within=paths.root)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)

    @staticmethod
    def read_token(paths: RunPaths) -> str | None:
        """The run's resume token; None for a run that has none (an `exec` run: it cannot be resumed)."""
        from .._files import open_file

        try:
            fd = open_file(paths.resume_token, os.O_RDONLY, within=paths.root)
        except FileNotFoundError:
            return None
        with open(fd, encoding="utf-8") as file:
            return file.read().strip()

    # Shared files: read-modify-write under a lock, so concurrent runs never lose a record.

    @staticmethod
    def record_state(paths: RunPaths, entry: dict[str, Any]) -> None:
        RunStore.record_states(paths, {paths.run_id: entry})

    @staticmethod
    def record_states(paths: RunPaths, entries: dict[str, dict[str, Any]]) -> None:
        """Set the entries of these runs (of `paths`' task) in state.json, in one locked rewrite."""
        def update(state: dict[str, Any]) -> dict[str, Any]:
            from .views import handed_over

            runs: dict[str, Any] = state["runs"]
            runs.update(entries)
            skip = entries.keys() | handed_over(paths)
            dead = _dead_writers(paths)
            if dead or (paths.root, paths.task_id) in _heal:
                _add_missing(paths, runs, skip=skip)
                _heal.discard((paths.root, paths.task_id))
                _drop_markers(paths, dead)
            _mark_interrupted(paths, runs, skip=skip)
            return _trim_state(state)

        _update_shared(paths, paths.state, update, _valid_state, lambda: _rebuild_state(paths))
        _ignore_in_git(paths.state.parent, paths.root)

    @staticmethod
    def append_metrics(paths: RunPaths, *records: dict[str, Any]) -> None:
        """Add finished runs' records to metrics.json, in one locked rewrite; a run already there is not
        counted again (a run the next update found finished but unrecorded, see `_mark_interrupted`)."""
        def update(metrics: dict[str, Any]) -> dict[str, Any]:
            _add_metrics(metrics, *records)
            return metrics

        _update_shared(paths, paths.metrics, update, _valid_metrics, lambda: _rebuild_metrics(paths))


STATUSES = ("succeeded", "failed", "cancelled", "interrupted")
TOKEN_KEYS = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens")  # codex stages


def state_entry(manifest: dict[str, Any], manifest_path: Path) -> dict[str, Any]:
    """A run's line in `out/<task>/state.json`."""
    return {
        "run_id": manifest["run_id"], "pipeline": manifest["pipeline"]["id"], "status": manifest["status"],
        "status_detail": manifest.get("status_detail"), "started_at": manifest.get("started_at"),
        "updated_at": manifest.get("updated_at"), "completed_at": manifest.get("completed_at"),
        "exit_code": manifest.get("exit_code"), "manifest": str(manifest_path),
        "parent_run_id": manifest.get("parent_run_id"),
    }


def metrics_record(manifest: dict[str, Any], latency_ms: float | None) -> dict[str, Any]:
    """A finished run's record in `.runs/<task>/metrics.json`."""
    from ..metrics.figures import run_figures, tool_latencies

    metrics = manifest.get("metrics") or {}
    tool_runs = manifest.get("tool_runs") or []
    figures = run_figures(metrics, tool_runs)
    return {
        "run_id": manifest["run_id"], "pipeline": manifest["pipeline"]["id"], "status": manifest["status"],
        "exit_code": manifest.get("exit_code"), "started_at": manifest.get("started_at"),
        "completed_at": manifest.get("completed_at"), "latency_ms": latency_ms,
        "tool_runs": metrics.get("tool_runs", 0), "approvals_reused": metrics.get("approvals_reused", 0),
        "approvals_prompted": metrics.get("approvals_prompted", 0), "retries": metrics.get("retries", 0),
        "sandbox_denials": metrics.get("sandbox_denials", 0), "parent_run_id": manifest.get("parent_run_id"),
        "resumed": len(manifest.get("resume_events") or []),
        **{name: metrics.get(name, 0) for name in TOKEN_KEYS},
        "approvals_needed": figures["approvalsNeeded"], "approval_reuse_pct": figures["approvalReusePct"],
        "approval_denials": figures["approvalDenials"], "tool_latency_p50_ms": figures["toolLatencyP50Ms"],
        "tool_latency_p95_ms": figures["toolLatencyP95Ms"], "tool_latencies_ms": tool_latencies(tool_runs),
        "output_format": figures["outputFormat"],
    }


def _empty_metrics(task_id: str) -> dict[str, Any]:
    totals = {"runs": 0, **dict.fromkeys(STATUSES, 0), "approvals_reused": 0, "approvals_prompted": 0,
              "tool_runs": 0, "retries": 0, "sandbox_denials": 0, "approvals_needed": 0, "approval_denials": 0}
    return {"version": 1, "task_id": task_id, "totals": totals, "runs": []}


def _add_metrics(metrics: dict[str, Any], *records: dict[str, Any]) -> None:
    """Append finished runs' records and count them in `totals`; an ending already kept is skipped (recorded
    already by a correction of its state.json entry, `_mark_interrupted`). One pass over what is kept, not
    one per record: a server's writer adds dozens of records to 200 in one update."""
    runs: list[Any] = metrics["runs"]
    seen = {_metrics_key(kept) for kept in runs}
    totals = metrics.setdefault("totals", {})
    for key in ("runs", *STATUSES):
        totals.setdefault(key, 0)  # every status present from the first run on, not once it is non-zero
    for added in records:
        ending = _metrics_key(added)
        if ending in seen:
            continue
        seen.add(ending)
        runs.append(added)
        totals["runs"] += 1
        status_key = str(added.get("status"))
        totals[status_key] = totals.get(status_key, 0) + 1
        for key in ("approvals_reused", "approvals_prompted", "tool_runs", "retries", "sandbox_denials",
                    "approvals_needed", "approval_denials", *TOKEN_KEYS):
            totals[key] = totals.get(key, 0) + int(added.get(key) or 0)
    del runs[: max(0, len(runs) - METRICS_KEEP_RUNS)]


def _metrics_key(record: dict[str, Any]) -> tuple[str, str, str]:
    """One ending of one run: a run interrupted and later resumed to its end has two records. As text, so
    that a record edited by hand into odd types is still a key."""
    return str(record.get("run_id")), str(record.get("status")), str(record.get("completed_at"))


def _mark_interrupted(paths: RunPaths, runs: dict[str, Any], *, skip: Any = ()) -> None:
    """Runs of the task that state.json still calls live but that no process holds any more get what
    their manifest says, and their metrics record, once: `interrupted` if they were killed and never
    resumed; their final status if the process ended them but died before it updated state.json, or a power
    loss rolled state.json back."""
    from .lock import lock_held

    for run_id, entry in runs.items():
        if run_id in skip or entry.get("status") not in ("queued", "in_progress"):
            continue
        other = RunPaths(paths.root, paths.task_id, run_id)
        if lock_held(other) is not False:
            continue
        try:
            manifest = read_manifest_dict(other)
        except (OSError, OrchestratorError):
            manifest = None
        # Entries are replaced, never changed in place: shared.py keeps each one's JSON by identity.
        if manifest is not None and manifest.get("status") in STATUSES:
            runs[run_id] = {**entry, **state_entry(manifest, other.manifest)}  # a stale entry: the run ended
            RunStore.append_metrics(other, metrics_record(manifest, None))  # once: keyed by run id
            continue
        known = state_entry(manifest, other.manifest) if manifest is not None else {}
        runs[run_id] = {**entry, **known, "status": "interrupted",
                        "status_detail": "no orchestrator process holds the run any more (it was killed or crashed)"}
        if manifest is None:
            continue
        manifest["status"] = "interrupted"
        RunStore.append_metrics(other, metrics_record(manifest, None))


_heal: set[tuple[Path, str]] = set()  # tasks whose last update by this process failed
WRITER_MARK = ".views-"  # + "<pid>-<start time>": a server that may hold lines of the task (views.py)


def heal_next_update(paths: RunPaths) -> None:
    """An update of the task's shared files failed: the next one looks for the runs it left out."""
    _heal.add((paths.root, paths.task_id))


def writer_mark(paths: RunPaths) -> Path:
    """This process's mark in the task's folder while its writer thread may hold lines of the task: left
    behind by a `kill -9`, it tells the next update to look for the runs the process never wrote."""
    return paths.task_dir / f"{WRITER_MARK}{os.getpid()}-{process_start_time(os.getpid())}"


def _dead_writers(paths: RunPaths) -> list[str]:
    """The marks of servers that are gone (one `listdir` of the task's folder, a few entries)."""
    dead = []
    for name in _listing(paths.task_dir, paths.root):
        if not name.startswith(WRITER_MARK):
            continue
        pid, _, start = name[len(WRITER_MARK):].partition("-")
        try:
            alive = process_alive(int(pid), int(start) if start.isdigit() else None)
        except ValueError:
            alive = False
        if not alive:
            dead.append(name)
    return dead


def drop_writer_mark(paths: RunPaths) -> None:
    """This process's mark, once its writer holds nothing more of the task (views.close)."""
    _drop_markers(paths, [writer_mark(paths).name])


def _listing(folder: Path, root: Path) -> list[str]:
    """The names in a folder of the run store, opened following no link; none if it cannot be read."""
    from .._files import _directory

    try:
        with _directory(folder, root, create=False) as dir_fd:
            return os.listdir(dir_fd)
    except OSError:
        return []


def _drop_markers(paths: RunPaths, names: list[str]) -> None:
    from .._files import _directory

    with contextlib.suppress(OSError), _directory(paths.task_dir, paths.root, create=False) as dir_fd:
        for name in names:
            with contextlib.suppress(OSError):  # gone already, or not a file (then it is read again: harmless)
                os.unlink(name, dir_fd=dir_fd)


def _add_missing(paths: RunPaths, runs: dict[str, Any], *, skip: Any = ()) -> None:
    """Runs of the task that have a directory but no entry, because their process died before it wrote any
    (a server whose writer thread still held them: its mark was left behind, views.py) or an update failed:
    each gets an `in_progress` entry, which `_mark_interrupted` then settles from its manifest, with its
    metrics record. One listing of the task's runs, only then. Runs older than the oldest entry kept are
    left alone (they were trimmed, not lost); so are live ones: their own process writes them.
    """
    from .lock import lock_held

    floor = min(runs) if len(runs) >= STATE_KEEP_RUNS else ""
    for name in _listing(paths.task_dir / "cli", paths.root):
        if name in runs or name in skip or name <= floor or name.startswith("."):
            continue
        other = RunPaths(paths.root, paths.task_id, name)
        try:
            validate_run_id(name)
            if lock_held(other) is not False:
                continue  # live (its process writes its entry), or made by a version without run locks
        except (OSError, OrchestratorError):
            continue
        runs[name] = {"run_id": name, "status": "in_progress", "manifest": str(other.manifest)}


def _trim_state(state: dict[str, Any]) -> dict[str, Any]:
    runs: dict[str, Any] = state["runs"]
    if len(runs) > STATE_KEEP_RUNS:
        for run_id in sorted(runs)[: len(runs) - STATE_KEEP_RUNS]:
            del runs[run_id]
    if runs:
        latest = max(runs)
        state.update(updated_at=runs[latest].get("updated_at"), latest_run_id=latest, latest=runs[latest])
    return state


def _valid_state(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("runs"), dict)


def _valid_metrics(value: Any) -> bool:
    return (isinstance(value, dict) and isinstance(value.get("runs"), list)
            and isinstance(value.get("totals", {}), dict))


def _manifests(paths: RunPaths) -> list[tuple[dict[str, Any], Path]]:
    """Every readable manifest of the task, oldest first (damaged ones are skipped: status reports them)."""
    cli_dir = paths.task_dir / "cli"
    found = []
    for run_id in sorted(os.listdir(cli_dir)) if cli_dir.is_dir() else []:
        if run_id.startswith("."):  # a run directory being created, or one whose creation was killed
            continue
        run = RunPaths(paths.root, paths.task_id, run_id)
        try:
            found.append((read_manifest_dict(run), run.manifest))
        except (OSError, OrchestratorError):
            continue
    return found


def _rebuild_state(paths: RunPaths) -> dict[str, Any]:
    runs = {m["run_id"]: state_entry(m, path) for m, path in _manifests(paths)}
    return _trim_state({"version": 1, "task_id": paths.task_id, "runs": runs, "rebuilt": True})


def _rebuild_metrics(paths: RunPaths) -> dict[str, Any]:
    metrics = _empty_metrics(paths.task_id)
    _add_metrics(metrics, *(metrics_record(manifest, None) for manifest, _ in _manifests(paths)
                            if manifest.get("status") in STATUSES and manifest.get("run_id") != paths.run_id))
    metrics["rebuilt"] = True
    return metrics


def _update_shared(paths: RunPaths, path: Path, update: Any, valid: Any, rebuild: Any) -> None:
    from .shared import update_shared

    # state.json is not fsynced: it is a view of the (fsynced) manifests, rebuilt when missing or damaged
    # and corrected from them when stale, so a power loss costs a rebuild, never a record (docs/manifest.md).
    is_state = path == paths.state
    update_shared(path, within=paths.root, update=update, valid=valid, rebuild=rebuild, fsync=not is_state,
                  empty=(lambda: rebuild()) if is_state else (lambda: _empty_metrics(paths.task_id)))


RESERVE_BYTES = 256 * 1024  # a final manifest with many tool runs, its summary, and the shared files
_reserves: dict[Path, tuple[int, RunPaths]] = {}  # task directory -> (the pid that made its reserve, a run)
_reserves_lock = threading.Lock()


def _reserve_name() -> str:
    """The process's reserve in a task directory. Named like a temporary file of this pid, so that once the
    process is gone (a `kill -9`) the next update of metrics.json there sweeps it (`_files.sweep_temps`)."""
    return f".reserve.{os.getpid()}.0.tmp"


def reserve_room(paths: RunPaths) -> None:
    """Set aside RESERVE_BYTES for the last records of this process's runs of the task (allocated, not
    written: posix_fallocate). One file per process and task, made by its first run and kept for the next
    ones (a server runs thousands), removed when the process exits or a write fails for lack of space."""
    from .._files import open_file

    with _reserves_lock:
        if _reserves.get(paths.task_dir, (0,))[0] == os.getpid():
            return
        _reserves[paths.task_dir] = (os.getpid(), paths)
    try:
        fd = open_file(paths.task_dir / _reserve_name(), os.O_WRONLY | os.O_CREAT, within=paths.root, mode=0o600)
    except OSError:
        return  # no room even for that: the run fails at its first write, as before
    try:
        os.posix_fallocate(fd, 0, RESERVE_BYTES)
    except OSError:
        pass  # a file system without fallocate, or a disk already full: nothing is reserved
    finally:
        os.close(fd)


def release_reserve(paths: RunPaths) -> None:
    """Give the reserved room back: a write failed for lack of space (the next run sets it aside again)."""
    from .._files import _directory

    with _reserves_lock:
        if _reserves.pop(paths.task_dir, (0,))[0] != os.getpid():
            return
    try:
        with _directory(paths.task_dir, paths.root, create=False) as dir_fd:
            os.unlink(_reserve_name(), dir_fd=dir_fd)
    except OSError:
        pass


def drop_reserves() -> None:
    """At exit. Only this process's: a forked child that exits through Python must not drop its parent's."""
    with _reserves_lock:
        mine = [paths for pid, paths in _reserves.values() if pid == os.getpid()]
    for paths in mine:
        release_reserve(paths)


atexit.register(drop_reserves)  # the CLI leaves through os._exit and calls it itself (cli/main.py)


def _ignore_in_git(folder: Path, root: Path) -> None:
    """Keep `git status` clean, as pytest and ruff do for their caches: a `.gitignore` of `*` in the folders
    that are ours alone (`.runs/`, `out/<task>/`; never `out/` itself, where builds write)."""
    path = folder / ".gitignore"
    if not os.path.lexists(path):
        write_text_atomic(path, "# written by codex-orchestrator: run records stay out of git\n*\n",
                          fsync=False, within=root)


_REQUIRED = (("run_id", str), ("task_id", str), ("pipeline", dict), ("status", str), ("commands", list),
             ("started_at", str))


def read_manifest_dict(paths: RunPaths) -> dict[str, Any]:
    """The manifest as written; DamagedError (65) if it is not one, UnreadableError (77) if it cannot be read."""
    try:
        data = read_json(paths.manifest, within=paths.root)
    except FileNotFoundError:
        raise NotFoundError(f"{paths.manifest}: no manifest (the run never started)") from None
    except ValueError as exc:
        raise DamagedError(f"{paths.manifest}: damaged, not valid JSON ({exc})") from None
    except OSError as exc:
        raise UnreadableError(f"{paths.manifest}: cannot be read ({exc.strerror})") from None
    if not isinstance(data, dict):
        raise DamagedError(f"{paths.manifest}: damaged, not a JSON object")
    for name, kind in _REQUIRED:
        if not isinstance(data.get(name), kind):
            raise DamagedError(f"{paths.manifest}: damaged, field {name!r} is missing or not a {kind.__name__}")
    if not isinstance(data["pipeline"].get("id"), str):
        raise DamagedError(f"{paths.manifest}: damaged, field 'pipeline.id' is missing")
    return data


def process_start_time(pid: int) -> int | None:
    """The kernel's start time of `pid` in clock ticks, which tells a live pid from a reused one."""
    fields = stat_fields(pid)
    return int(fields[START_TIME]) if fields else None


def process_alive(pid: int | None, start_time: int | None) -> bool:
    """True while the process that wrote a manifest runs (a zombie or a reused pid is dead)."""
    if pid is None:
        return False
    fields = stat_fields(pid)
    if fields is None or fields[STATE] in (b"Z", b"X"):
        return False
    return start_time is None or int(fields[START_TIME]) == start_time
