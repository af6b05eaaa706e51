"""Run one command with pipes, streaming its output with bounded memory and no leftovers.

Design points (see docs/exec.md):

* stdin is /dev/null, so a command that would read stdin gets EOF instead of
  hanging on whatever our own stdin happens to be.
* stdout and stderr are two pipes read by a selector in the calling thread, and
  every read is handed to `on_chunk` before the next one: a slow consumer stops
  the reading, the pipe fills, and the kernel makes the producer wait. Nothing
  queues up in memory; only the head and tail of each stream are kept.
* The command leads a new session and process group. A timeout or a cancel
  sends SIGTERM to the whole group, then SIGKILL after `kill_grace`. When the
  leader exits, whatever is left of its group (`sleep 100 &`) is killed, so a
  background child can neither survive the run nor keep its pipes open.
* Spawn failures are reported like a shell does, not raised: exit code 127
  when the program or the working directory does not exist, 126 when it cannot
  be executed, and the reason as a stderr chunk. The outcome's `pid` is 0 then.
  A failure inside the caller's `preexec` (the sandbox set-up) is not the
  command's fault and raises `SpawnError`.
* In a long-lived process a built-in sandboxed spawn may go to a sandbox
  parked ahead of need (sandbox/warm.py): same loop, same process group,
  its waiter as the leader, which learns of the command's end first.
"""

from __future__ import annotations

import contextlib
import math
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO, Protocol, runtime_checkable

from .._protocols import conforms
from .._record import field, record
from ..errors import OrchestratorError
from .buffer import HeadTailBuffer
from .chunker import Chunk, Utf8Chunker
from .limit import OutputLimit

if TYPE_CHECKING:
    from .cancel import CancelToken

ChunkSink = Callable[[str, Chunk], None]
"""Receives (stream, chunk) with stream "stdout", "stderr" or "pty", in arrival order."""

READ_SIZE = 64 * 1024
# After the leader exits and its group is killed, the pipes hit EOF at once unless
# a process that left the group (setsid) still holds them: stop waiting for it
# once the pipes have been quiet this long, or at the latest after DRAIN_MAX.
DRAIN_IDLE = 0.25
DRAIN_MAX = 5.0
# Without pidfd support the leader is polled this often while its pipes are open.
POLL_INTERVAL = 0.05


@runtime_checkable
class ExecsDirectly(Protocol):
    """A preexec that can also start the command itself (the built-in sandbox's `Confinement`): it is told
    the command before the spawn, so that `Popen`'s child never returns to exec it (docs/sandbox.md)."""

    def __call__(self) -> None: ...

    def exec_directly(self, command: Any) -> None: ...


class SpawnError(OrchestratorError):
    """The command could not be started for a reason that is not the command's (preexec failed)."""


@record
class StreamResult:
    name: str
    buffer: HeadTailBuffer

    @property
    def bytes(self) -> int:
        return self.buffer.total_bytes


@record
class ProcessOutcome:
    """How a command ended. Death by signal N gives signal=N and exit_code=128+N, like a shell."""

    exit_code: int | None
    signal: int | None
    duration_ms: float
    timed_out: bool
    cancelled: bool
    pid: int
    streams: dict[str, HeadTailBuffer] = field(default_factory=dict)
    limit: OutputLimit | None = None  # what the output limit dropped, and whether it stopped the command


def exit_status(returncode: int) -> tuple[int, int | None]:
    """(exit_code, signal) from a `Popen.returncode` (negative for a signal)."""
    if returncode < 0:
        return 128 - returncode, -returncode
    return returncode, None


