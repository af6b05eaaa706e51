"""Runtimes: how one attempt of a tool call actually runs, behind one small protocol.

The ToolOrchestrator decides *whether* and *where* (approval, sandbox, retries); a
runtime only runs what it is handed: an `Attempt` (the command, its environment, the
sandbox already prepared for it, the chunk sink) and returns a `RuntimeOutcome`. Pipes
and PTY sessions are the two runtimes today; MCP tools and Codex stages plug in the
same way, so approvals, sandboxing and records stay the same for every kind of tool.

A runtime keeps no per-call state: one orchestrator runs many calls at once (serve mode).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from .._record import record

if TYPE_CHECKING:  # pragma: no cover
    from ..exec.buffer import HeadTailBuffer
    from ..exec.cancel import CancelToken
    from ..exec.chunker import Chunk
    from ..exec.limit import OutputLimit
    from ..exec.pty_shell import PtyShell
    from ..exec.sessions import ExecSessionManager
    from ..exec.snapshot import Snapshot
    from ..sandbox import SandboxedSpawn

ChunkSink = Callable[[str, "Chunk"], None]
class Confine(Protocol):
    """Prepares the sandbox for an argv (pty=True for a terminal); None when the attempt runs unsandboxed.
    `protect`: more paths the command must not write (a PTY session's own command file)."""

    def __call__(self, argv: Sequence[str], pty: bool, /, *, protect: tuple[Path, ...] = ()) -> SandboxedSpawn | None:
        ...


@record
class Attempt:
    """Everything one attempt needs, decided by the orchestrator."""

    argv: list[str]  # what pipes mode spawns (a shell string is already `bash -c ...`)
    display: str  # the command as one shell line: what a PTY shell runs
    cwd: Path
    env: Mapping[str, str]
    confine: Confine
    on_chunk: ChunkSink
    log: BinaryIO | None
    limit: OutputLimit
    cancel: CancelToken
    timeout: float | None = None
    session_id: str | None = None  # run in this PTY session (created on first use)
    fresh_session: bool = False  # close the session first, if it exists
    yield_ms: int | None = None  # a PTY call may return while the command still runs
    # Pipes mode: start `bash -lc` from this shell snapshot instead (exec/snapshot.py); `explicit` are the
    # variables set for this command, which the profile's values do not replace.
    snapshot: Snapshot | None = None
    explicit_env: frozenset[str] = frozenset()


@record
class RuntimeOutcome:
    streams: dict[str, HeadTailBuffer]
    exit_code: int | None
    signal: int | None
    cancelled: bool
    timed_out: bool
    backend: str  # the sandbox backend it ran in ("none" outside the sandbox)
    running: bool = False  # a PTY call that yielded before the command ended


class ToolRuntime(Protocol):
    def run(self, attempt: Attempt) -> RuntimeOutcome:
        """Run one attempt to its end (or, for a session, until it yields)."""


class PipesRuntime:
    """A fresh process with stdout and stderr on pipes: the default for stages and `exec`."""

    def run(self, attempt: Attempt) -> RuntimeOutcome:
        from ..exec.process import run_pipes

        # Only the argv that is spawned changes: what the records say stays the `bash -lc` asked for.
        argv, env = attempt.argv, attempt.env
        pass_fds: tuple[int, ...] = ()
        started = attempt.snapshot.spawn(argv, env, attempt.explicit_env) if attempt.snapshot is not None else None
        if started is not None:
            argv, env, pass_fds = started.argv, started.env, started.pass_fds
        spawn = attempt.confine(argv, False)
        outcome = run_pipes(
            spawn.argv if spawn else argv, cwd=attempt.cwd, env=env,
            preexec=spawn.preexec if spawn else None, timeout=attempt.timeout, on_chunk=attempt.on_chunk,
            log=attempt.log, cancel=attempt.cancel, limit=attempt.limit, pass_fds=pass_fds,
        )
        return RuntimeOutcome(dict(outcome.streams), outcome.exit_code, outcome.signal, outcome.cancelled,
                              outcome.timed_out, spawn.backend if spawn else "none")


@record
class PtyRuntime:
    """A shell on a terminal: a one-off one, or a named session that outlives the call.

    Sessions are shared by every call of the process (each shell knows the sandbox backend it
    runs in); everything else about a call stays in the call.
    """

    sessions: ExecSessionManager

    def run(self, attempt: Attempt) -> RuntimeOutcome:
        if attempt.session_id is None:
            shell, backend = self._new_shell(attempt, f"oneshot-{os.urandom(4).hex()}")
            try:
                outcome = shell.run(attempt.display, on_chunk=attempt.on_chunk, log=attempt.log,
                                    timeout=attempt.timeout, limit=attempt.limit, cancel=attempt.cancel)
            finally:
                shell.close()
        else:
            session_id = attempt.session_id
            if attempt.fresh_session:
                self.sessions.close(session_id)

            shell = self.sessions.open(session_id, lambda: self._new_shell(attempt, session_id)[0])
            outcome = shell.run(attempt.display, on_chunk=attempt.on_chunk, log=attempt.log,
                                timeout=attempt.timeout, limit=attempt.limit, cancel=attempt.cancel,
                                yield_ms=attempt.yield_ms)
            backend = shell.sandbox_backend
        return RuntimeOutcome({"pty": outcome.buffer}, outcome.exit_code, outcome.signal, outcome.cancelled,
                              outcome.timed_out, backend, running=outcome.running)

    @staticmethod
    def _new_shell(attempt: Attempt, session_id: str) -> tuple[PtyShell, str]:
        from ..exec.pty_shell import SHELL_ARGV, PtyShell, new_script_dir

        script_dir = new_script_dir()
        try:
            spawn = attempt.confine(list(SHELL_ARGV), True, protect=(script_dir,))
        except BaseException:
            script_dir.rmdir()
            raise
        shell = PtyShell(session_id, argv=spawn.argv if spawn else SHELL_ARGV, cwd=attempt.cwd, env=attempt.env,
                         preexec=spawn.preexec if spawn else None, script_dir=script_dir)
        shell.sandbox_backend = spawn.backend if spawn else "none"
        return shell, shell.sandbox_backend
