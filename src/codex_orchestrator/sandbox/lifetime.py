"""A sandboxed command dies with the orchestrator, even by `kill -9`, even in the first millisecond.

`PR_SET_PDEATHSIG` makes the kernel send SIGKILL to the child when the process
that spawned it dies. Set in the forked child before exec, it has a race: the
orchestrator may already be gone, and the child then belongs to a reaper. So the
child compares its parent with the orchestrator's pid, recorded in the
orchestrator when the spawn is prepared, and exits if they differ. The setting
survives `exec` of bubblewrap (not setuid), whose own `--die-with-parent` then
takes the command's pid namespace down with it; the built-in backend does the
same in its waiter and its namespace's init.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable

from . import landlock

PR_SET_PDEATHSIG = 1
SIGKILL = 9
EXIT_ORPHANED = 71


def die_with(owner: int) -> None:
    """Called in a forked child: be killed when `owner` (our parent) dies; exit now if it already has."""
    landlock.libc().prctl(ctypes.c_int(PR_SET_PDEATHSIG), ctypes.c_ulong(SIGKILL), ctypes.c_ulong(0),
                          ctypes.c_ulong(0), ctypes.c_ulong(0))
    if os.getppid() != owner:
        os._exit(EXIT_ORPHANED)


def die_with_parent() -> Callable[[], None]:
    """A preexec function binding the child's life to this process."""
    owner = os.getpid()

    def preexec() -> None:
        die_with(owner)

    return preexec
