"""Crash-safe file writes and cross-process locks, that never follow a link into the run store.

Every file the tool writes goes through `write_*_atomic`: the bytes go to a
temporary file in the same directory, are fsynced, and the file is renamed over
the target, so a `kill -9` at any moment leaves either the old or the new
content, never a torn one. Files shared by concurrent runs are read-modified-
written inside `locked()`, an `flock` on a sibling `.lock` file (Linux only, like
the sandbox; it costs no import, unlike a lock library).

The run store lives inside the repository, which is untrusted: it may ship
`.runs` or `out/<task>/state.json` as a symlink to `~/.bashrc`. Every run-store
call passes `within=<repo root>`: the directories below it are then opened one
component at a time with `O_NOFOLLOW` (so nothing can be swapped between a check
and the write), files are created with `O_EXCL|O_NOFOLLOW`, renamed relative to
the directory's fd, and a link where a file or directory should be is refused
with `UnsafePathError` naming it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import itertools
import json
import os
import re
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

_temp_counter = itertools.count()
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


def _unsafe(path: Path, what: str) -> Exception:
    from .errors import UnsafePathError

    return UnsafePathError(f"{path}: {what}; the run store never follows a link it did not create, nor "
                           "opens anything but its own files (remove it, or move it out of the way, and run again)")


@contextlib.contextmanager
def _directory(folder: Path, within: Path | None, *, create: bool) -> Iterator[int]:
    """An fd of `folder`. With `within` (a trusted root, e.g. the repository), every component of
    `folder` below it is opened with O_NOFOLLOW, one at a time: a symlink (or a file) where a directory
    should be is refused, and nothing can swap a component between the check and the use."""
    if within is None:
        if create:
            folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder, _DIR_FLAGS)
    else:
        fd = _VERIFIED.get(folder, within)
        if fd < 0:
            fd = _walk(folder, within, create=create)
            _VERIFIED.put(folder, within, fd)
    try:
        yield fd
    finally:
        os.close(fd)


def _walk(folder: Path, within: Path, *, create: bool) -> int:
    """Open `folder` one component at a time below `within`, following no link: from its nearest ancestor
    already verified (a new run directory is one `open` below its task's `cli/`), else from `within`. The
    ancestors opened on the way are kept as verified too (the caller keeps `folder` itself)."""
    try:
        parts = folder.relative_to(within).parts
    except ValueError:
        raise _unsafe(folder, f"is not inside {within}") from None
    here, fd = within, -1
    for depth in range(len(parts) - 1, 0, -1):
        ancestor = within.joinpath(*parts[:depth])
        fd = _VERIFIED.get(ancestor, within)
        if fd >= 0:
            here, parts = ancestor, parts[depth:]
            break
    if fd < 0:
        fd = os.open(within, _DIR_FLAGS)
    try:
        for depth, part in enumerate(parts, 1):
            here = here / part
            child = _open_below(fd, part, here, create=create)
            os.close(fd)
            fd = child
            if depth < len(parts):  # kept too: a new run's directory is used next, right after its `commands/`
                _VERIFIED.put(here, within, fd)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _components(folder: Path, within: Path) -> tuple[str, ...]:
    """The paths from `within`'s first child down to `folder`; ValueError if `folder` is not below it."""
    root, here = str(within), str(folder)
    if here == root:
        return ()
    if not here.startswith(root.rstrip("/") + "/"):
        raise ValueError(f"{folder} is not inside {within}")
    parts = here[len(root.rstrip("/")) + 1 :].split("/")
    prefix = root.rstrip("/")
    out = []
    for part in parts:
        prefix = f"{prefix}/{part}"
        out.append(prefix)
    return tuple(out)


def _link_free_stat(components: tuple[str, ...]) -> os.stat_result | None:
    """`lstat` of the last of `components` if each is still a directory, not a link; else None."""
    info: os.stat_result | None = None
    try:
        for here in components:
            info = os.lstat(here)
            if not stat.S_ISDIR(info.st_mode):
                return None
    except OSError:
        return None
    return info


class _VerifiedDirs:
    """Directories already opened link-free by `_walk`, so that the next write there is two syscalls, not one
    `open` per component (a run writes its directory a dozen times; a long-lived server, thousands).

    A cached descriptor is used only while `folder` still names that very directory through directories
    alone: every component below `within` is `lstat`ed (no `open`), none may be a link, and the last must
    be the cached inode. A directory removed, replaced, renamed away or reached through a new link is
    walked again, and the walk refuses the link. Callers get a `dup`, so evicting an entry never closes a
    descriptor in use. The least recently used entry is evicted first; a directory we rename ourselves
    keeps its entries under the new name (`moved`), checked the same way.
    """

    def __init__(self, size: int = 64) -> None:
        import threading

        self._size = size
        self._lock = threading.Lock()
        # (folder, within) -> (fd, st_dev, st_ino, the components to lstat)
        self._fds: dict[tuple[str, str], tuple[int, int, int, tuple[str, ...]]] = {}

    def get(self, folder: Path, within: Path) -> int:
        key = (str(folder), str(within))
        with self._lock:
            entry = self._fds.get(key)
        if entry is None:
            return -1
        fd, dev, ino, components = entry
        info = _link_free_stat(components)
        if info is None or (info.st_dev, info.st_ino) != (dev, ino) or not components:
            self._drop(key, fd)
            return -1  # the walk decides again (and refuses a link that appeared meanwhile)
        with self._lock:
            if self._fds.get(key) != entry:
                return -1
            self._fds[key] = self._fds.pop(key)  # the most recently used is evicted last
            return os.dup(fd)

    def put(self, folder: Path, within: Path, fd: int) -> None:
        key = (str(folder), str(within))
        info = os.fstat(fd)
        components = _components(folder, within)
        kept = os.dup(fd)
        with self._lock:
            old = self._fds.pop(key, None)
            self._fds[key] = (kept, info.st_dev, info.st_ino, components)
            evicted = [self._fds.pop(k)[0] for k in list(self._fds)[: max(0, len(self._fds) - self._size)]]
        for stale in ([old[0]] if old else []) + evicted:
            os.close(stale)

    def moved(self, old: Path, new: Path, within: Path) -> None:
        """`old` was just renamed to `new` by us: what was kept for it and below it is kept under `new` (a run
        directory published under its run id keeps its two handles; `get` still checks each before use)."""
        prefix, root = str(old), str(within)
        stale: list[int] = []
        with self._lock:
            for key in [k for k in self._fds if k[1] == root and (k[0] == prefix or k[0].startswith(prefix + "/"))]:
                fd, dev, ino, _ = self._fds.pop(key)
                folder = str(new) + key[0][len(prefix):]
                try:
                    components = _components(Path(folder), within)
                except ValueError:  # not below `within` any more: walked again when used
                    stale.append(fd)
                    continue
                replaced = self._fds.pop((folder, root), None)  # what that name held before the rename
                if replaced is not None:
                    stale.append(replaced[0])
                self._fds[(folder, root)] = (fd, dev, ino, components)
        for fd in stale:
            os.close(fd)

    def _drop(self, key: tuple[str, str], fd: int) -> None:
        with self._lock:
            if self._fds.get(key, (None,))[0] == fd:
                del self._fds[key]
                os.close(fd)

    def clear(self) -> None:
        with self._lock:
            fds, self._fds = [entry[0] for entry in self._fds.values()], {}
        for fd in fds:
            os.close(fd)


_VERIFIED = _VerifiedDirs()


def _open_below(dir_fd: int, name: str, path: Path, *, create: bool) -> int:
    """Open the directory `name` in `dir_fd` without following a link; made first when missing and `create`
    (only then: a mkdir of what exists costs a syscall per component on every write)."""
    for attempt in (1, 2):
        try:
            return os.open(name, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=dir_fd)
        except FileNotFoundError:
            if not create or attempt == 2:
                raise
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, 0o755, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise _unsafe(path, "is a symbolic link or not a directory") from None
            raise
    raise AssertionError("unreachable")


def move_aside(path: Path, suffix: str, *, within: Path | None = None, to: Path | None = None) -> Path:
    """Rename `path` to `<name><suffix>` (or to `to`) in its directory: a damaged file kept for a person to
    look at, or a run directory built under a hidden name, published in one step."""
    target = to or path.with_name(path.name + suffix)
    with _directory(path.parent, within, create=False) as dir_fd:
        os.rename(path.name, target.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    if within is not None:
        _VERIFIED.moved(path, target, within)
    return target


_TEMP_NAME = re.compile(r"^\..+\.(\d+)\.\d+\.tmp$")


def sweep_temps(folder: Path, *, within: Path | None = None) -> int:
    """Remove temporary files a killed process left in `folder` (`.<name>.<pid>.<n>.tmp` whose pid is
    gone); returns how many. Cheap: one directory listing, called where files are replaced anyway."""
    removed = 0
    try:
        with _directory(folder, within, create=False) as dir_fd:
            for name in os.listdir(dir_fd):
                match = _TEMP_NAME.match(name)
                if match is None or int(match.group(1)) == os.getpid() or _pid_alive(int(match.group(1))):
                    continue
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(name, dir_fd=dir_fd)
                    removed += 1
    except (FileNotFoundError, NotADirectoryError):
        return removed
    return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def make_dirs(folder: Path, *, within: Path) -> None:
    """Create `folder` and its parents below `within`, following no link (see `_directory`)."""
    with _storage_errors(folder), _directory(folder, within, create=True):
        pass


def _refuse_link(dir_fd: int, name: str, path: Path) -> None:
    try:
        info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode):
        raise _unsafe(path, "is a symbolic link")


def _open_temp(dir_fd: int, name: str, mode: int) -> tuple[int, str]:
    """A new file beside `name`, unique to this process and call (no tempfile/random import)."""
    while True:
        tmp = f".{name}.{os.getpid()}.{next(_temp_counter)}.tmp"
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW
            return os.open(tmp, flags, mode, dir_fd=dir_fd), tmp
        except FileExistsError:  # left behind by a killed process whose pid was reused
            continue


STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.EFBIG})


