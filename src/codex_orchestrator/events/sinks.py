"""Subscribers that write the stream: the run's `events.jsonl` and stdout."""

from __future__ import annotations

import os
from pathlib import Path

from .protocol import Envelope


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class JsonlFileSink:
    """Appends every event to a file, one line per event.

    Each line is one `write()` on an O_APPEND descriptor, so a `kill -9` can at
    worst lose the event being written, never leave half a line behind it.
    """

    critical = True

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)

    def handle(self, event: Envelope, line: str) -> None:
        _write_all(self._fd, (line + "\n").encode("utf-8"))

    def close(self) -> None:
        if self._fd >= 0:
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
