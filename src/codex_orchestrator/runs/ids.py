"""Task ids and run ids.

A task id names a folder under `.runs/` and `out/`, so it is validated strictly:
no path separators, no leading dot, no control characters. Run ids use the
reference orchestrator's format (an ISO timestamp with `:` and `.` turned into
`-`, then 8 hex characters), so they sort by start time.
"""

from __future__ import annotations

import os
import re
import time

from ..errors import UsageError

TASK_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
_TASK_ID = re.compile(TASK_ID_PATTERN)
_RUN_ID = re.compile(r"\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z-[0-9a-f]{8}")


def validate_task_id(value: str, source: str = "--task") -> str:
    if not _TASK_ID.fullmatch(value) or ".." in value:
        shown = value.encode("unicode_escape").decode("ascii")
        raise UsageError(
            f"invalid task id {shown!r} (from {source}): use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return value


def validate_run_id(value: str) -> str:
    if not _RUN_ID.fullmatch(value):
        shown = value.encode("unicode_escape").decode("ascii")
        raise UsageError(f"invalid run id {shown!r}: expected e.g. 2026-11-23T19-59-45-401Z-3d499af8")
    return value


def new_run_id(now: float | None = None) -> str:
    now = time.time() if now is None else now
    seconds = int(now)
    millis = int((now - seconds) * 1000)
    stamp = time.strftime("%Y-%m-%dT%H-%M-%S", time.gmtime(seconds))
    return f"{stamp}-{millis:03d}Z-{os.urandom(4).hex()}"


def resolve_task_id(flag: str | None, env: dict[str, str] | None, default: str) -> str:
    """--task, else MCP_RUNNER_TASK_ID, else the configured default."""
    if flag is not None:
        return validate_task_id(flag, "--task")
    env_value = (env or {}).get("MCP_RUNNER_TASK_ID")
    if env_value is not None:
        return validate_task_id(env_value, "MCP_RUNNER_TASK_ID")
    return validate_task_id(default, "default_task")
