"""A long-lived shell on a real pseudo-terminal, so `cd`, `export` and functions persist.

The end-marker protocol (docs/exec.md has the long version):

* The shell is an interactive bash without line editing, on a PTY whose echo is
  off, so the terminal gives back only what commands print. ONLCR is off too:
  a command's `\\n` arrives as `\\n`, as it would through a pipe.
* A command is written to a private file and the shell is sent the single line
  `. <file>`. The shell reads that one line, so anything the command itself reads
  from its stdin (the terminal) comes from `write_stdin`, never from the rest of
  our input; and a command of any length or number of lines fits (a terminal line
  is capped at 4095 bytes). The file's folder (`new_script_dir`) is bound read-only
  by the session's sandbox, so nothing the session runs (a job an earlier command
  left in the background) can rewrite a later command between our write and the
  shell's read: what the run records is what runs. It is rewritten in place: the
  shell reads it only once the write is done.
* The end of a command is the shell's next prompt, `\\x1e co-end:<token> \\x1e` (without the
  spaces). Its exit status does **not** travel on the terminal, which anything the command
  runs can write to: PROMPT_COMMAND takes `$?`, draws a fresh random token (`$SRANDOM`, after the
  command ended, never exported), writes `<token> <status>` to a private status pipe, and only then
  prints the prompt carrying the same token. A marker counts only when its token is the one the pipe
  delivered; a program that prints a look-alike marker cannot know the token, and its text stays
  output. The pipe's descriptor is closed for the command itself (`. script N>&-`), so no program
  the command starts inherits it. A prompt appears after a command however it ended, including
  after an interrupt that aborts the rest of the line. The literal PS1 text holds `\\036`, not the
  byte 0x1E, so printing the variable can never fake a marker.
* The marker is cut out of the output even when it arrives split across reads:
  a trailing fragment that could be the start of a marker is held back until
  the next read decides.
* Timeout or cancel sends SIGINT to the terminal's foreground process group (the
  shell itself for a builtin loop), then SIGKILL to that group after
  `kill_grace`; the shell survives and reports 130 or 137 at its next prompt.
  If the shell itself does not come back, the session is closed.
* A command that runs `exit` ends the session: `alive` becomes False and the
  outcome carries the shell's exit status.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import selectors
import shlex
import signal
import struct
import subprocess
import tempfile
import termios
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from .._record import field, record
from ..errors import OrchestratorError
from .buffer import HeadTailBuffer
from .chunker import Chunk, Utf8Chunker
from .process import ChunkSink, SpawnError, exit_status, kill_group

if TYPE_CHECKING:
    from .cancel import CancelToken
    from .limit import OutputLimit

SHELL_ARGV: list[str] = ["/bin/bash", "--noprofile", "--norc", "--noediting"]

YIELD_MIN_MS = 250
YIELD_MAX_MS = 30_000
START_TIMEOUT = 10.0
WINDOW_ROWS, WINDOW_COLS = 40, 200
READ_SIZE = 64 * 1024
# After the shell exits, background jobs may still hold the terminal open; read what the
# shell itself wrote and stop once the terminal has been quiet this long.
EXIT_DRAIN_IDLE = 0.1
MARKER_START = b"\x1e"


class SessionBusyError(OrchestratorError):
    """`run` was called while the previous command of the session is still running."""


class SessionClosedError(OrchestratorError):
    """The session's shell has exited or was closed."""


@record
class PtyOutcome:
    """Result of one `run` or `write_stdin` call; `buffer` holds the output of this call only."""

    running: bool
    exit_code: int | None
    signal: int | None
    duration_ms: float
    timed_out: bool
    cancelled: bool
    buffer: HeadTailBuffer = field(default_factory=HeadTailBuffer)


def clamp_yield_ms(yield_ms: int) -> int:
    return max(YIELD_MIN_MS, min(YIELD_MAX_MS, yield_ms))


TOKEN_DIGITS = 24  # at most: two $SRANDOM values (each < 2**32) side by side


