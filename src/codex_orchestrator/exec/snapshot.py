"""Shell snapshots: run the user's login profile once, then start each `bash -lc` as a plain `bash -c`.

A login shell reads /etc/profile and ~/.profile (often ~/.bashrc and `pyenv init` through it): 100 ms
or more, for every command. A long-lived caller (`serve`, `mcp serve`, the Python API, a pipeline with
several string stages) runs many; like Codex's shell snapshot, it runs the profile once per
(shell, sandbox, working directory, environment) and replays what the profile set up (docs/exec.md
"Shell snapshots"):

* **exported variables**, as the difference the profile made to the environment the snapshot shell was
  given, exported by the command's own bash (in the memfd below), never put into the environment of the
  process we start: that process may be the sandbox's wrapper (bubblewrap), and a profile's `LD_PRELOAD`
  there would run outside the sandbox. A variable the caller sets for the command itself (the request's
  env, the policy's `set`, the orchestrator's own) wins over the profile, as Codex's explicit overrides
  do: its name goes to the shell in `CODEX_ORCHESTRATOR_SNAPSHOT_KEEP`, which the memfd reads and unsets;
* **functions, aliases and shell options** (`set -o`, `shopt`) the profile changed, as bash code in a
  sealed memfd that the command's bash sources through `BASH_ENV=/proc/self/fd/N` before its script:
  its first lines unset `BASH_ENV` and close the fd, so the script never sees either.

The snapshot lives only in this process's memory (and the sealed memfd): nothing writes it to disk or
records it, and nothing a command does can change it. It is taken in the same sandbox as the commands
that use it, and only those use it (the caller's key says which, tools/orchestrator.py). Taking it
runs through the same spawn path as a command; when it fails, times out or does not validate, the
commands keep running `bash -lc`.
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .._record import record

if TYPE_CHECKING:  # pragma: no cover
    from .cancel import CancelToken
    from .chunker import Chunk

TAKE_TIMEOUT = 10.0  # seconds, for each of the three processes that take one (Codex waits 10 s too)
MAX_OUTPUT = 8 * 1024 * 1024  # a profile that prints more than this gets no snapshot
MARKER = "codex-orchestrator-shell-snapshot-v1"
# Set by bash itself for every shell, so not the profile's to replay (Codex leaves out PWD and OLDPWD).
NOT_REPLAYED = frozenset({"PWD", "OLDPWD", "SHLVL", "_"})
# Options bash itself sets differently in a login shell, or that nobody may set.
FIXED_OPTIONS = frozenset({"shopt -s login_shell", "shopt -u login_shell", "shopt -s restricted_shell",
                           "shopt -u restricted_shell"})
# With one of these in the command's environment, `bash -c` would not start like the `bash -lc` it
# replaces (BASH_ENV is ours to use; POSIXLY_CORRECT skips startup files): those commands keep `-lc`.
BLOCKING_VARS = ("BASH_ENV", "POSIXLY_CORRECT")
KEEP = "CODEX_ORCHESTRATOR_SNAPSHOT_KEEP"  # the names the command sets itself, which the profile's do not replace

# What the login shell prints after its profile: a marker (anything the profile printed comes before it),
# then NUL-separated sections (`declare -f` marks exported functions with `declare -fx NAME` lines).
# Builtins are called as `\builtin` so that an alias the profile defined cannot stand in for them.
_CAPTURE = r"""\builtin printf '\0%s\0' "$1"
\builtin shopt -p; \builtin set +o; \builtin printf '\0'
\builtin alias -p; \builtin printf '\0'
\builtin declare -f; \builtin printf '\0'
while IFS= \builtin read -r __co_name; do
  if [[ -v $__co_name ]]; then \builtin printf '%s=%s\0' "$__co_name" "${!__co_name}"; fi
