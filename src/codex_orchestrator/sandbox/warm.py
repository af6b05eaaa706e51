"""The warm sandbox switch: long-lived orchestrators park the next built-in sandbox ahead of need.

A sandboxed spawn made the ordinary way forks the orchestrator, builds namespaces, mounts and a Landlock
domain, and tears two big processes down afterwards: ~9 ms. A long-lived process (`serve --stdio`,
`mcp serve`, the Python `Orchestrator`) calls `enable()`; from then on each built-in sandboxed spawn
leaves a sandbox built for the same plan waiting, and the next spawn that matches it, still names the
same files and has the exec runtime's stdio shape only hands it the command (docs/sandbox.md, "The warm
sandbox"). A one-shot CLI run never enables it, so it pays nothing: this module imports nothing heavy,
and the machinery (`warm_pool.py`, `zygote.py`) loads on the first spawn that may use it.

`CODEX_ORCHESTRATOR_WARM_SANDBOX=1` turns it on in any process, `=0` off even in a server, and `=always`
(for tests: `pytest --warm-sandbox`) on with every spawn that may use a warm sandbox waiting for one built
to its plan, so that the existing suites run their commands through the hand-over.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path

    from .builtin import Command
    from .warm_pool import WarmProcess

ENV = "CODEX_ORCHESTRATOR_WARM_SANDBOX"

_enabled = False


def enable(*, prestart: bool = True) -> None:
    """Opt this process in (long-lived processes only): sandboxes are parked from its next sandboxed spawn.
    With `prestart` (the servers), the helper that builds them starts now, in the background (if the
    built-in backend works here), so that the first sandboxed calls do not wait for it; without (the
    Python API, where a script may make one call, or none sandboxed), at the first sandboxed spawn."""
    global _enabled
    if _enabled:
        return
    _enabled = True
    if prestart and mode() == "on":
        import threading

        threading.Thread(target=_prestart, name="codex-orchestrator-warm-sandbox-start", daemon=True).start()


def _prestart() -> None:
    from . import warm_pool

    warm_pool.prestart()


Mode = Literal["off", "on", "always"]


def mode() -> Mode:
    """Whether spawns of this process may use, and park, warm sandboxes ("always": see the docstring)."""
    forced = os.environ.get(ENV)
    if forced == "always":
        return "always"
    if forced in ("0", "1"):
        return "on" if forced == "1" else "off"
    return "on" if _enabled else "off"


def active() -> bool:
    return mode() != "off"


def spawn(preexec: object, command: Command, cwd: Path) -> WarmProcess | None:
    """Start `command` in a parked sandbox that matches `preexec` (a `builtin.Confinement`) and park the next
    one; None when there is none to use (the caller then spawns the ordinary way, with `preexec`)."""
    from .builtin import Confinement

    if not active() or not isinstance(preexec, Confinement):
        return None
    from . import warm_pool

    return warm_pool.spawn(preexec, command, cwd, wait=mode() == "always")