class _MarkerScanner:
    """Finds `\\x1e co-end:<token> \\x1e` in a byte stream split arbitrarily across reads."""

    def __init__(self) -> None:
        self._prefix = MARKER_START + b"co-end:"
        self._pattern = re.compile(re.escape(self._prefix) + rb"(\d{1,%d})\x1e" % TOKEN_DIGITS)
        self._pending = b""

    def feed(self, data: bytes) -> tuple[bytes, bytes | None, bytes]:
        """(output before any marker, the marker's text or None, bytes after the marker)."""
        buf = self._pending + data
        self._pending = b""
        match = self._pattern.search(buf)
        if match:
            return buf[: match.start()], match.group(0), buf[match.end() :]
        start = buf.rfind(MARKER_START, max(0, len(buf) - len(self._prefix) - TOKEN_DIGITS - 1))
        if start >= 0 and self._could_start_marker(buf[start:]):
            self._pending = buf[start:]
            return buf[:start], None, b""
        return buf, None, b""

    @staticmethod
    def token(marker: bytes) -> str:
        return marker[len(MARKER_START + b"co-end:") : -1].decode("ascii")

    def _could_start_marker(self, fragment: bytes) -> bool:
        if len(fragment) <= len(self._prefix):
            return self._prefix.startswith(fragment)
        digits = fragment[len(self._prefix) :]
        return fragment.startswith(self._prefix) and len(digits) <= TOKEN_DIGITS and digits.isdigit()

    def take_pending(self) -> bytes:
        pending, self._pending = self._pending, b""
        return pending


@record
class _Call:
    """Book-keeping of one `run`/`write_stdin` call."""

    on_chunk: ChunkSink | None
    log: BinaryIO | None
    started: float
    buffer: HeadTailBuffer = field(default_factory=HeadTailBuffer)
    limit: OutputLimit | None = None