done < <(\builtin compgen -e)
"""
_BASELINE = r"""\builtin shopt -p; \builtin set +o"""
_VALIDATE = r"""\builtin printf '%s' "$1" """


class SnapshotError(Exception):
    """Why no snapshot could be taken (the commands then keep `bash -lc`)."""


@record(frozen=True)
class Spawn:
    """How to start one command with a snapshot: argv, environment, and the fds it must inherit."""

    argv: list[str]
    env: dict[str, str]
    pass_fds: tuple[int, ...]


class Snapshot:
    """What one profile set up: the variables it changed, and a sealed memfd with the rest as bash code."""

    def __init__(self, shell: str, exported: Mapping[str, str], unset: Collection[str], code: str) -> None:
        self.shell = shell
        self.exported = {name: value for name, value in exported.items() if _is_name(name)}
        self.unset = frozenset(name for name in unset if _is_name(name))
        code = _variables_code(self.exported, self.unset) + code
        self.fd = _sealed_memfd(code) if code else -1
        if self.fd >= 0:
            weakref.finalize(self, _close_quietly, self.fd)

    def spawn(self, argv: Sequence[str], env: Mapping[str, str], explicit: Collection[str] = ()) -> Spawn | None:
        """`[shell, "-lc", script, ...]` as a snapshot start; None when this command must keep `-lc`.

        `explicit`: the variables the caller set for this command; the profile's values never replace them.
        """
        if len(argv) < 3 or argv[0] != self.shell or argv[1] != "-lc":
            return None
        if any(name in env or name in self.exported for name in BLOCKING_VARS):
            return None
        child = dict(env)
        fds: tuple[int, ...] = ()
        if self.fd >= 0:
            child["BASH_ENV"] = f"/proc/self/fd/{self.fd}"
            fds = (self.fd,)
            keep = sorted(name for name in explicit if name in self.exported or name in self.unset)
            if keep:
                child[KEEP] = " ".join(keep)
        return Spawn([argv[0], "-c", *argv[2:]], child, fds)


def _is_name(name: str) -> bool:
    return name.isascii() and name.isidentifier()


def _variables_code(exported: Mapping[str, str], unset: Collection[str]) -> str:
    """Bash lines that make the profile's variable changes, each skipped for a name in $KEEP, then unset KEEP."""
    import shlex

    if not exported and not unset:
        return ""
    guard = f'[[ " ${{{KEEP}-}} " == *" %s "* ]] || '
    lines = [guard % name + f"\\builtin export {name}={shlex.quote(value)}" for name, value in sorted(exported.items())]
    lines += [guard % name + f"\\builtin unset {name}" for name in sorted(unset)]
    return "\n".join([*lines, f"\\builtin unset {KEEP}"]) + "\n"