@contextlib.contextmanager
def _storage_errors(path: Path) -> Iterator[None]:
    """A full disk or an I/O error while storing `path` becomes `storage_error`; other errors pass."""
    try:
        yield
    except OSError as exc:
        if exc.errno in STORAGE_ERRNOS:
            raise storage_error(path, exc) from None
        raise


def storage_error(path: Path | str, exc: OSError) -> Exception:
    """The machine could not store a run file (full disk, I/O error): StorageError, exit 74, naming it."""
    from .errors import StorageError

    hint = ""
    if exc.errno == errno.EROFS and os.environ.get("CODEX_ORCHESTRATOR_RUN_ID"):
        hint = (" (this command runs inside a sandboxed run, where the run store is read-only; "
                "a nested run needs that run's approval to leave the sandbox)")
    return StorageError(f"{path}: cannot write: {exc.strerror or exc}{hint}", str(path), exc.errno)


def write_bytes_atomic(path: Path, data: bytes, *, mode: int = 0o644, fsync: bool = True,
                       within: Path | None = None, before_replace: Callable[[], None] | None = None,
                       ) -> os.stat_result:
    """Replace `path` with `data` atomically (see `_write_bytes_atomic`); returns the new file's `fstat`."""
    with _storage_errors(path):
        return _write_bytes_atomic(path, data, mode=mode, fsync=fsync, within=within, before_replace=before_replace)