class PtyShell:
    """One shell session; see the module docstring for the protocol. Calls are serialised by a lock."""

    def __init__(self, session_id: str, *, argv: Sequence[str] = SHELL_ARGV, cwd: Path,
                 env: Mapping[str, str], preexec: Callable[[], None] | None = None,
                 kill_grace: float = 2.0, script_dir: Path | None = None) -> None:
        """`script_dir`: a folder from `new_script_dir` that the sandbox of `preexec` keeps read-only (one is
        made when not given); the shell owns it from here on and removes it when it ends."""
        self.session_id = session_id
        self.sandbox_backend = "none"  # set by whoever confined it (tools/runtime.py)
        self.created_at = time.time()
        self.last_used = self.created_at
        self.kill_grace = kill_grace
        self._lock = threading.Lock()
        self._scanner = _MarkerScanner()
        # The exit status channel: the shell writes `<token> <status>` here before each prompt.
        self._status_r, self._status_w = os.pipe2(os.O_CLOEXEC)
        os.set_blocking(self._status_r, False)
        self._statuses = b""
        self._chunker = Utf8Chunker()
        self._leftover = b""  # bytes read after a marker: background output, reported with the next call
        self._input = b""  # bytes for the terminal not yet accepted by it
        self._running = False  # a command was sent and its marker has not arrived
        self._deadline: float | None = None
        self._kill_at: float | None = None
        self._timed_out = self._cancelled = False
        self._exit_status: int | None = None
        self._dir = script_dir or new_script_dir()
        self._script = self._dir / "command.sh"
        self._script_fd = -1
        master, slave = os.openpty()
        try:
            self._script_fd = os.open(self._script, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                                      0o600)
            self._saved_attrs = self._configure_terminal(slave)
            self._proc = subprocess.Popen(
                list(argv), cwd=cwd, env={**env, "HISTFILE": ""}, stdin=slave, stdout=slave, stderr=slave,
                start_new_session=True, close_fds=True, preexec_fn=_controlling_terminal(preexec),
                pass_fds=(self._status_w,),
            )
        except BaseException as exc:
            os.close(master)
            os.close(self._status_r)
            os.close(self._status_w)
            if self._script_fd >= 0:
                os.close(self._script_fd)
            _remove_tree(self._dir)
            if isinstance(exc, subprocess.SubprocessError):
                raise SpawnError(f"could not start the shell: the sandbox set-up failed ({exc})") from exc
            if isinstance(exc, OSError):
                raise SpawnError(f"could not start the shell {argv[0]!r}: {exc.strerror}") from exc
            raise
        finally:
            os.close(slave)
        os.close(self._status_w)  # the shell holds it now; EOF here means the shell is gone
        self._master = master
        self.pid = self._proc.pid
        os.set_blocking(master, False)
        self._start()

    # -- public API -------------------------------------------------------------------------------

    @property
    def alive(self) -> bool:
        return self._master >= 0

    @property
    def running(self) -> bool:
        """True while a command yielded and still waits for `write_stdin` or to finish."""
        return self._running

    def run(self, command: str, *, on_chunk: ChunkSink | None = None, log: BinaryIO | None = None,
            timeout: float | None = None, yield_ms: int | None = None,
            cancel: CancelToken | None = None, limit: OutputLimit | None = None) -> PtyOutcome:
        """Run `command` in the session; return when it ends, or after `yield_ms` with running=True."""
        with self._lock:
            self._check_usable()
            if self._running:
                raise SessionBusyError(f"session {self.session_id} is still running a command")
            call = _Call(on_chunk, log, time.monotonic(), limit=limit)
            # Restore the terminal (a previous command may have left echo on or raw mode).
            termios.tcsetattr(self._master, termios.TCSANOW, self._saved_attrs)
            _rewrite(self._script_fd, command.encode())
            self._running = True
            self._timed_out = self._cancelled = False
            self._deadline = call.started + timeout if timeout is not None else None
            self._kill_at = None
            self._input += f" . {shlex.quote(str(self._script))} {self._status_w}>&-\n".encode()
            return self._collect(call, yield_ms, cancel)

    def write_stdin(self, chars: str, *, on_chunk: ChunkSink | None = None, log: BinaryIO | None = None,
                    yield_ms: int = 250, cancel: CancelToken | None = None) -> PtyOutcome:
        """Type `chars` into the running command ("" only polls) and collect output until it ends or yields."""
        with self._lock:
            self._check_usable()
            if not self._running and chars:
                raise OrchestratorError(f"session {self.session_id} has no running command to write to")
            call = _Call(on_chunk, log, time.monotonic())
            self._input += chars.encode()
            return self._collect(call, yield_ms, cancel)

    def send_input(self, chars: str, timeout: float = 2.0) -> None:
        """Type `chars` into the command that a `run` in another thread is waiting on.

        Written straight to the terminal without the call lock (the running call holds it); a
        full terminal is waited on for at most `timeout` seconds.
        """
        if not self._running or not self.alive:
            raise OrchestratorError(f"session {self.session_id} has no running command to write to")
        data = chars.encode()
        deadline = time.monotonic() + timeout
        while data:
            try:
                data = data[os.write(self._master, data):]
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise OrchestratorError(f"session {self.session_id}: the terminal does not accept input") from None
                time.sleep(0.01)
            except OSError as exc:
                raise SessionClosedError(f"session {self.session_id} is closed ({exc.strerror})") from None

    def close(self) -> None:
        """End the shell and everything in its session; idempotent."""
        with self._lock:
            self._shutdown()

    def __enter__(self) -> PtyShell:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals --------------------------------------------------------------------------------

    @staticmethod
    def _configure_terminal(slave: int) -> list[Any]:
        """Set the terminal modes every command starts with; returns them to restore later."""
        attrs = termios.tcgetattr(slave)
        attrs[1] &= ~termios.ONLCR  # oflag: keep "\n" as written
        attrs[3] &= ~(termios.ECHO | termios.ECHONL)  # lflag: do not echo our input back
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", WINDOW_ROWS, WINDOW_COLS, 0, 0))
        return attrs

    def _start(self) -> None:
        ps1 = r"\036co-end:${__co_t}\036"
        prompt_command = (f"__co_s=$?; __co_t=$SRANDOM$SRANDOM; PS1={shlex.quote(ps1)}; "
                          f'printf "%s %s\\n" "$__co_t" "$__co_s" >&{self._status_w}')
        init = (
            " unset HISTFILE MAILCHECK; set +o history +o emacs +o vi; shopt -s promptvars; PS0=''; PS2=''; "
            f"export -n PS1 PROMPT_COMMAND __co_s __co_t; PROMPT_COMMAND={shlex.quote(prompt_command)}\n"
        )
        self._input = init.encode()
        self._running = True
        self._deadline = time.monotonic() + START_TIMEOUT
        outcome = self._collect(_Call(None, None, time.monotonic()), None, None)
        if not self.alive or outcome.timed_out:
            self._shutdown()
            raise SpawnError(f"the shell of session {self.session_id} did not start")
        # The shell's first prompt, in its default form, was part of the start-up output discarded here.

    def _check_usable(self) -> None:
        if not self.alive:
            raise SessionClosedError(f"session {self.session_id} is closed")
        self.last_used = time.time()

    def _collect(self, call: _Call, yield_ms: int | None, cancel: CancelToken | None) -> PtyOutcome:
        """Feed pending input and read output until the marker, the yield time, or the shell's exit."""
        yield_at = call.started + clamp_yield_ms(yield_ms) / 1000 if yield_ms is not None else None
        status: int | None = None
        if self._leftover:
            leftover, self._leftover = self._leftover, b""
            status = self._absorb(call, leftover)
        selector = selectors.DefaultSelector()
        try:
            if cancel is not None:
                selector.register(cancel.fileno(), selectors.EVENT_READ)
            if self.alive:
                selector.register(self._master, selectors.EVENT_READ)
            while status is None and self._running and self.alive:
                now = time.monotonic()
                if cancel is not None and cancel.cancelled and not (self._cancelled or self._timed_out):
                    self._cancelled = True
                    self._interrupt(now)
                if call.limit is not None and call.limit.kills and self._kill_at is None:
                    self._interrupt(now)  # on_output_limit = "kill": stopped like a time-out
                if self._deadline is not None and now >= self._deadline and self._kill_at is None:
                    self._timed_out = True
                    self._interrupt(now)
                if self._kill_at is not None and now >= self._kill_at:
                    self._kill_foreground()
                    continue  # the loop condition notices a session that had to be closed
                if yield_at is not None and now >= yield_at:
                    break
                # Ask to write only while there is input: a terminal is nearly always writable.
                selector.modify(self._master, selectors.EVENT_READ | (selectors.EVENT_WRITE if self._input else 0))
                due = [t for t in (yield_at, self._deadline if self._kill_at is None else None,
                                   self._kill_at) if t is not None]
                wait = max(0.0, min(due) - now) if due else None
                for key, mask in selector.select(wait):
                    if key.fd == self._master and mask & selectors.EVENT_WRITE:
                        self._write_input()
                    if key.fd == self._master and mask & selectors.EVENT_READ:
                        status = self._read(call)
                        if status is not None or not self.alive:
                            break
                    if cancel is not None and key.fd == cancel.fileno():
                        selector.unregister(key.fd)  # stays readable; the flag is checked above
        finally:
            selector.close()
        return self._outcome(call, status)

    def _absorb(self, call: _Call, data: bytes) -> int | None:
        """Pass output through the marker scanner; returns the command's status once its real marker came.

        A marker whose token the status pipe did not deliver was printed by a program: it is output."""
        while True:
            output, marker, after = self._scanner.feed(data)
            if marker is None:
                self._emit(call, self._chunker.feed(output) if output else [])
                return None
            status = self._status_for(_MarkerScanner.token(marker))
            if status is not None:
                self._emit(call, self._chunker.feed(output) if output else [])
                self._leftover = after
                self._emit(call, self._chunker.flush())
                return status
            self._emit(call, self._chunker.feed(output + marker))
            data = after

    def _status_for(self, token: str) -> int | None:
        """The status the shell reported with `token`. It wrote the pipe before printing the prompt, so by
        the time its marker is read the line is there."""
        with contextlib.suppress(BlockingIOError, OSError):
            while chunk := os.read(self._status_r, 4096):
                self._statuses += chunk
        lines = self._statuses.split(b"\n")
        for index, line in enumerate(lines[:-1]):
            got, _, status = line.decode("ascii", "replace").partition(" ")
            if got == token and status.isdigit():
                self._statuses = b"\n".join(lines[index + 1 :])
                return int(status)
        return None

    def _emit(self, call: _Call, chunks: list[Chunk]) -> None:
        for chunk in chunks:
            call.buffer.append(chunk.data)
            if call.limit is not None and not call.limit.admit_whole("pty", len(chunk.data)):
                continue
            if call.log is not None:
                call.log.write(chunk.data)
                call.log.flush()
            if call.on_chunk is not None:
                call.on_chunk("pty", chunk)

    def _read(self, call: _Call) -> int | None:
        try:
            data = os.read(self._master, READ_SIZE)
        except BlockingIOError:
            return None
        except OSError:  # EIO: every process holding the terminal is gone
            data = b""
        if data:
            return self._absorb(call, data)
        self._shell_exited(call)
        return None

    def _write_input(self) -> None:
        try:
            written = os.write(self._master, self._input)
        except BlockingIOError:
            return
        except OSError:
            self._input = b""
            return
        self._input = self._input[written:]

    def _interrupt(self, now: float) -> None:
        self._input = b""
        self._signal_foreground(signal.SIGINT)
        self._kill_at = now + self.kill_grace

    def _kill_foreground(self) -> None:
        """The interrupt was ignored: kill the foreground job, or the whole session if that is the shell."""
        self._kill_at = None
        self._deadline = None
        if self._foreground() in (None, self.pid):
            self._shutdown()
        else:
            self._signal_foreground(signal.SIGKILL)

    def _foreground(self) -> int | None:
        try:
            return os.tcgetpgrp(self._master)
        except OSError:
            return None

    def _signal_foreground(self, signum: int) -> None:
        group = self._foreground()
        if not group or group == self.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)  # a builtin loop runs in the shell itself
        else:
            kill_group(group, signum)

    def _shell_exited(self, call: _Call) -> None:
        """The terminal hung up: collect the last bytes and the shell's status, then clean up."""
        deadline = time.monotonic() + EXIT_DRAIN_IDLE
        while time.monotonic() < deadline:
            try:
                data = os.read(self._master, READ_SIZE)
            except BlockingIOError:
                time.sleep(0.01)
                continue
            except OSError:
                break
            if not data:
                break
            self._absorb(call, data)
            deadline = time.monotonic() + EXIT_DRAIN_IDLE
        self._absorb(call, self._scanner.take_pending())
        self._emit(call, self._chunker.flush())
        self._shutdown()

    def _shutdown(self) -> None:
        if self._master < 0:
            return
        self._running = False
        _kill_session(self.pid)
        returncode = self._proc.wait()
        os.close(self._master)
        os.close(self._status_r)
        os.close(self._script_fd)
        self._master = -1
        self._exit_status = returncode
        _remove_tree(self._dir)

    def _outcome(self, call: _Call, status: int | None) -> PtyOutcome:
        duration_ms = (time.monotonic() - call.started) * 1000
        if status is not None:
            self._running = False
            self._deadline = self._kill_at = None
            signum = status - 128 if 128 < status < 128 + 65 else None
            outcome = PtyOutcome(False, status, signum, duration_ms, self._timed_out, self._cancelled,
                                 call.buffer)
            self._timed_out = self._cancelled = False
            return outcome
        if not self.alive:
            code, signum = exit_status(self._exit_status) if self._exit_status is not None else (None, None)
            return PtyOutcome(False, code, signum, duration_ms, self._timed_out, self._cancelled, call.buffer)
        return PtyOutcome(self._running, None, None, duration_ms, self._timed_out, self._cancelled, call.buffer)


