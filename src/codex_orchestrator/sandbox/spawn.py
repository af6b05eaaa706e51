"""`prepare()`: turn a policy and a command into something the exec runtime can spawn.

The runtime owns the spawn (pipes, PTY, process group); the sandbox only hands
back the argv to exec and a callable to run in the child before exec. Either
the returned spawn enforces the policy or `prepare()` raises: there is no
"best effort" path that would run a command unconfined while reporting it as
sandboxed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from .._record import record
from ..errors import ConfigError, SandboxUnavailableError
from .policy import SandboxMode, SandboxPolicy

BACKENDS = ("builtin", "bwrap")


@record(frozen=True)
class SandboxedSpawn:
    argv: list[str]  # what to exec (wrapped for bwrap)
    preexec: Callable[[], None] | None  # to run in the child between fork and exec (built-in backend)
    backend: str  # "builtin" | "bwrap" | "none"
    sandboxed: bool
    policy: SandboxPolicy


def backend_status(name: str) -> tuple[bool, str]:
    """(usable, why) for one backend; probed for real once per process."""
    if name == "builtin":
        from . import builtin

        return builtin.status()
    from . import bwrap

    found = bwrap.info()
    return found.usable, found.reason


def default_backend() -> str:
    """The built-in backend when it works here, else bubblewrap; fail closed when neither does.

    The built-in one is preferred: it needs no external program, spawns faster
    (no helper exec; docs/sandbox.md has the numbers), and Landlock limits
    writes to device nodes as well, which bwrap's PTY mode cannot.
    """
    reasons = []
    for name in BACKENDS:
        usable, reason = backend_status(name)
        if usable:
            return name
        reasons.append(f"{name}: {reason}")
    raise SandboxUnavailableError("no sandbox backend works on this machine (" + "; ".join(reasons) + "); "
                                  "refusing to run unconfined. See `codex-orchestrator sandbox check`.")


def prepare(policy: SandboxPolicy, argv: Sequence[str], cwd: Path, layout_env: Mapping[str, str], *,
            backend: str = "auto", pty: bool = False) -> SandboxedSpawn:
    """`layout_env` is the *trusted* environment the layout is computed from (`$TMPDIR`): the
    orchestrator's own, never the one the command gets, which a stage or repo could set."""
    if policy.mode is SandboxMode.DANGER_FULL_ACCESS:
        return SandboxedSpawn(list(argv), None, "none", False, policy)
    if backend != "auto" and backend not in BACKENDS:
        raise ConfigError(f"sandbox_backend: unknown backend {backend!r} (expected auto, builtin or bwrap)")
    from .layout import build_layout

    name = default_backend() if backend == "auto" else backend
    layout = build_layout(policy, Path(os.path.abspath(cwd)), layout_env)
    if name == "builtin":
        from . import builtin

        return SandboxedSpawn(list(argv), builtin.wrap(layout), "builtin", True, policy)
    from . import bwrap
    from .lifetime import die_with_parent

    wrapped = bwrap.wrap(layout, argv, Path(os.path.abspath(cwd)), pty=pty)
    # bwrap's --die-with-parent covers its namespace; this covers bwrap itself, race-free.
    return SandboxedSpawn(wrapped, die_with_parent(), "bwrap", True, policy)