def _write_bytes_atomic(path: Path, data: bytes, *, mode: int, fsync: bool, within: Path | None,
                        before_replace: Callable[[], None] | None = None) -> os.stat_result:
    """Replace `path` with `data` atomically; the file gets `mode` from its first byte on.

    With `within`, nothing below that root is followed if it is a link (see `_directory`), and a
    symlink in `path`'s place is refused rather than replaced. `before_replace` runs once the new content
    is complete (and flushed), right before the rename: what must be in place before this file is.
    """
    with _directory(path.parent, within, create=True) as dir_fd:
        if within is not None:
            _refuse_link(dir_fd, path.name, path)
        fd, tmp = _open_temp(dir_fd, path.name, mode)
        try:
            _fill(fd, data, mode)
            if fsync:
                os.fsync(fd)
            info = os.fstat(fd)
            os.close(fd)
            fd = -1
            if before_replace is not None:
                before_replace()
            os.replace(tmp, path.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            return info
        except BaseException:
            if fd >= 0:
                os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=dir_fd)
            raise


def write_new(path: Path, data: bytes, *, within: Path, mode: int = 0o644) -> None:
    """Create `path`, which must not exist yet, holding `data`. Only for a file that is not JSON, in a
    directory that is published by one rename once complete (a run directory's resume token): there, a
    temporary file and its own rename would add nothing but two syscalls. (A `kill -9` may leave it cut
    short in a directory that is then never published.)"""
    with _storage_errors(path), _directory(path.parent, within, create=False) as dir_fd:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW
        fd = os.open(path.name, flags, mode, dir_fd=dir_fd)
        try:
            _fill(fd, data, mode)
        finally:
            os.close(fd)


def _fill(fd: int, data: bytes, mode: int) -> None:
    """Write all of `data` to a file just created; it gets `mode` exactly (O_CREAT's is filtered by the umask)."""
    os.fchmod(fd, mode)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def write_text_atomic(path: Path, text: str, *, mode: int = 0o644, fsync: bool = True,
                      within: Path | None = None) -> os.stat_result:
    return write_bytes_atomic(path, text.encode("utf-8"), mode=mode, fsync=fsync, within=within)


def dump_json(value: Any) -> str:
    """The one JSON style of files on disk: UTF-8, one line, key order as given.

    Not indented: with `indent`, the json module falls back to its pure-Python
    encoder, which made every manifest write ten times slower (`jq .` reads it fine).
    """
    return json.dumps(value, ensure_ascii=False) + "\n"