def _controlling_terminal(preexec: Callable[[], None] | None) -> Callable[[], None]:
    """Child-side set-up: make the PTY (already fd 0, after setsid) the controlling terminal, then sandbox."""

    def setup() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        if preexec is not None:
            preexec()

    return setup


def _kill_session(sid: int) -> None:
    """SIGKILL every process of session `sid` (background jobs live in their own groups), leader last."""
    if sid <= 1 or sid == os.getsid(0):
        return
    from .._proc import SESSION, processes

    for pid, fields in processes():
        if pid != sid and int(fields[SESSION]) == sid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.kill(sid, signal.SIGKILL)


def new_script_dir() -> Path:
    """The private folder (mode 700) of a session's command file; give it to the sandbox to keep read-only."""
    return Path(tempfile.mkdtemp(prefix="codex-orch-pty-"))


def _rewrite(fd: int, data: bytes) -> None:
    """The command file's new content, in place: no new file (and no freed one) per command."""
    view = memoryview(data)
    offset = 0
    while offset < len(data):
        offset += os.pwrite(fd, view[offset:], offset)
    os.ftruncate(fd, len(data))


def _remove_tree(path: Path) -> None:
    import shutil  # only on close: keeps shutil (and its compression imports) off the start-up path

    shutil.rmtree(path, ignore_errors=True)
