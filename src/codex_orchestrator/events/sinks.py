"""Subscribers that write the stream: the run's `events.jsonl` and stdout."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .protocol import Envelope


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class JsonlFileSink:
    """Appends every event to a file, one line per event.

    Lines go out in single `write()`s on an O_APPEND descriptor, so a `kill -9` can
    at worst lose the lines not yet written, never leave half a line. Output chunks,
    which can arrive by the hundred thousand, are batched (up to 64 KiB or 100 ms);
    every other event is written at once, flushing any chunks before it.
    """

    critical = True
    BATCH_BYTES = 64 * 1024
    BATCH_SECONDS = 0.1

    def __init__(self, path: Path, *, within: Path | None = None) -> None:
        from .._files import open_file

        self.path = path
        if within is None:
            path.parent.mkdir(parents=True, exist_ok=True)
        # Opened once: a run directory moved away mid-run keeps receiving its events where it really is.
        self._fd = open_file(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, within=within)
        self._cut_torn_tail()
        self._pending: list[str] = []
        self._pending_size = 0
        self._last_flush = time.monotonic()

    def handle(self, event: Envelope, line: str) -> None:
        self._pending.append(line)
        self._pending.append("\n")
        self._pending_size += len(line) + 1
        if (
            event["type"] != "exec:chunk"
            or self._pending_size >= self.BATCH_BYTES
            or time.monotonic() - self._last_flush >= self.BATCH_SECONDS
        ):
            self.flush()

    def _cut_torn_tail(self) -> None:
        """A `kill -9` in the middle of a large write can leave half a line; cut it before appending
        (resume), so a later line is never glued to it."""
        size = os.fstat(self._fd).st_size
        if size == 0 or os.pread(self._fd, 1, size - 1) == b"\n":
            return
        start = max(0, size - (1 << 20))
        tail = os.pread(self._fd, size - start, start)
        os.ftruncate(self._fd, start + tail.rfind(b"\n") + 1 if b"\n" in tail else start)

    def flush(self) -> None:
        if self._pending:
            data = "".join(self._pending).encode("utf-8")
            self._pending.clear()
            self._pending_size = 0
            before = os.fstat(self._fd).st_size
            try:
                _write_all(self._fd, data)
            except OSError as exc:
                # Never a torn line: what did not fit is taken back whole.
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, before)
                from .._files import STORAGE_ERRNOS, storage_error

                if exc.errno in STORAGE_ERRNOS:
                    raise storage_error(self.path, exc) from None
                raise
        self._last_flush = time.monotonic()

    def close(self) -> None:
        if self._fd >= 0:
            self.flush()
            os.close(self._fd)
            self._fd = -1


class StdoutJsonlSink:
    """Writes the stream to stdout from a writer thread, so that the reader of stdout never decides
    whether the run can be stopped.

    * **Backpressure, bounded**: lines wait in a queue of at most `QUEUE_BYTES`; when it is full the
      publisher waits, so a slow reader still slows the command (the pipe fills), and memory stays flat.
      That wait wakes up for a cancel: a SIGINT/SIGTERM ends the run even while stdout is stalled
      (`events.jsonl` is written before this sink, so it still gets everything).
    * **A closed reader stops the run**, as in a shell pipeline: on EPIPE `on_closed` is called once
      (the CLI cancels the run with SIGPIPE: status `cancelled`, `output-closed`, exit 141).
    * `close()` drains the queue; after a cancel it waits at most `CANCEL_DRAIN` seconds.
    """

    critical = False
    name = "the stdout event stream"
    QUEUE_BYTES = 1 << 20
    CANCEL_DRAIN = 1.0

    def __init__(self, fd: int = 1, types: frozenset[str] | None = None, *, cancel: Any = None,
                 on_closed: Callable[[], None] | None = None) -> None:
        self._fd = fd
        self._types = types
        self._cancel = cancel
        self._on_closed = on_closed
        self._queue: deque[bytes] = deque()
        self._queued = 0
        self._cond = threading.Condition()
        self._writing = False
        self.closed_by_reader = False
        self._thread: threading.Thread | None = None

    def handle(self, event: Envelope, line: str) -> None:
        if self._types is not None and event["type"] not in self._types:
            return
        data = (line + "\n").encode("utf-8")
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._write_loop, name="stdout-events", daemon=True)
                self._thread.start()
            while self._queued + len(data) > self.QUEUE_BYTES and self._queued and not self.closed_by_reader:
                if self._cancelled():
                    return  # the run is being stopped: do not wait for a reader that does not read
                self._cond.wait(0.05)
            if self.closed_by_reader:
                return
            self._queue.append(data)
            self._queued += len(data)
            self._cond.notify_all()

    def _cancelled(self) -> bool:
        return bool(self._cancel is not None and self._cancel.cancelled)

    def _write_loop(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait()
                data = self._queue[0]
                self._writing = True
            try:
                _write_all(self._fd, data)
            except OSError:  # EPIPE and friends: nobody reads any more
                with self._cond:
                    self.closed_by_reader = True
                    self._queue.clear()
                    self._queued = 0
                    self._writing = False
                    self._cond.notify_all()
                if self._on_closed is not None:
                    self._on_closed()
                return
            with self._cond:
                self._queue.popleft()
                self._queued -= len(data)
                self._writing = False
                self._cond.notify_all()

    def close(self) -> None:
        """Wait until everything queued is written (bounded once the run was cancelled)."""
        deadline = time.monotonic() + self.CANCEL_DRAIN
        with self._cond:
            while (self._queue or self._writing) and not self.closed_by_reader:
                if self._cancelled() and time.monotonic() >= deadline:
                    return
                self._cond.wait(0.05)
