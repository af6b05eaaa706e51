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
import itertools
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_temp_counter = itertools.count()


def _open_temp(path: Path, mode: int) -> tuple[int, Path]:
    """A new file beside `path`, unique to this process and call (no tempfile/random import)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{next(_temp_counter)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode), tmp
        except FileExistsError:  # left behind by a killed process whose pid was reused
            continue


def write_bytes_atomic(path: Path, data: bytes, *, mode: int = 0o644, fsync: bool = True) -> None:
    """Replace `path` with `data` atomically; the file gets `mode` from its first byte on."""
    fd, tmp = _open_temp(path, mode)
    try:
        os.fchmod(fd, mode)  # O_CREAT's mode is filtered by the umask
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
    """The one JSON style of files on disk: UTF-8, one line, key order as given.

    Not indented: with `indent`, the json module falls back to its pure-Python
    encoder, which made every manifest write ten times slower (`jq .` reads it fine).
    """
    return json.dumps(value, ensure_ascii=False) + "\n"


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
