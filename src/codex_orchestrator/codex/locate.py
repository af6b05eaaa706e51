"""Where the `codex` program is: `codex.bin` (flag-free: CODEX_ORCHESTRATOR_CODEX_BIN), else `codex` on PATH.

Both come from the user alone (the repository cannot set `codex.bin`), because the
program runs outside our sandbox. A pipeline with a codex stage checks this before
the run starts, so a missing Codex is exit 2 with nothing recorded.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import UsageError

INSTALL_HINT = "install the Codex CLI (npm install -g @openai/codex) or set CODEX_ORCHESTRATOR_CODEX_BIN"


def find_codex(config: Any, env: Mapping[str, str], *, why: str) -> str:
    """The absolute path of the codex program; UsageError (exit 2) naming `why` when there is none."""
    search_path = env.get("PATH", os.defpath)
    configured = str(config.get("codex.bin") or "")
    if configured:
        source = config.settings["codex.bin"].source
        candidate = configured if "/" in configured else shutil.which(configured, path=search_path)
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return str(Path(candidate).absolute())
        raise UsageError(f"{why}, but codex.bin={configured!r} ({source}) is not an executable program; "
                         f"{INSTALL_HINT}")
    found = shutil.which("codex", path=search_path)
    if found is None:
        raise UsageError(f"{why}, but no `codex` program is on PATH; {INSTALL_HINT} (nothing was run)")
    return str(Path(found).absolute())
