"""The orchestrator's side of the warm sandbox (warm.py): park one sandbox ahead of need, hand it a command.

Who is who: the *helper* (zygote.py) is a small Python process started once, from a thread of ours that
never exits; it builds each parked sandbox, whose *waiter* is our own child (`CLONE_PARENT`) and whose
*init* waits on a socket pair that only we and it hold. At most one sandbox is parked at a time.

A spawn takes the parked sandbox only if all of this holds, else it discards it (kills and reaps it, off
the call's path) and spawns the ordinary way:

* its plan equals the call's (`builtin.Plan`: namespaces, id maps, binds and their flags, every Landlock
  rule, the ABI). The call's plan comes from the layout rebuilt for this very call, so a `.git` created
  since the sandbox was parked makes the plans differ;
* every file its rules and binds named when it was built is still the one the call's paths name
  (`Confinement.identities`: st_dev and st_ino, or absence): a `.git` replaced, a writable root swapped;
* it is younger than `MAX_AGE` (it holds a copy of the mount table as it was when built);
* the call has no `pass_fds` and its command fits in `MAX_COMMAND`; stdio is the exec runtime's
  (stdin /dev/null, stdout and stderr pipes), the only shape this path is used for.

The command's argv, environment and cwd come from the call; nothing of the time of parking reaches it.
If the init cannot be reached before it has the command, the spawn falls back to the ordinary way; once
it has the command and dies without answering, the spawn is refused: never run twice, never unconfined.
"""

from __future__ import annotations

import contextlib
import functools
import marshal
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from queue import Empty, SimpleQueue
from typing import Any, BinaryIO

from .builtin import Command, Confinement, Identities, Plan, exec_error

READY_TIMEOUT = 1.0  # how long a spawn waits for a sandbox still being built before making its own
WAIT_TIMEOUT = 10.0  # the same, when a test forces every spawn through a warm sandbox
MAX_AGE = 30.0  # a parked sandbox older than this is rebuilt
IDLE_LIMIT = 600.0  # after this long without a sandboxed spawn, an expired sandbox is not rebuilt
CHECK_INTERVAL = 5.0  # how often the keeper looks for an expired sandbox
MAX_COMMAND = 1 << 16  # argv + environment + cwd; a larger command is spawned the ordinary way
MAX_MESSAGE = 1 << 16
MAX_FAILURES = 3  # helper failures (not a sandbox's own set-up failing) before this process stops trying
_BOOT = ("import sys; sys.path.insert(0, sys.argv[3]); "
         "from codex_orchestrator.sandbox.zygote import main; main(sys.argv[1:3])")


