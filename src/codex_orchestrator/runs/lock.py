"""One live orchestrator per run: an exclusive `flock` held for the life of the process that runs it.

`start` takes it when it creates the run, `resume` before it reads the manifest
it is going to continue, so two `resume`s of one run can never both execute it:
the second is refused with `BusyError` (exit 75) naming the holder. Whether a run
is still alive is asked of the lock, never of a heartbeat's age: a stopped
(`SIGSTOP`) or very slow orchestrator still holds it, and a killed one has
released it (the kernel drops an `flock` with the last descriptor, and the
descriptor is close-on-exec, so no command inherits it).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from typing import TYPE_CHECKING

from .._files import open_file
from ..errors import BusyError

if TYPE_CHECKING:
    from .store import RunPaths

LOCK_NAME = ".lock"


class RunLock:
    """The held lock of one run; released by `release()` or when the process ends."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    @classmethod
    def acquire(cls, paths: RunPaths, *, holder: int | None = None) -> RunLock:
        """Take the run's lock without waiting; BusyError if another live process holds it."""
        fd = open_file(paths.run_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, within=paths.root, mode=0o600)
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


def lock_held(paths: RunPaths) -> bool | None:
    """True while a live process runs `paths`; False when none does; None for a run without a lock file
    (written by an older version: the caller falls back to the recorded pid)."""
    try:
        fd = open_file(paths.run_dir / LOCK_NAME, os.O_RDONLY, within=paths.root)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also drops the shared lock taken to ask
    return False