def kill_group(pgid: int, signum: int) -> None:
    """Signal a command's process group. Never our own group, nor 0 or 1, which would mean
    "everyone around us": a pid of 0 from a failed spawn must not take the caller down."""
    if pgid <= 1 or pgid == os.getpgrp():
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _leader_exited(pid: int) -> bool:
    """True once the leader is a zombie; it is not reaped, so its pid (the group id) stays reserved."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return info is not None and info.si_pid == pid


def _spawn_failure(argv: Sequence[str], cwd: Path, env: Mapping[str, str], exc: OSError,
                   streams: dict[str, HeadTailBuffer], on_chunk: ChunkSink | None, log: BinaryIO | None,
                   started: float) -> ProcessOutcome:
    program = argv[0]
    if exc.filename is not None and str(exc.filename) == str(cwd):
        what, code, reason = f"cd: {cwd}", 127 if isinstance(exc, FileNotFoundError) else 126, exc.strerror
    elif "/" not in program and __import__("shutil").which(program, path=env.get("PATH", os.defpath)) is None:
        # execvpe reports EACCES if any PATH entry was unreadable; a shell still says "not found".
        what, code, reason = program, 127, "command not found"
    else:
        what, reason = program, exc.strerror
        code = 127 if isinstance(exc, FileNotFoundError | NotADirectoryError) else 126
    message = f"codex-orchestrator: {what}: {reason}\n".encode()
    streams["stderr"].append(message)
    if log is not None:
        log.write(message)
        log.flush()
    if on_chunk is not None:
        for chunk in Utf8Chunker().feed(message):
            on_chunk("stderr", chunk)
    return ProcessOutcome(code, None, (time.monotonic() - started) * 1000, False, False, 0, streams)


def run_pipes(argv: Sequence[str], *, cwd: Path, env: Mapping[str, str],
              preexec: Callable[[], None] | None = None, timeout: float | None = None,
              on_chunk: ChunkSink | None = None, log: BinaryIO | None = None,
              cancel: CancelToken | None = None, kill_grace: float = 2.0,
              buffer_limit: int = 64 * 1024, limit: OutputLimit | None = None,
              pass_fds: tuple[int, ...] = ()) -> ProcessOutcome:
    """Run `argv` to completion; see the module docstring for the guarantees. `pass_fds` are inherited
    by the command (at the same numbers); every other descriptor of ours is closed in it."""
    limit = limit or OutputLimit(0)
    started = time.monotonic()
    streams = {"stdout": HeadTailBuffer(buffer_limit), "stderr": HeadTailBuffer(buffer_limit)}
    if not argv:
        raise ValueError("run_pipes needs a non-empty argv")
    try:
        proc = _popen(argv, cwd, env, preexec, pass_fds)
    except subprocess.SubprocessError as exc:  # raised for an exception inside preexec_fn
        raise SpawnError(f"could not start {argv[0]!r}: the sandbox set-up failed ({exc})") from exc
    except OSError as exc:
        return _spawn_failure(argv, cwd, env, exc, streams, on_chunk, log, started)
    run = _PipeRun(proc, streams, limit, on_chunk, log, cancel, kill_grace,
                   deadline=started + timeout if timeout is not None else None, started=started)
    returncode = run.wait()
    exit_code, signum = exit_status(returncode)
    duration_ms = (time.monotonic() - started) * 1000
    return ProcessOutcome(exit_code, signum, duration_ms, run.timed_out, run.cancelled, proc.pid, streams, limit)


class Leader(Protocol):
    """The process `run_pipes` waits for: a `Popen`, or the waiter of a warm sandbox (sandbox/warm_pool.py)."""

    @property
    def pid(self) -> int: ...

    @property
    def stdout(self) -> IO[bytes] | None: ...

    @property
    def stderr(self) -> IO[bytes] | None: ...

    def wait(self) -> int: ...


@runtime_checkable
class ReportsExit(Protocol):
    """A leader that learns of its command's end before it exits itself (a warm sandbox's waiter, whose own
    exit waits for its namespaces to be torn down): the loop then acts on that as on the leader's exit."""

    def exit_fd(self) -> int: ...

    def exited(self) -> bool: ...