class WarmProcess:
    """The waiter of a warm sandbox, as the exec runtime sees a `Popen`: our child, leader of the command's
    process group, ending with the command's status. The init also sends that status on our socket before
    the namespaces are torn down (~2 ms of a sandboxed call): once it has, `exited()` says so, `wait()`
    returns it, and the waiter, killed with its group by the runtime, is reaped by the keeper thread."""

    def __init__(self, pid: int, stdout: int, stderr: int, sock: socket.socket,
                 reap_later: Callable[[int], None]) -> None:
        self.pid = pid
        self.stdout: BinaryIO | None = open(stdout, "rb", buffering=0)  # noqa: SIM115 (closed by the runtime)
        self.stderr: BinaryIO | None = open(stderr, "rb", buffering=0)  # noqa: SIM115
        self.returncode: int | None = None
        self._sock, self._reap_later = sock, reap_later
        self._status: int | None = None
        self._listening = True  # until the init's message (or the end of its socket) came

    def exit_fd(self) -> int:
        """Readable when the init reported the command's end (or died without a word)."""
        return self._sock.fileno()

    def exited(self) -> bool:
        """Whether the init reported the command's end; reads its message if one is waiting."""
        if self._status is None and self._listening:
            try:
                data = self._sock.recv(64, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return False
            except OSError:
                data = b""
            self._listening = False  # one message at most; without it, the waiter's own exit tells
            status = int.from_bytes(data[5:], "little", signed=True) if len(data) == 9 else -1
            if data.startswith(b"exit:") and status >= 0 and (os.WIFEXITED(status) or os.WIFSIGNALED(status)):
                self._status = status
        return self._status is not None

    def wait(self) -> int:
        """The command's return code as `Popen` gives it (negative for a signal), once."""
        if self.returncode is None:
            if self.exited():
                assert self._status is not None
                self.returncode = os.waitstatus_to_exitcode(self._status)
                self._reap_later(self.pid)
            else:
                try:
                    _, status = os.waitpid(self.pid, 0)
                    self.returncode = os.waitstatus_to_exitcode(status)
                except ChildProcessError:  # as Popen: SIGCHLD ignored, the status is lost
                    self.returncode = 0
            self._sock.close()
        return self.returncode


def _close(fds: tuple[int, int]) -> None:
    for fd in fds:
        os.close(fd)


def _failure(reply: bytes, program: str, cwd: str) -> OSError | subprocess.SubprocessError:
    """What `Popen` would have raised: the exec error (or the cwd's), else a failed set-up."""
    if reply.startswith(b"cd:"):
        error = exec_error(reply, cwd)
        return OSError(error.errno, error.strerror, cwd)
    if reply.startswith(b"OSError:"):
        return exec_error(reply, program)
    return subprocess.SubprocessError("the warm sandbox ended before it started the command")


def _reap(pid: int) -> None:
    """Kill and reap a waiter of ours: one whose command's status we already have (it only had that left to
    relay), or a parked one being discarded. Ours and unreaped, so the pid is still its."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


class _Parked:
    """One parked sandbox, from our end of its socket: the helper's and the init's messages, the hand-over."""

    def __init__(self, plan: Plan, sock: socket.socket) -> None:
        self.plan, self.sock = plan, sock
        self.born = time.monotonic()
        self.pid = 0  # the waiter, once the helper said
        self.ready: Identities | None = None  # what the sandbox confined, once its init said
        self.failed = ""  # why it will never be ready
        self.helper_failed = False  # the helper could not build it (a sandbox whose own set-up fails is not that)
        self.handed = False  # its init was given a command

    def collect(self, deadline: float, *, ready: bool = True) -> bool:
        """Read messages until the waiter's pid (and, if `ready`, the init's report) is known; False on
        failure or when `deadline` passes first."""
        while not self.failed and (self.pid == 0 or (ready and self.ready is None)):
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([self.sock], [], [], wait)[0]:
                return False
            try:
                self._note(self.sock.recv(MAX_MESSAGE))
            except (OSError, ValueError, EOFError, TypeError) as exc:
                self.failed = f"{type(exc).__name__}: {exc}"
        return not self.failed

    def _note(self, data: bytes) -> None:
        if not data:
            self.failed = "the sandbox ended during its set-up"
            return
        message: tuple[Any, ...] = marshal.loads(data)  # from the helper, or the init before any command ran
        if message[0] == "pid":
            self.pid = int(message[1])
        elif message[0] == "ready":
            self.ready = (tuple(message[1]), tuple(message[2]))
        else:
            self.failed, self.helper_failed = str(message[-1]), True

    def hand_over(self, identities: Identities, payload: bytes, program: str, cwd: str,
                  reap_later: Callable[[int], None], *, timeout: float = 1.0) -> WarmProcess | None:
        """Start the command; None if this sandbox cannot be used (then nothing ran, and the caller discards
        it). Raises OSError for an exec or cd failure as `Popen` would, `SubprocessError` if the init
        vanished once it had taken the command (it may have started it: never run twice)."""
        if not self.collect(time.monotonic() + timeout) or self.ready != identities:
            return None
        pipes = self._send(payload)
        if pipes is None:
            return None
        first = self._reply()
        if not first:  # the init died before it took the command: nothing ran
            self.handed = False
            _close(pipes)
            return None
        reply = self._reply() if first == b"got" else first
        if reply == b"ok":
            return WarmProcess(self.pid, pipes[0], pipes[1], self.sock, reap_later)
        _close(pipes)
        self.sock.close()
        reap_later(self.pid)  # it exits (255) once its namespaces are gone; not on the call's path
        raise _failure(reply, program, cwd)

    def _send(self, payload: bytes) -> tuple[int, int] | None:
        """Hand the command over with fresh stdout and stderr pipes; our read ends, or None if the init
        is gone before it had it."""
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            socket.send_fds(self.sock, [payload], [out_w, err_w])
            self.handed = True
        except OSError:
            _close((out_r, err_r))
            return None
        finally:
            _close((out_w, err_w))
        return out_r, err_r

    def _reply(self) -> bytes:
        try:
            return self.sock.recv(64)
        except OSError:
            return b""

    def discard(self) -> None:
        """Kill and reap it (blocking: the keeper thread does this, or a failed hand-over)."""
        self.collect(time.monotonic() + 5.0, ready=False)
        self.sock.close()  # an init waiting for a command sees the end of input and exits
        if self.pid > 0:
            _reap(self.pid)


class _Helper:
    """The zygote process and our end of its control socket."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        root = str(Path(__file__).resolve().parents[2])  # the directory holding the codex_orchestrator package
        env = {name: os.environ[name] for name in ("LD_LIBRARY_PATH",) if name in os.environ}
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _BOOT, str(theirs.fileno()), str(os.getpid()), root],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/", env=env,
                pass_fds=(theirs.fileno(),), start_new_session=True)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        ours.setblocking(False)  # a stuck helper must never block a spawn
        self.sock = ours

    def alive(self) -> bool:
        return self.proc.poll() is None

    def park(self, plan: Plan) -> _Parked | None:
        """Ask for a sandbox built to `plan`; None if the helper cannot take the request."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            socket.send_fds(self.sock, [marshal.dumps(tuple(plan))], [theirs.fileno()])
        except OSError:
            ours.close()
            return None
        finally:
            theirs.close()
        return _Parked(plan, ours)

    def stop(self) -> None:
        self.sock.close()  # end of input: the helper exits
        with contextlib.suppress(OSError):
            self.proc.kill()
        self.proc.wait()


class _Pool:
    """This process's parked sandbox, its helper, and the keeper thread that starts the helper, discards
    sandboxes and rebuilds expired ones. The keeper never exits: the helper's `PR_SET_PDEATHSIG`, and the
    waiters' (`CLONE_PARENT` makes the thread that started the helper their parent), follow it."""

    def __init__(self) -> None:
        self.owner = os.getpid()
        self.lock = threading.Lock()
        self.parked: _Parked | None = None
        self.helper: _Helper | None = None
        self.starting = False
        self.wanted: Plan | None = None  # to park once the helper is up
        self.failures = 0
        self.last_used = time.monotonic()
        self.jobs: SimpleQueue[Callable[[], None]] = SimpleQueue()
        threading.Thread(target=self._keep, name="codex-orchestrator-warm-sandbox", daemon=True).start()

    def take(self, plan: Plan) -> _Parked | None:
        """The parked sandbox if it was built to `plan` and is not too old; anything else is discarded."""
        now = time.monotonic()
        with self.lock:
            parked, self.parked = self.parked, None
            self.last_used = now
        if parked is not None and (parked.plan != plan or now - parked.born >= MAX_AGE):
            self.jobs.put(parked.discard)
            return None
        return parked

    def wait_for(self, plan: Plan) -> _Parked | None:
        """(Tests, `warm.mode() == "always"`.) A sandbox built to `plan`, parking one if need be."""
        deadline = time.monotonic() + WAIT_TIMEOUT
        while time.monotonic() < deadline:
            parked = self.take(plan)
            if parked is not None:
                return parked
            self.want(plan)
            with self.lock:
                if self.failures >= MAX_FAILURES:
                    return None
                if self.parked is not None:
                    continue
            time.sleep(0.005)  # the helper is starting
        return None

    def want(self, plan: Plan) -> None:
        """Have a sandbox built to `plan` parked (unless one is, or this process stopped trying)."""
        with self.lock:
            if self.failures >= MAX_FAILURES or (self.parked is not None and self.parked.plan == plan):
                return
            stale, self.parked = self.parked, None
            if self.helper is None or not self.helper.alive():
                self._restart(plan)
            else:
                self.parked = self.helper.park(plan)
                if self.parked is None:
                    self._restart(plan)
        if stale is not None:
            self.jobs.put(stale.discard)

    def _restart(self, plan: Plan) -> None:
        """(Lock held.) Have the keeper start a helper, then park `plan`."""
        self.wanted = plan
        if self.starting:
            return
        self.starting = True
        helper, self.helper = self.helper, None
        if helper is not None:
            self.failures += 1
            self.jobs.put(helper.stop)
        self.jobs.put(self._start)

    def reap_later(self, pid: int) -> None:
        """Reap a waiter of ours whose command's status we have (it exits once its namespaces are gone)."""
        self.jobs.put(functools.partial(_reap, pid))

    def failed(self, parked: _Parked) -> None:
        """A parked sandbox the helper could not build (not one whose own set-up failed)."""
        with self.lock:
            self.failures += 1
        self.jobs.put(parked.discard)

    def _start(self) -> None:
        try:
            helper: _Helper | None = _Helper()
        except (OSError, subprocess.SubprocessError):
            helper = None
        with self.lock:
            self.helper, self.starting = helper, False
            plan, self.wanted = self.wanted, None
            if helper is None:
                self.failures += 1
        if helper is not None and plan is not None:
            self.want(plan)

    def _keep(self) -> None:
        while True:
            try:
                job = self.jobs.get(timeout=CHECK_INTERVAL)
            except Empty:
                job = self._expire
            with contextlib.suppress(Exception):  # the keeper must outlive any one job
                job()

    def _expire(self) -> None:
        """Discard a sandbox parked too long, and rebuild it unless this process went idle."""
        now = time.monotonic()
        with self.lock:
            parked = self.parked
            if parked is None or now - parked.born < MAX_AGE:
                return
            self.parked = None
            idle = now - self.last_used >= IDLE_LIMIT
        parked.discard()
        if not idle:
            self.want(parked.plan)


