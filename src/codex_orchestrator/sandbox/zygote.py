"""The warm sandbox's helper process ("zygote"): it builds parked sandboxes for one orchestrator.

Started once by `warm_pool.py` as a fresh `python -I -S` that imports only the sandbox (~10 MB, against
the orchestrator's 50+): forking it is cheap, and no process it makes shares the orchestrator's memory,
so the orchestrator takes no copy-on-write faults for them. For each request (a `builtin.Plan` and one
end of a socket pair whose other end only the orchestrator holds) it:

1. builds the Landlock ruleset from the plan, noting the identity of every file a rule names;
2. clones a waiter with `CLONE_PARENT`: the waiter is the *orchestrator's* child, exactly as a waiter
   spawned the ordinary way, so `waitpid`, pidfds and the process group work unchanged in the runtime;
3. in the waiter: die with the orchestrator, `setsid`, the namespaces and read-only binds, the identity
   of every bound path as the sandbox sees it; then the init, which confines itself (private mounts,
   loopback, Landlock) and reports "ready" with those identities on the socket;
4. the init then waits for exactly one command: its argv, environment, cwd and PATH candidates, and the
   stdout/stderr pipes by `SCM_RIGHTS`. It starts it with `posix_spawn` as `builtin._spawn` does for a
   spawn made the ordinary way (same exec-error report), answers "ok", and reaps like any init; when the
   command ends it sends its wait status on the socket too, before the namespaces are torn down.

Lifetime: the helper dies with the orchestrator (`PR_SET_PDEATHSIG`, set here and checked against the
orchestrator's pid; the orchestrator spawned it from a thread that never exits, warm_pool.py), and ends
on end of input on its control socket too. A waiter dies with the orchestrator, the init with its waiter,
the command with its pid namespace.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import gc
import marshal
import os
import select
import signal
import socket
import sys
from typing import Any

from . import lifetime
from .builtin import EXIT_SETUP_FAILED, SIG_DFL, Command, Confinement, Plan, _die, _fork, _pylibc, _spawn
from .landlock import Identity

MAX_PLAN = 1 << 20
MAX_COMMAND = 1 << 17  # the orchestrator sends at most warm_pool.MAX_COMMAND bytes
CLONE_PARENT = 0x00008000
SYS_CLONE3 = 435  # the same number on every architecture
SYS_CLONE = {"x86_64": 56, "aarch64": 220}  # the older clone, where seccomp profiles refuse clone3


class _CloneArgs(ctypes.Structure):
    _fields_ = tuple((name, ctypes.c_uint64) for name in (
        "flags", "pidfd", "child_tid", "parent_tid", "exit_signal", "stack", "stack_size", "tls"))


def main(argv: list[str]) -> None:
    """`argv`: the control socket's descriptor, the orchestrator's pid."""
    control, owner = int(argv[0]), int(argv[1])
    lifetime.die_with(owner)  # exits at once if the orchestrator died before this took effect
    gc.disable()  # a handful of small objects per request; and no pass ever runs in a forked child
    os.chdir("/")  # pin no directory of the orchestrator's
    _pylibc().signal(ctypes.c_int(signal.SIGINT), ctypes.c_void_p(SIG_DFL))  # no Python handler in the init
    sock = socket.socket(fileno=control)
    while True:
        data, fds, _flags, _addr = socket.recv_fds(sock, MAX_PLAN, 1)
        if not data:  # the orchestrator is gone
            os._exit(0)
        if len(fds) == 1:
            _park(data, fds[0], owner)
        else:
            for fd in fds:
                os.close(fd)


def _send(fd: int, message: tuple[Any, ...]) -> None:
    with contextlib.suppress(OSError):
        os.write(fd, marshal.dumps(message))


def _park(data: bytes, init_end: int, owner: int) -> None:
    """Build one parked sandbox; the orchestrator learns the waiter's pid (or why not) on `init_end`."""
    try:
        confinement = Confinement.from_plan(Plan(*marshal.loads(data)), owner)
    except Exception as exc:  # a bad plan, a ruleset the kernel refused: reported, never fatal here
        _send(init_end, ("failed", f"{type(exc).__name__}: {exc}"))
        os.close(init_end)
        return
    try:
        pid = _clone_parent()
        if pid == 0:
            try:
                _waiter(confinement, init_end, owner)
            finally:
                os._exit(EXIT_SETUP_FAILED)  # never back into this loop
        _send(init_end, ("pid", pid) if pid > 0 else ("failed", f"clone: {os.strerror(ctypes.get_errno())}"))
    finally:
        os.close(init_end)
        confinement.close()