def _sealed_memfd(code: str) -> int:
    """A memfd holding `code` behind a header that unsets BASH_ENV and closes the fd (`\\command exec`: a
    redirection of `builtin exec` is not permanent), sealed: nobody, not even a process that inherits it,
    can change it."""
    import fcntl

    fd = os.memfd_create("codex-orchestrator-snapshot", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        header = f"\\builtin unset BASH_ENV; \\command exec {fd}<&-\n"
        view = memoryview((header + code).encode("utf-8", "surrogateescape"))
        while view:
            view = view[os.write(fd, view):]
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS,
                    fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _close_quietly(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


# ---------------------------------------------------------------------------------------------- taking one

Prepare = Callable[[list[str]], tuple[list[str], "Callable[[], None] | None"]]
"""The caller's spawn preparation for an argv: (what to exec, what to run in the child before exec), i.e. the
sandbox the commands that will use the snapshot run in."""


class SnapshotCancelled(SnapshotError):
    """The command waiting for the snapshot was cancelled: try again next time."""


def take(shell: str, *, cwd: Path, env: Mapping[str, str], prepare: Prepare,
         cancel: CancelToken | None = None, timeout: float | None = None) -> Snapshot:
    """Run the profile once in `shell -l` (in `prepare`'s sandbox, with `env`), and check the result starts.

    Three short processes: the options of a plain `shell -c` (to replay only what the profile changed),
    the login shell itself, and one start through the snapshot that must print our marker and nothing
    else (Codex validates its snapshot by sourcing it, too).
    """
    limit = TAKE_TIMEOUT if timeout is None else timeout
    blocking = [name for name in BLOCKING_VARS if name in env]
    if blocking:
        raise SnapshotError(f"{blocking[0]} is set: commands keep {shell} -lc")

    def run(argv: list[str], child_env: Mapping[str, str], pass_fds: tuple[int, ...] = (), *,
            quiet: bool = False) -> bytes:
        return _run(argv, cwd=cwd, env=child_env, prepare=prepare, cancel=cancel, timeout=limit,
                    pass_fds=pass_fds, quiet=quiet)

    baseline = set(_text(run([shell, "-c", _BASELINE], env)).splitlines())
    raw = _text(run([shell, "-lc", _CAPTURE, shell, MARKER], env))
    start = raw.find(f"\0{MARKER}\0")
    if start < 0:
        raise SnapshotError("the login shell did not get past its profile")
    sections = raw[start + len(MARKER) + 2:].split("\0")
    if len(sections) < 4:
        raise SnapshotError("the login shell's output was cut short")
    options, aliases, functions, variables = sections[0], sections[1], sections[2], sections[3:]
    exported, unset = _env_changes(env, variables)
    changed = [line for line in options.splitlines() if line not in baseline and line not in FIXED_OPTIONS]
    # Options last: `set -e` or `expand_aliases` must not act on the snapshot's own lines.
    code = "\n".join(part for part in (aliases.rstrip("\n"), functions.rstrip("\n"), *changed) if part)
    snapshot = Snapshot(shell, exported, unset, code + "\n" if code else "")
    spawn = snapshot.spawn([shell, "-lc", _VALIDATE, shell, MARKER], env)
    if spawn is None:
        raise SnapshotError("the profile sets BASH_ENV or POSIXLY_CORRECT: commands keep -lc")
    if _text(run(spawn.argv, spawn.env, spawn.pass_fds, quiet=True)) != MARKER:
        raise SnapshotError("a shell started from the snapshot did not run its command")
    return snapshot


def _env_changes(given: Mapping[str, str], variables: list[str]) -> tuple[dict[str, str], set[str]]:
    """What the profile exported or changed, and what it removed, against the environment it was given."""
    after: dict[str, str] = {}
    for entry in variables:
        name, sep, value = entry.partition("=")
        if sep:
            after[name] = value
    exported = {name: value for name, value in after.items()
                if name not in NOT_REPLAYED and given.get(name) != value}
    unset = {name for name in given
             if name not in after and name not in NOT_REPLAYED and _is_name(name)}
    return exported, unset


def _text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def _run(argv: list[str], *, cwd: Path, env: Mapping[str, str], prepare: Prepare, cancel: CancelToken | None,
         timeout: float, pass_fds: tuple[int, ...], quiet: bool) -> bytes:
    """stdout of one process, which must exit 0 and, if `quiet`, print nothing on stderr (the check run: a
    snapshot that makes bash complain would complain in every command's output)."""
    from ..errors import OrchestratorError
    from .process import SpawnError, run_pipes

    out: list[bytes] = []
    size = 0

    def on_chunk(stream: str, chunk: Chunk) -> None:
        nonlocal size
        size += len(chunk.data)
        if size > MAX_OUTPUT:
            raise SnapshotError(f"the profile printed more than {MAX_OUTPUT} bytes")
        if stream == "stdout":
            out.append(chunk.data)

    try:
        spawn_argv, preexec = prepare(argv)
        outcome = run_pipes(spawn_argv, cwd=cwd, env=env, preexec=preexec, timeout=timeout, on_chunk=on_chunk,
                            cancel=cancel, pass_fds=pass_fds, kill_grace=0.5)
    except (SpawnError, OrchestratorError, OSError) as exc:
        raise SnapshotError(f"could not start {argv[0]}: {exc}") from exc
    if outcome.cancelled:
        raise SnapshotCancelled("cancelled")
    if outcome.timed_out:
        raise SnapshotError(f"{argv[0]} {argv[1]} took longer than {timeout:g} s")
    stderr = outcome.streams["stderr"].render().strip()
    if outcome.exit_code != 0 or (quiet and stderr):
        raise SnapshotError(f"{argv[0]} {argv[1]} exited {outcome.exit_code}: {stderr[:200]}")
    return b"".join(out)


# ---------------------------------------------------------------------------------------------- the cache


class _Entry:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.snapshot: Snapshot | None = None
        self.failure: str | None = None


class ShellSnapshots:
    """The snapshots of one long-lived caller: each key's taken once, by the first command that needs it
    (commands that need it meanwhile wait for it); a failure is remembered, and those commands keep `-lc`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[Hashable, _Entry] = {}

    def get(self, key: Hashable, take_it: Callable[[], Snapshot], cancel: CancelToken | None = None) -> Snapshot | None:
        with self._lock:
            entry = self._entries.get(key)
            owner = entry is None
            if entry is None:
                entry = self._entries[key] = _Entry()
        if not owner:
            while not entry.done.wait(0.05):
                if cancel is not None and cancel.cancelled:
                    return None
            return entry.snapshot
        try:
            entry.snapshot = take_it()
        except SnapshotCancelled:
            self._forget(key, entry)
        except SnapshotError as exc:
            entry.failure = str(exc)
            if os.environ.get("CODEX_ORCHESTRATOR_DEBUG"):
                import sys

                print(f"codex-orchestrator: no shell snapshot, commands keep -lc: {exc}", file=sys.stderr)
        except BaseException:
            self._forget(key, entry)
            raise
        finally:
            entry.done.set()
        return entry.snapshot

    def failure(self, key: Hashable) -> str | None:
        """Why `key` has no snapshot (None: it has one, or it was not taken yet)."""
        with self._lock:
            entry = self._entries.get(key)
        return entry.failure if entry is not None else None

    def __len__(self) -> int:
        with self._lock:
            return sum(1 for entry in self._entries.values() if entry.snapshot is not None)

    def _forget(self, key: Hashable, entry: _Entry) -> None:
        with self._lock:
            if self._entries.get(key) is entry:
                del self._entries[key]

    def clear(self) -> None:
        """Forget every snapshot (a command using one keeps it open until it has started)."""
        with self._lock:
            self._entries.clear()
