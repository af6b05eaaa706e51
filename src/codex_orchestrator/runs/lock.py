"""One live orchestrator per run: an exclusive `flock` on the run's directory, held for the life of the
process that runs it.

`start` takes it when it creates the run, `resume` before it reads the manifest
it is going to continue, so two `resume`s of one run can never both execute it:
the second is refused with `BusyError` (exit 75) naming the holder. Whether a run
is still alive is asked of the lock, never of a heartbeat's age: a stopped
(`SIGSTOP`) or very slow orchestrator still holds it, and a killed one has
released it (the kernel drops an `flock` with the last descriptor, and the
descriptor is close-on-exec, so no command inherits it).

The lock is the directory itself, not a file in it: one inode less for every run (a warm server makes
a run per call, and inode allocation is what a busy file system makes slow). Runs of the three layouts
that exist on disk are told apart:

- a `.lock` file in the directory: made by a version that locked that file (manifest version 1); it
  stays that run's lock, for every version, so an older orchestrator still running it is seen;
- manifest version 2 or later: the directory is the lock;
- neither: a wave-1 run, made before runs were locked; `lock_held` says None and the caller falls back
  to the recorded pid.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._files import open_file
from ..errors import BusyError

if TYPE_CHECKING:
    from .store import RunPaths

LOCK_NAME = ".lock"  # the lock of runs made before the directory was (manifest version 1)
DIRECTORY_LOCK_VERSION = 2  # the first manifest version whose run is locked by its directory


class RunLock:
    """The held lock of one run; released by `release()` or when the process ends."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    @classmethod
    def new(cls, paths: RunPaths) -> RunLock:
        """Lock a run directory this process has just made (nobody else can hold it yet)."""
        return cls._take(_open_directory(paths), paths, holder=None)

    @classmethod
    def acquire(cls, paths: RunPaths, *, holder: int | None = None) -> RunLock:
        """Take an existing run's lock without waiting; BusyError if another live process holds it."""
        try:
            fd = open_file(paths.run_dir / LOCK_NAME, os.O_RDWR, within=paths.root)
        except FileNotFoundError:
            fd = _open_directory(paths)
        return cls._take(fd, paths, holder=holder)

    @classmethod
    def _take(cls, fd: int, paths: RunPaths, *, holder: int | None) -> RunLock:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            who = f"pid {holder}" if holder else "another process"
            raise BusyError(f"run {paths.run_id} is being run by {who}; wait for it to end, "
                            "or stop that process first") from None
        except BaseException:
            os.close(fd)
            raise
        return cls(fd)

    def release(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1


def lock_held(paths: RunPaths, manifest: Mapping[str, Any] | None = None) -> bool | None:
    """True while a live process runs `paths`; False when none does; None for a wave-1 run, made before
    runs were locked (the caller falls back to the recorded pid). `manifest`, when the caller has it read
    already, saves reading it again for a run nobody holds."""
    try:
        fd = open_file(paths.run_dir / LOCK_NAME, os.O_RDONLY, within=paths.root)
    except FileNotFoundError:
        fd = -1
    if fd >= 0:
        return _held(fd)
    try:
        fd = _open_directory(paths)
    except FileNotFoundError:
        return None
    if _held(fd):
        return True
    if manifest is None:
        from ..errors import OrchestratorError
        from .store import read_manifest_dict

        try:
            manifest = read_manifest_dict(paths)
        except (OSError, OrchestratorError):
            return False  # no readable manifest to say it is older: nothing holds it, so nothing runs it
    version = manifest.get("version")
    return False if isinstance(version, int) and version >= DIRECTORY_LOCK_VERSION else None


def _open_directory(paths: RunPaths) -> int:
    return open_file(paths.run_dir, os.O_RDONLY | os.O_DIRECTORY, within=paths.root)


def _held(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also drops the shared lock taken to ask
    return False
