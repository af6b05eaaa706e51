"""Read-modify-write of the files every run of a task shares (`state.json`, `metrics.json`).

Each update happens under the file's lock. The file is missing: start from `empty()`.
It is damaged (not JSON, wrong shape): never silently replaced, but moved aside to
`<name>.corrupt-<time>` with one warning and rebuilt from the manifests. It is
unreadable (permissions, a directory in its place): a clear error naming it.

Both files hold the task's latest 100-200 runs, and a long-lived process (`serve`,
`mcp serve`) updates them on every call: parsing and re-encoding every record each
time cost more than running the command. So the process keeps the last version it
wrote of each file, parsed, with each record's JSON. When the file on disk is still
that very version (same inode, size and mtime, checked under the lock), the update
skips the parse and re-encodes only the records that changed. Any other writer, a
failed write, or a link in the file's place sends the next update back to the disk.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import UnreadableError

Value = dict[str, Any]
_ITEMS = "runs"  # the key of both files' records: a list (metrics.json) or an object by run id (state.json)


class _Version:
    """A file as this process last wrote it: its identity on disk, the value, and each record's JSON."""

    def __init__(self, key: tuple[int, int, int, int], value: Value, encoded: dict[int, tuple[Any, str]]) -> None:
        self.key = key
        self.value = value
        self.encoded = encoded  # id(record) -> (record, its JSON); the record is kept so its id stays unique


_versions: dict[Path, _Version] = {}
_versions_lock = threading.Lock()


def update_shared(path: Path, *, within: Path, update: Callable[[Value], Value], valid: Callable[[Any], bool],
                  empty: Callable[[], Value], rebuild: Callable[[], Value], fsync: bool) -> None:
    """Apply `update` to the file's current value and write the result, all under the file's lock.
    `update` must replace a record it changes rather than change it in place (records are cached by
    identity)."""
    from .._files import locked, sweep_temps, write_text_atomic

    with locked(path, within=within):
        sweep_temps(path.parent, within=within)
        with _versions_lock:
            kept = _versions.pop(path, None)  # taken out: back in only once the new version is on disk
        if kept is not None and _identity(path, within) == kept.key:
            current, encoded = kept.value, kept.encoded
        else:
            current, encoded = _load(path, within, valid, empty, rebuild), {}
        value = update(current)
        text, encoded = _encode(value, encoded)
        info = write_text_atomic(path, text, fsync=fsync, within=within)
        with _versions_lock:
            _versions[path] = _Version(_key(info), value, encoded)


def _load(path: Path, within: Path, valid: Callable[[Any], bool], empty: Callable[[], Value],
          rebuild: Callable[[], Value]) -> Value:
    from .._files import move_aside, read_json

    try:
        current = read_json(path, within=within)
    except FileNotFoundError:
        return empty()
    except ValueError:
        current = None
    except OSError as exc:
        raise UnreadableError(f"{path}: cannot be read ({exc.strerror}); fix its permissions or move it "
                              "away (it is rebuilt from the run manifests)") from None
    if current is not None and valid(current):
        return current  # type: ignore[no-any-return]
    kept = move_aside(path, f".corrupt-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}", within=within)
    print(f"codex-orchestrator: warning: {path} was damaged; kept as {kept.name} and rebuilt from "
          "the run manifests", file=sys.stderr)
    return rebuild()


def _identity(path: Path, within: Path) -> tuple[int, int, int, int] | None:
    """The file's identity as `lstat` sees it (a link in its place matches no version we wrote)."""
    from .._files import _directory

    try:
        with _directory(path.parent, within, create=False) as dir_fd:
            return _key(os.stat(path.name, dir_fd=dir_fd, follow_symlinks=False))
    except OSError:
        return None


def _key(info: os.stat_result) -> tuple[int, int, int, int]:
    return info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns


def _encode(value: Value, cache: dict[int, tuple[Any, str]]) -> tuple[str, dict[int, tuple[Any, str]]]:
    """The file's text (one line, as `dump_json` writes it), re-encoding only records not in `cache`."""
    encoded: dict[int, tuple[Any, str]] = {}

    def one(record: Any) -> str:
        hit = cache.get(id(record))
        text = hit[1] if hit is not None and hit[0] is record else json.dumps(record, ensure_ascii=False)
        encoded[id(record)] = (record, text)
        return text

    items = value.get(_ITEMS)
    if isinstance(items, dict):
        body = "{" + ", ".join(f"{json.dumps(k, ensure_ascii=False)}: {one(v)}" for k, v in items.items()) + "}"
    elif isinstance(items, list):
        body = "[" + ", ".join(one(v) for v in items) + "]"
    else:
        return json.dumps(value, ensure_ascii=False) + "\n", {}
    head = json.dumps({k: v for k, v in value.items() if k != _ITEMS}, ensure_ascii=False)
    return f"{head[:-1]}{', ' if len(head) > 2 else ''}\"{_ITEMS}\": {body}}}\n", encoded