def _popen(argv: Sequence[str], cwd: Path, env: Mapping[str, str], preexec: Callable[[], None] | None,
           pass_fds: tuple[int, ...]) -> Leader:
    """Spawn with pipes in a new session. A preexec that `ExecsDirectly` is told the command, starts it
    itself, and reports an exec failure on a pipe of ours, raised here as `Popen` would raise it; in a
    long-lived process, a parked sandbox that matches it may start the command instead (sandbox/warm.py)."""
    if not conforms(preexec, ExecsDirectly):
        return subprocess.Popen(list(argv), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True, close_fds=True, preexec_fn=preexec,
                                pass_fds=pass_fds)
    from ..sandbox import warm
    from ..sandbox.builtin import Command, exec_error

    command = Command(_executables(argv[0], env), list(argv), dict(env), pass_fds, -1)
    warmed = warm.spawn(preexec, command, cwd) if warm.active() else None
    if warmed is not None:
        return warmed
    report_r, report_w = os.pipe()
    try:
        command.report_fd = report_w
        preexec.exec_directly(command)
        try:
            proc = subprocess.Popen(list(argv), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                                    close_fds=True, preexec_fn=preexec, pass_fds=pass_fds)
        finally:
            preexec.exec_directly(None)
            os.close(report_w)
        # Popen returned: the init has exec'd the command or written why it could not (then exited).
        os.set_blocking(report_r, False)
        try:
            report = os.read(report_r, 64)
        except BlockingIOError:
            report = b""
    finally:
        os.close(report_r)
    if report:
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        proc.wait()
        raise exec_error(report, argv[0])
    return proc


def _executables(program: str, env: Mapping[str, str]) -> tuple[bytes, ...]:
    """The PATH candidates, as `subprocess` computes them for `_posixsubprocess` (the child's PATH)."""
    executable = os.fsencode(program)
    if os.path.dirname(executable):
        return (executable,)
    return tuple(os.path.join(os.fsencode(directory), executable) for directory in os.get_exec_path(dict(env)))


