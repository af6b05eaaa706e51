"""When a run's lines in its task's shared files (`state.json`, `metrics.json`) are written.

Both files are views: a run's truth is its manifest, fsynced at its end, and the
next update of a task corrects what a dead process left stale or missing there
(store.py: `_add_missing`, `_mark_interrupted`).

A one-shot process (the CLI) writes them at once: the run's `in_progress` entry
when it starts, its metrics record and final entry when it ends.

A long-lived server (`serve --stdio`, `mcp serve`) calls `defer()`: its calls
then hand their lines to one writer thread and answer without waiting for them.
Rewriting both files cost a third of a warm `exec`; the writer lets lines pile up
for GATHER_SECONDS and writes them in one rewrite of each file, and a run that
ended meanwhile never gets its `in_progress` entry, only its final one. `flush()`
waits for everything handed over: the servers call it before they answer
`shutdown` and before they exit. While the writer may hold lines of a task, the
process keeps a mark in the task's folder (`store.writer_mark`), taken away by
`close()` at exit. A server killed meanwhile loses no run: the next update of the
task, by any process, finds the mark of a dead process and adds what the runs'
manifests say.

A write that fails (a full disk) is reported on stderr, and makes this process's
next update of the task look for the runs missing from `state.json`.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .store import RunPaths

# How long the writer lets lines pile up. Long enough that a busy server rewrites the files a few times a
# second rather than on every call (the rewrite, not the call, would otherwise set its pace); short enough
# that `status` in another terminal is never visibly behind.
GATHER_SECONDS = 0.25


class _Lines:
    """What one task is owed: state entries by run id (the latest wins) and metrics records in order."""

    def __init__(self, paths: RunPaths) -> None:
        self.paths = paths
        self.states: dict[str, dict[str, Any]] = {}
        self.metrics: list[dict[str, Any]] = []


class _Writer:
    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.pending: dict[tuple[Path, str], _Lines] = {}
        self.busy = False
        self.hurry = False  # someone waits in flush(): write what is pending without gathering more
        self.thread: threading.Thread | None = None

    def submit(self, paths: RunPaths, state: dict[str, Any], metrics: dict[str, Any] | None) -> None:
        with self.cond:
            first = not self.pending
            lines = self.pending.get((paths.root, paths.task_id))
            if lines is None:
                lines = self.pending[(paths.root, paths.task_id)] = _Lines(paths)
            if metrics is not None:
                lines.metrics.append(metrics)
            lines.states[paths.run_id] = state
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="views", daemon=True)
                self.thread.start()
            if first:  # the writer waits for a first line; while it gathers, waking it would only cost the GIL
                self.cond.notify_all()

    def flush(self, timeout: float | None) -> bool:
        with self.cond:
            self.hurry = True
            self.cond.notify_all()
            done = self.cond.wait_for(lambda: not self.pending and not self.busy, timeout)
            if not self.pending:
                self.hurry = False  # the next lines gather again
            return done

    def _run(self) -> None:
        while True:
            with self.cond:
                self.cond.wait_for(lambda: bool(self.pending))
                self.cond.wait_for(lambda: self.hurry, GATHER_SECONDS)
                batch, self.pending, self.busy, self.hurry = self.pending, {}, True, False
            try:
                for lines in batch.values():
                    try:
                        _write(lines.paths, lines.states, lines.metrics)
                    except Exception as exc:  # a bug: reported, and the thread carries on
                        print(f"codex-orchestrator: warning: updating the task's shared files failed: {exc!r}",
                              file=sys.stderr)
            finally:
                with self.cond:
                    self.busy = False
                    self.cond.notify_all()


_writer: _Writer | None = None


_marks: dict[tuple[Path, str], RunPaths] = {}  # the tasks this process's writer may hold lines of


def defer() -> None:
    """From now on, this process's runs hand their lines to the writer thread (long-lived servers only)."""
    global _writer
    if _writer is None:
        _writer = _Writer()
        atexit.register(close)


def flush(timeout: float | None = 60.0) -> bool:
    """Wait until every line handed over is written (or failed and was reported); False on timeout."""
    return True if _writer is None else _writer.flush(timeout)


def close() -> None:
    """At exit: write what is pending, then take this process's marks away (each task's files are whole)."""
    if flush():
        from .store import drop_writer_mark

        for paths in list(_marks.values()):
            drop_writer_mark(paths)
        _marks.clear()


def _mark(paths: RunPaths) -> None:
    """Before this process's writer holds the task's first line: a file saying so, which a `kill -9`
    leaves behind for the next update to find (store._dead_writers)."""
    key = (paths.root, paths.task_id)
    if key in _marks:
        return
    from .._files import open_file
    from .store import writer_mark

    try:
        os.close(open_file(writer_mark(paths), os.O_WRONLY | os.O_CREAT, within=paths.root, mode=0o600))
    except OSError:
        return  # the run's own writes report a disk that cannot take a file; the lines still go out
    _marks[key] = paths


def handed_over(paths: RunPaths) -> set[str]:
    """The task's runs whose lines this process's writer still holds: ended, their lock released, but not
    stale (an update running meanwhile must not settle them from their manifests in their place)."""
    if _writer is None:
        return set()
    with _writer.cond:
        lines = _writer.pending.get((paths.root, paths.task_id))
        return set(lines.states) if lines is not None else set()


def started(paths: RunPaths, entry: dict[str, Any]) -> None:
    """The run's `in_progress` entry: what lets the next update correct it if its process dies."""
    if _writer is None:
        from .store import RunStore

        RunStore.record_state(paths, entry)
    else:
        _mark(paths)
        _writer.submit(paths, entry, None)


def finished(paths: RunPaths, entry: dict[str, Any], record: dict[str, Any]) -> None:
    """The run's metrics record, then its final entry. Metrics first: if the process dies between the two,
    the next update finds the run still `in_progress`, corrects it and adds its record only if missing."""
    if _writer is None:
        _write(paths, {paths.run_id: entry}, [record], report=False)
    else:
        _mark(paths)
        _writer.submit(paths, entry, record)


def _write(paths: RunPaths, states: dict[str, dict[str, Any]], metrics: list[dict[str, Any]], *,
           report: bool = True) -> None:
    """Metrics, then states, of one task. With `report` (the writer thread, which has nobody to raise to),
    a failure is a warning; either way it makes the next update look for the runs it left out."""
    from ..errors import OrchestratorError
    from .store import RunStore, heal_next_update

    try:
        if metrics:
            RunStore.append_metrics(paths, *metrics)
        if states:
            RunStore.record_states(paths, states)
    except (OSError, OrchestratorError) as exc:
        heal_next_update(paths)
        if not report:
            raise
        print(f"codex-orchestrator: warning: the task's shared files were not updated ({exc}); the next "
              "update of the task adds the missing runs from their manifests", file=sys.stderr)
