"""Keeps Codex and everything it starts from outliving the orchestrator, even after a `kill -9` of it.

`PR_SET_PDEATHSIG` on our child is not enough for Codex: the npm `codex` is a Node
wrapper that starts the native binary, which starts shells, some in sessions of
their own. So a codex stage runs `python -I -S reaper.py OWNER -- codex ...`:

* the reaper asks for SIGUSR1 when its parent (the orchestrator, pid OWNER) dies,
  and exits at once if that already happened;
* it is a child subreaper, so every orphaned descendant is re-parented to it and
  stays findable;
* when the orchestrator dies it SIGKILLs every descendant; on SIGTERM/SIGINT (a
  cancel or time-out) it passes the signal on, and whatever is left when Codex
  has exited is killed too, before the reaper exits with Codex's status.

Standard library only, no site packages: it starts in a few milliseconds.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
EXIT_ORPHANED = 71
GRACE = 2.0


def descendants(root: int) -> list[int]:
    """Every live process below `root`, found through /proc (parents before children). Its own reading of
    /proc/PID/stat (the package's is `_proc.py`): this file runs as a script, outside the package."""
    parents: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2 :].split()
        parents[int(name)] = int(fields[1])
    found: list[int] = []
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found.extend(children)
        frontier.extend(children)
    return found


def kill_all(signum: int) -> None:
    for _ in range(50):  # until nothing is left (a process may fork while we look)
        pids = descendants(os.getpid())
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)
        _reap()
        time.sleep(0.01)


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        print("usage: reaper.py OWNER_PID -- PROGRAM [ARGS...]", file=sys.stderr)
        return 2
    owner = int(argv[1])
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGUSR1), 0, 0, 0)
    if os.getppid() != owner:
        return EXIT_ORPHANED

    def orphaned(signum: int, frame: object) -> None:
        kill_all(signal.SIGKILL)
        os._exit(EXIT_ORPHANED)

    child = 0

    def forward(signum: int, frame: object) -> None:
        if child:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signum)

    signal.signal(signal.SIGUSR1, orphaned)
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    try:
        child = os.posix_spawnp(argv[3], argv[3:], os.environ)
    except OSError as exc:
        print(f"codex-orchestrator: {argv[3]}: {exc.strerror}", file=sys.stderr)
        return 127 if isinstance(exc, FileNotFoundError) else 126
    while True:
        try:
            pid, status = os.waitpid(child, 0)
        except ChildProcessError:
            status = 0
            break
        except InterruptedError:
            continue
        if pid == child:
            break
    kill_all(signal.SIGTERM)
    deadline = time.monotonic() + GRACE
    while descendants(os.getpid()) and time.monotonic() < deadline:
        _reap()
        time.sleep(0.02)
    kill_all(signal.SIGKILL)
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