def write_json_atomic(path: Path, value: Any, *, mode: int = 0o644, fsync: bool = True,
                      within: Path | None = None, before_replace: Callable[[], None] | None = None,
                      ) -> os.stat_result:
    return write_bytes_atomic(path, dump_json(value).encode("utf-8"), mode=mode, fsync=fsync, within=within,
                              before_replace=before_replace)


class Pending:
    """A file `write_beside` is writing; `wait()` returns once it is in place, or raises what its write raised."""

    __slots__ = ("_done", "_error")

    def __init__(self) -> None:
        import threading

        self._done = threading.Event()
        self._error: BaseException | None = None

    def wait(self, *, quiet: bool = False) -> None:
        """`quiet`: only wait (the caller is already raising an error of its own)."""
        self._done.wait()
        if self._error is not None and not quiet:
            raise self._error

    def _run(self, path: Path, data: bytes, within: Path | None) -> None:
        try:
            write_bytes_atomic(path, data, within=within)
        except BaseException as exc:
            self._error = exc
        finally:
            self._done.set()


_side: tuple[int, Any] | None = None  # (pid, the queue of the side thread)


def write_beside(path: Path, data: bytes, *, within: Path | None) -> Pending:
    """Write `path` atomically, fsynced, on a side thread while the caller writes another file: two fsyncs
    in flight at once take little more than one (a run's final summary beside its final manifest)."""
    global _side
    if _side is None or _side[0] != os.getpid():  # a forked child has the queue but not the thread
        import queue
        import threading

        jobs: queue.SimpleQueue[tuple[Pending, Path, bytes, Path | None]] = queue.SimpleQueue()

        def work() -> None:
            while True:
                job = jobs.get()
                job[0]._run(*job[1:])

        threading.Thread(target=work, name="write-beside", daemon=True).start()
        _side = (os.getpid(), jobs)
    pending = Pending()
    _side[1].put((pending, path, data, within))
    return pending


def open_file(path: Path, flags: int, *, within: Path | None = None, mode: int = 0o644) -> int:
    """`os.open` of `path`; with `within`, no link is followed anywhere below that root (O_NOFOLLOW), and
    only a regular file (or a directory, when O_DIRECTORY asks for one) is opened: a FIFO, socket or
    device a repository put in the run store is refused at once, never waited on (the open is made with
    O_NONBLOCK: a FIFO without a writer would otherwise block it, past a SIGTERM); a directory where a
    file should be raises IsADirectoryError, as reading it would."""
    if within is None:
        return os.open(path, flags | os.O_CLOEXEC, mode)
    with _directory(path.parent, within, create=bool(flags & os.O_CREAT)) as dir_fd:
        try:
            fd = os.open(path.name, flags | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK, mode, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise _unsafe(path, "is a symbolic link") from None
            if exc.errno == errno.ENXIO:  # a FIFO opened for writing, with no reader
                raise _unsafe(path, "is not a regular file") from None
            raise
    kind = os.fstat(fd).st_mode
    if not (stat.S_ISREG(kind) or (flags & os.O_DIRECTORY and stat.S_ISDIR(kind))):
        os.close(fd)
        if stat.S_ISDIR(kind):  # as reading it would say: a file that cannot be read (exit 77), not a trap
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        raise _unsafe(path, "is not a regular file")
    if not flags & os.O_NONBLOCK:
        os.set_blocking(fd, True)
    return fd


def read_json(path: Path, *, within: Path | None = None) -> Any:
    fd = open_file(path, os.O_RDONLY, within=within)
    with os.fdopen(fd, "rb") as handle:
        return json.loads(handle.read())


@contextlib.contextmanager
def locked(path: Path, *, within: Path | None = None) -> Iterator[None]:
    """Hold an exclusive cross-process lock for `path` (on `path` + '.lock')."""
    lock_path = path.with_name(path.name + ".lock")
    if within is None:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = open_file(lock_path, os.O_RDWR | os.O_CREAT, within=within)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def update_json_locked(path: Path, update: Any, default: Any, *, mode: int = 0o644,
                       within: Path | None = None) -> Any:
    """Read-modify-write a shared JSON file under its lock; `update(value) -> value`.

    A file that is missing or unreadable (it can only be unreadable if someone
    else wrote it by hand) starts again from `default`.
    """
    with locked(path, within=within):
        try:
            current = read_json(path, within=within)
        except (FileNotFoundError, ValueError):
            current = default
        new = update(current)
        write_json_atomic(path, new, mode=mode, within=within)
        return new
