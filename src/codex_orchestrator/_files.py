"""Crash-safe file writes and cross-process locks.

Every file the tool writes goes through `write_*_atomic`: the bytes go to a
temporary file in the same directory, are fsynced, and the file is renamed over
the target, so a `kill -9` at any moment leaves either the old or the new
content, never a torn one. Files shared by concurrent runs are read-modified-
written inside `locked()`, an `flock` on a sibling `.lock` file (Linux only, like
the sandbox; it costs no import, unlike a lock library).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def write_bytes_atomic(path: Path, data: bytes, *, mode: int = 0o644, fsync: bool = True) -> None:
    """Replace `path` with `data` atomically; the file gets `mode` from its first byte on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if fsync:
            os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text_atomic(path: Path, text: str, *, mode: int = 0o644, fsync: bool = True) -> None:
    write_bytes_atomic(path, text.encode("utf-8"), mode=mode, fsync=fsync)


def dump_json(value: Any) -> str:
    """The one JSON style of files on disk: indented, UTF-8, stable key order as given."""
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def write_json_atomic(path: Path, value: Any, *, mode: int = 0o644, fsync: bool = True) -> None:
    write_text_atomic(path, dump_json(value), mode=mode, fsync=fsync)


def read_json(path: Path) -> Any:
    with path.open("rb") as handle:
        return json.loads(handle.read())


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive cross-process lock for `path` (on `path` + '.lock')."""
    lock_path = path.with_name(path.name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def update_json_locked(path: Path, update: Any, default: Any, *, mode: int = 0o644) -> Any:
    """Read-modify-write a shared JSON file under its lock; `update(value) -> value`.

    A file that is missing or unreadable (it can only be unreadable if someone
    else wrote it by hand) starts again from `default`.
    """
    with locked(path):
        try:
            current = read_json(path)
        except (FileNotFoundError, ValueError):
            current = default
        new = update(current)
        write_json_atomic(path, new, mode=mode)
        return new
