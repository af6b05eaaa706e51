"""The tools the MCP server offers, and their arguments checked into typed records.

`exec_command` and `write_stdin` take exactly the input schema of Codex 0.169's own unified-exec tools
(as Codex sends them to its model), so a model that knows Codex's tools knows ours. The other four are
ours: sessions and pipeline runs. Everything a client sends is untrusted: each argument is checked here,
and a bad one is a tool error the model can read, never an exception.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

from .._record import record

SandboxPermissions = Literal["use_default", "require_escalated"]

YIELD_DEFAULT_MS = 10_000
YIELD_MIN_MS, YIELD_MAX_MS = 250, 30_000
WRITE_YIELD_DEFAULT_MS = 250
# An empty write_stdin polls: Codex waits at least 5 s. We stop at 50 s, under the 60 s an MCP client such as
# Codex gives a tool call by default (`tool_timeout_sec`); a poll returns at once when the command ends.
POLL_YIELD_MIN_MS, POLL_YIELD_MAX_MS = 5_000, 50_000
OUTPUT_TOKENS_DEFAULT = 10_000
OUTPUT_TOKENS_MAX = 100_000
PIPELINE_WAIT_DEFAULT_MS = 10_000
CMD_MAX_CHARS = 100_000
CHARS_MAX = 64 * 1024

_TOKENS = {"type": "number",
           "description": "Output token budget. Defaults to 10000 tokens; larger requests may be capped by policy."}

EXEC_COMMAND_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "cmd": {"type": "string", "description": "Shell command to execute."},
        "justification": {"type": "string",
                          "description": "User-facing approval question for `require_escalated`; omit otherwise."},
        "login": {"type": "boolean",
                  "description": "True runs the shell with -l/-i semantics; false disables them. Defaults to true."},
        "max_output_tokens": _TOKENS,
        "prefix_rule": {"type": "array", "items": {"type": "string"},
                        "description": "Reusable approval prefix for `cmd`, only with `sandbox_permissions: "
                                       "\"require_escalated\"`; for example [\"git\", \"pull\"]."},
        "sandbox_permissions": {"type": "string", "enum": ["use_default", "require_escalated"],
                                "description": "Per-command sandbox override. Defaults to `use_default`; use "
                                               "`require_escalated` for unsandboxed execution."},
        "shell": {"type": "string", "description": "Shell binary to launch. Defaults to the user's default shell."},
        "tty": {"type": "boolean",
                "description": "True allocates a PTY for the command; false or omitted uses plain pipes."},
        "workdir": {"type": "string", "description": "Working directory for the command. Defaults to the turn cwd."},
        "yield_time_ms": {"type": "number",
                          "description": "Wait before yielding output. Defaults to 10000 ms; effective range is "
                                         "250-30000 ms."},
    },
    "required": ["cmd"],
    "additionalProperties": False,
}

WRITE_STDIN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "chars": {"type": "string", "description": "Bytes to write to stdin. Defaults to empty, which polls "
                                                   "without writing."},
        "max_output_tokens": _TOKENS,
        "session_id": {"type": "number", "description": "Identifier of the running unified exec session."},
        "yield_time_ms": {"type": "number",
                          "description": "Wait before yielding output. Non-empty writes default to 250 ms and cap at "
                                         "30000 ms; empty polls wait 5000-50000 ms."},
    },
    "required": ["session_id"],
    "additionalProperties": False,
}

_SESSION_ONLY: dict[str, Any] = {
    "type": "object",
    "properties": {"session_id": {"type": "number", "description": "The session id exec_command returned."}},
    "required": ["session_id"], "additionalProperties": False,
}

TOOLS: list[dict[str, Any]] = [
    {"name": "exec_command", "schema": EXEC_COMMAND_SCHEMA,
     "description": "Runs a command in a PTY, returning output or a session ID for ongoing interaction. Every "
                    "command goes through the user's approval policy and sandbox, and is recorded as a run."},
    {"name": "write_stdin", "schema": WRITE_STDIN_SCHEMA,
     "description": "Writes characters to an existing unified exec session and returns recent output."},
    {"name": "list_sessions", "schema": {"type": "object", "properties": {}, "additionalProperties": False},
     "description": "Lists the commands still running (their session ids, commands, runs)."},
    {"name": "close_session", "schema": _SESSION_ONLY,
     "description": "Stops a running command (its whole process group) and ends its run as cancelled."},
    {"name": "run_pipeline", "schema": {
        "type": "object", "additionalProperties": False,
        "properties": {"pipeline": {"type": "string", "description": "Pipeline id; default: the default pipeline."},
                       "yield_time_ms": {"type": "number", "description": "Wait this long for the run to end "
                                                                          "before returning its id (default 10000, "
                                                                          "at most 30000)."}}},
     "description": "Starts a pipeline of the repository's config (or the built-in diagnostics) as a run; returns "
                    "its status, or its run id while it still runs (then ask run_status)."},
    {"name": "run_status", "schema": {
        "type": "object", "additionalProperties": False, "required": ["run_id"],
        "properties": {"run_id": {"type": "string"},
                       "yield_time_ms": {"type": "number", "description": "Wait up to this long for a run this "
                                                                          "server started to end (default 0)."}}},
     "description": "The status of a run of this server's task: each stage, its exit code and summary."},
]
TOOL_NAMES = frozenset(tool["name"] for tool in TOOLS)


class ToolInputError(ValueError):
    """A tool argument that is missing or of the wrong kind: returned to the model as a tool error."""


@record
class ExecCommandArgs:
    cmd: str
    workdir: str | None = None
    yield_time_ms: int = YIELD_DEFAULT_MS
    max_output_tokens: int = OUTPUT_TOKENS_DEFAULT
    tty: bool = False
    login: bool = True
    shell: str | None = None
    sandbox_permissions: SandboxPermissions = "use_default"
    justification: str | None = None
    prefix_rule: list[str] | None = None


@record
class WriteStdinArgs:
    session_id: int
    chars: str = ""
    yield_time_ms: int = WRITE_YIELD_DEFAULT_MS
    max_output_tokens: int = OUTPUT_TOKENS_DEFAULT


def parse_exec_command(raw: Mapping[str, Any] | None) -> ExecCommandArgs:
    args = _Args(raw, EXEC_COMMAND_SCHEMA)
    cmd = args.string("cmd", required=True)
    assert cmd is not None
    if not cmd.strip():
        raise ToolInputError("cmd must not be empty")
    if len(cmd) > CMD_MAX_CHARS:
        raise ToolInputError(f"cmd is longer than {CMD_MAX_CHARS} characters")
    permissions = args.string("sandbox_permissions") or "use_default"
    if permissions not in ("use_default", "require_escalated"):
        raise ToolInputError("sandbox_permissions must be use_default or require_escalated")
    prefix = args.raw.get("prefix_rule")
    if prefix is not None and (not isinstance(prefix, list) or not prefix
                               or not all(isinstance(w, str) and w for w in prefix)):
        raise ToolInputError("prefix_rule must be a non-empty array of non-empty strings")
    return ExecCommandArgs(
        cmd=cmd, workdir=args.string("workdir"),
        yield_time_ms=_clamp(args.number("yield_time_ms", YIELD_DEFAULT_MS), YIELD_MIN_MS, YIELD_MAX_MS),
        max_output_tokens=_clamp(args.number("max_output_tokens", OUTPUT_TOKENS_DEFAULT), 1, OUTPUT_TOKENS_MAX),
        tty=args.boolean("tty", default=False), login=args.boolean("login", default=True),
        shell=args.string("shell"), sandbox_permissions="require_escalated" if permissions != "use_default"
        else "use_default", justification=args.string("justification"), prefix_rule=prefix,
    )


def parse_write_stdin(raw: Mapping[str, Any] | None) -> WriteStdinArgs:
    args = _Args(raw, WRITE_STDIN_SCHEMA)
    chars = args.string("chars") or ""
    if len(chars) > CHARS_MAX:
        raise ToolInputError(f"chars is longer than {CHARS_MAX} characters")
    if chars:
        wait = _clamp(args.number("yield_time_ms", WRITE_YIELD_DEFAULT_MS), YIELD_MIN_MS, YIELD_MAX_MS)
    else:
        wait = _clamp(args.number("yield_time_ms", POLL_YIELD_MIN_MS), POLL_YIELD_MIN_MS, POLL_YIELD_MAX_MS)
    return WriteStdinArgs(session_id=session_id(raw), chars=chars, yield_time_ms=wait,
                          max_output_tokens=_clamp(args.number("max_output_tokens", OUTPUT_TOKENS_DEFAULT), 1,
                                                   OUTPUT_TOKENS_MAX))


def session_id(raw: Mapping[str, Any] | None) -> int:
    value = (raw or {}).get("session_id")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value != int(value):
        raise ToolInputError("session_id must be the integer exec_command returned")
    return int(value)


def wait_ms(raw: Mapping[str, Any] | None, default: int) -> int:
    return _clamp(_Args(raw, None).number("yield_time_ms", default), 0, YIELD_MAX_MS)


def _clamp(value: float, low: int, high: int) -> int:
    return int(max(low, min(high, value)))


class _Args:
    def __init__(self, raw: Mapping[str, Any] | None, schema: Mapping[str, Any] | None) -> None:
        if raw is not None and not isinstance(raw, Mapping):
            raise ToolInputError("the arguments must be a JSON object")
        self.raw: Mapping[str, Any] = raw or {}
        if schema is not None:
            unknown = sorted(set(self.raw) - set(schema["properties"]))
            if unknown:
                raise ToolInputError(f"unknown argument {unknown[0]!r}")

    def string(self, name: str, *, required: bool = False) -> str | None:
        value = self.raw.get(name)
        if value is None:
            if required:
                raise ToolInputError(f"{name} is required")
            return None
        if not isinstance(value, str):
            raise ToolInputError(f"{name} must be a string")
        if "\x00" in value:
            raise ToolInputError(f"{name} must not contain NUL")
        return value

    def number(self, name: str, default: float) -> float:
        value = self.raw.get(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ToolInputError(f"{name} must be a number")
        return float(value)

    def boolean(self, name: str, *, default: bool) -> bool:
        value = self.raw.get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise ToolInputError(f"{name} must be true or false")
        return value