def _clone_parent() -> int:
    """fork(2), but the child's parent is the orchestrator (`CLONE_PARENT`). Raw syscalls, as
    `builtin._fork`: this process is single-threaded and `PyDLL` holds the GIL across the call, so both
    sides resume as its one thread. With `CLONE_PARENT` the child's exit signal is ours (SIGCHLD)."""
    lib = _pylibc()
    lib.syscall.restype = ctypes.c_long
    args = _CloneArgs(flags=CLONE_PARENT)
    pid = int(lib.syscall(ctypes.c_long(SYS_CLONE3), ctypes.byref(args), ctypes.c_size_t(ctypes.sizeof(args))))
    if pid < 0 and ctypes.get_errno() in (errno.ENOSYS, errno.EPERM) and os.uname().machine in SYS_CLONE:
        flags = ctypes.c_ulong(CLONE_PARENT | signal.SIGCHLD)
        pid = int(lib.syscall(ctypes.c_long(SYS_CLONE[os.uname().machine]), flags,
                              ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0)))
    return pid


def _waiter(confinement: Confinement, init_end: int, owner: int) -> None:
    """The waiter of a parked sandbox: as `Confinement._confine`, plus the identities of the bound paths,
    then an init that waits for its command. Never returns."""
    try:
        lifetime.die_with(owner)  # our parent is the orchestrator (CLONE_PARENT)
        os.setsid()  # the runtime signals the command's group by our pid, as for a waiter Popen made
        confinement.enter_namespaces()
        bound = _bound(confinement.plan)
        alive_r, alive_w = os.pipe()
        status_r, status_w = os.pipe()
        init = _fork()
        if init < 0:
            _die(b"fork")
        if init == 0:
            os.close(alive_w)
            os.close(status_r)
            _parked_init(confinement, init_end, alive_r, status_w, bound)
        confinement.wait_as_waiter(init, (alive_r, alive_w), (status_r, status_w))
    except BaseException:
        _die(b"unexpected error")


def _bound(plan: Plan) -> tuple[Identity, ...]:
    """The identity of each protected path as the sandbox sees it, once bound (None: a file that vanished);
    each must be a read-only mount by now. The orchestrator compares them with what it finds at hand-over."""
    found: list[Identity] = []
    for path, _remount, _may_vanish in plan.binds:
        try:
            info = os.stat(path, follow_symlinks=False)
        except FileNotFoundError:
            found.append(None)
            continue
        if not os.statvfs(path).f_flag & os.ST_RDONLY:
            _die(b"checking that a protected path is read-only")
        found.append((info.st_dev, info.st_ino))
    return tuple(found)


def _parked_init(confinement: Confinement, init_end: int, alive_r: int, status_w: int,
                 bound: tuple[Identity, ...]) -> None:
    """pid 1 of a parked sandbox: confine, say ready, run the one command handed over, reap. Never returns."""
    try:
        confinement.confine_init(alive_r)
        _send(init_end, ("ready", confinement.identities[0], bound))
        sock = socket.socket(fileno=init_end)
        data, fds, _flags, _addr = socket.recv_fds(sock, MAX_COMMAND, 2)
        if not data or len(fds) != 2:  # the orchestrator discarded us (or is gone): nothing to run
            os._exit(EXIT_SETUP_FAILED)
        if select.select([alive_r], [], [], 0)[0]:  # our waiter is dying (then so are we): take nothing
            os._exit(EXIT_SETUP_FAILED)
        argv, env, cwd, executables = marshal.loads(data)
        os.write(init_end, b"got")  # from here on, the orchestrator may no longer assume nothing ran
        for target, fd in ((1, fds[0]), (2, fds[1])):
            os.dup2(fd, target)
            os.close(fd)
        try:
            os.chdir(cwd)
        except OSError as exc:
            os.write(init_end, b"cd:%x:" % (exc.errno or errno.ENOENT))
            os._exit(255)
        # SIGPIPE and SIGXFSZ: what Popen's restore_signals resets (Python ignores both, and so do we: a
        # write to a closed socket must not kill this init). Its own failure is reported by _spawn.
        command = _spawn(_pylibc(), Command(executables, argv, env, (), init_end, (signal.SIGPIPE, signal.SIGXFSZ)))
        os.write(init_end, b"ok")
        confinement.reap(command, alive_r, status_w, init_end)
    except BaseException:
        _die(b"unexpected error")


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