_pool: _Pool | None = None
_pool_lock = threading.Lock()


def prestart() -> None:
    """Start the helper ahead of the first sandboxed spawn, if the built-in backend works here (its probe is
    remembered per boot, so this rarely forks)."""
    from .builtin import status

    if status()[0]:
        pool = _the_pool()
        with pool.lock:
            if pool.helper is not None or pool.starting:
                return
            pool.starting = True
        pool.jobs.put(pool._start)


def settle(timeout: float = 10.0) -> bool:
    """Discard the parked sandbox and wait until the keeper has reaped every waiter handed to it: this process
    then has no child of the warm sandbox but its helper (tests use it between tests). False on timeout."""
    pool = _pool
    if pool is None or pool.owner != os.getpid():
        return True
    with pool.lock:
        parked, pool.parked = pool.parked, None
    if parked is not None:
        pool.jobs.put(parked.discard)
    done = threading.Event()
    pool.jobs.put(done.set)
    return done.wait(timeout)


def _the_pool() -> _Pool:
    """This process's pool; a forked child of ours makes its own (the helper's waiters are not its children)."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool.owner != os.getpid():
            _pool = _Pool()
        return _pool


def spawn(confinement: Confinement, command: Command, cwd: Path, *, wait: bool = False) -> WarmProcess | None:
    """See `warm.spawn`. The next sandbox is asked for after the hand-over, whatever its outcome. `wait`
    (tests): without a parked sandbox to use, park one for this call and wait for it."""
    pool = _the_pool()
    plan = confinement.plan
    try:
        payload = None if command.keep_fds else _payload(command, cwd)
        parked = None if payload is None else pool.wait_for(plan) if wait else pool.take(plan)
        if parked is None or payload is None:
            return None
        proc = parked.hand_over(confinement.identities, payload, command.argv[0], os.fspath(cwd), pool.reap_later,
                                timeout=WAIT_TIMEOUT if wait else READY_TIMEOUT)
        if proc is None:
            if parked.helper_failed:
                pool.failed(parked)
            else:
                pool.jobs.put(parked.discard)
        else:
            pool.failures = 0  # a helper that died once in a while is no reason to stop parking
        return proc
    finally:
        pool.want(plan)


def _payload(command: Command, cwd: Path) -> bytes | None:
    """The command as the init receives it, encoded as `Popen` would encode it (and refused alike); None
    when it is too large for one message."""
    argv = [_encoded(arg) for arg in command.argv]
    env = {}
    for key, value in command.env.items():
        name = _encoded(key)
        if b"=" in name:
            raise ValueError("illegal environment variable name")
        env[name] = _encoded(value)
    where = _encoded(cwd if os.path.isabs(cwd) else os.path.join(os.getcwd(), cwd))  # as Popen's, from our cwd
    payload = marshal.dumps((argv, env, where, command.executables))
    return payload if len(payload) <= MAX_COMMAND else None


def _encoded(value: str | os.PathLike[str]) -> bytes:
    data = os.fsencode(value)
    if b"\0" in data:
        raise ValueError("embedded null byte")
    return data