class _PipeRun:
    """The select loop of one `run_pipes`: read both pipes, stop the group on time-out, cancel or the output
    limit, and stop waiting shortly after the leader exits (a process that escaped the group may hold the
    pipes open forever)."""

    def __init__(self, proc: Leader, streams: dict[str, HeadTailBuffer], limit: OutputLimit,
                 on_chunk: ChunkSink | None, log: BinaryIO | None, cancel: CancelToken | None,
                 kill_grace: float, *, deadline: float | None, started: float) -> None:
        assert proc.stdout is not None and proc.stderr is not None
        self.proc, self.pid = proc, proc.pid
        self.streams, self.limit, self.on_chunk, self.log = streams, limit, on_chunk, log
        self.cancel, self.kill_grace, self.deadline = cancel, kill_grace, deadline
        self.names = {proc.stdout.fileno(): "stdout", proc.stderr.fileno(): "stderr"}
        self.chunkers = {"stdout": Utf8Chunker(), "stderr": Utf8Chunker()}
        self.selector = selectors.DefaultSelector()
        self.pidfd = -1
        self.early = proc if conforms(proc, ReportsExit) else None
        self.early_fd = -1
        self.timed_out = self.cancelled = False
        self.kill_at: float | None = None  # set once SIGTERM was sent
        self.exited_at: float | None = None  # set once the leader exited and its group was killed
        self.last_data = started

    def wait(self) -> int:
        """Run the loop to its end; the leader's raw return code."""
        proc = self.proc
        assert proc.stdout is not None and proc.stderr is not None
        try:
            self._register()
            while not self._tick(time.monotonic()):
                wait = _next_wait(time.monotonic(), self.deadline if self.kill_at is None else None, self.kill_at,
                                  self.exited_at, self.last_data, polling=self.pidfd < 0)
                for key, _ in self.selector.select(wait):
                    self._ready(key.fd)
            for fd in list(self.names):
                self._close_stream(fd)
            return proc.wait()
        except BaseException:
            kill_group(self.pid, signal.SIGKILL)
            proc.wait()
            raise
        finally:
            self.selector.close()
            if self.pidfd >= 0:
                os.close(self.pidfd)
            proc.stdout.close()
            proc.stderr.close()

    def _register(self) -> None:
        for fd in self.names:
            os.set_blocking(fd, False)
            self.selector.register(fd, selectors.EVENT_READ)
        if self.cancel is not None:
            self.selector.register(self.cancel.fileno(), selectors.EVENT_READ)
        try:
            self.pidfd = os.pidfd_open(self.pid)
            self.selector.register(self.pidfd, selectors.EVENT_READ)
        except (AttributeError, OSError):
            self.pidfd = -1
        if self.early is not None:
            self.early_fd = self.early.exit_fd()
            self.selector.register(self.early_fd, selectors.EVENT_READ)

    def _exited(self) -> bool:
        """Whether the leader exited (or, for a leader that `ReportsExit`, its command did)."""
        if self.early is not None and self.early.exited():
            return True
        return _leader_exited(self.pid)

    def _tick(self, now: float) -> bool:
        """Act on the timers and flags; True when the loop is done."""
        if self.exited_at is None and self._exited():
            # Kill the rest of the group while the zombie leader still reserves its id.
            kill_group(self.pid, signal.SIGKILL)
            self.exited_at = now
            for fd in (self.pidfd, self.early_fd):
                if fd >= 0:
                    self.selector.unregister(fd)
            self.early_fd = -1
        if self.exited_at is not None and (
            not self.names or now - max(self.last_data, self.exited_at) >= DRAIN_IDLE
            or now - self.exited_at >= DRAIN_MAX
        ):
            return True  # anything still holding the pipes escaped the group; do not wait for it
        if self.cancel is not None and self.cancel.cancelled and self.kill_at is None:
            self.cancelled = True
            self._terminate(now)
        if self.deadline is not None and now >= self.deadline and self.kill_at is None:
            self.timed_out = True
            self._terminate(now)
        if self.kill_at is not None and now >= self.kill_at and self.exited_at is None:
            kill_group(self.pid, signal.SIGKILL)
            self.kill_at = math.inf
        return False

    def _terminate(self, now: float) -> None:
        """SIGTERM to the group now, SIGKILL after the grace."""
        kill_group(self.pid, signal.SIGTERM)
        self.kill_at = now + self.kill_grace

    def _ready(self, fd: int) -> None:
        if fd == self.early_fd and self.early is not None:
            self.early.exited()  # reads the one message; _tick acts on it
            self.selector.unregister(fd)
            self.early_fd = -1
            return
        if fd not in self.names:
            if self.cancel is not None and fd == self.cancel.fileno():
                self.selector.unregister(fd)  # it stays readable; the flag is checked in _tick
            return
        try:
            data = os.read(fd, READ_SIZE)
        except BlockingIOError:
            return
        if not data:
            self._close_stream(fd)
            return
        self.last_data = time.monotonic()
        name = self.names[fd]
        self.streams[name].append(data)
        kept = self.limit.admit(name, len(data))
        if kept:
            if self.log is not None:
                self.log.write(data[:kept])
                self.log.flush()
            self._emit(name, self.chunkers[name].feed(data[:kept]))
        if self.limit.kills and self.kill_at is None:
            self._terminate(time.monotonic())  # like a time-out: TERM, then KILL after the grace

    def _emit(self, name: str, chunks: list[Chunk]) -> None:
        if self.on_chunk is not None:
            for chunk in chunks:
                self.on_chunk(name, chunk)

    def _close_stream(self, fd: int) -> None:
        self.selector.unregister(fd)
        name = self.names.pop(fd)
        self._emit(name, self.chunkers[name].flush())


def _next_wait(now: float, deadline: float | None, kill_at: float | None, exited_at: float | None,
               last_data: float, polling: bool) -> float | None:
    """How long select may sleep before one of the loop's timers is due (None: until an event)."""
    due: list[float] = []
    if deadline is not None:
        due.append(deadline)
    if kill_at is not None and kill_at != math.inf:
        due.append(kill_at)
    if exited_at is not None:
        due.append(max(last_data, exited_at) + DRAIN_IDLE)
        due.append(exited_at + DRAIN_MAX)
    if polling and exited_at is None:
        due.append(now + POLL_INTERVAL)
    if not due:
        return None
    return max(0.0, min(due) - now)


__all__ = ["ChunkSink", "ProcessOutcome", "SpawnError", "StreamResult", "run_pipes"]
