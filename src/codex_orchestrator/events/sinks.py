"""Subscribers that write the stream: the run's `events.jsonl` and stdout."""

from __future__ import annotations

import os
import time
from pathlib import Path

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
        self._fd = open_file(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, within=within)
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

    def flush(self) -> None:
        if self._pending:
            _write_all(self._fd, "".join(self._pending).encode("utf-8"))
            self._pending.clear()
            self._pending_size = 0
        self._last_flush = time.monotonic()

    def close(self) -> None:
        if self._fd >= 0:
            self.flush()
            os.close(self._fd)
            self._fd = -1


class StdoutJsonlSink:
    """Writes the stream to stdout; a blocked reader blocks the run (backpressure, not a queue)."""

    critical = False

    def __init__(self, fd: int = 1, types: frozenset[str] | None = None) -> None:
        self._fd = fd
        self._types = types

    def handle(self, event: Envelope, line: str) -> None:
        if self._types is None or event["type"] in self._types:
            _write_all(self._fd, (line + "\n").encode("utf-8"))

    def close(self) -> None:
        pass
