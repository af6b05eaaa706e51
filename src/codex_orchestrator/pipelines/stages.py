"""One stage of a repo config: `{kind: "command", ...}` or `{kind: "subpipeline", ...}`.

The keys are the reference orchestrator's (`kind`, `id`, `title`, `command`, `cwd`, `env`,
`allowFailure`, `session`, `timeoutMs`, `summaryHint`; `pipeline`, `optional`), so an existing
config works unchanged; `timeout`, `escalate`, `justification` and `retryOnExitCodes` are ours.
`kind: "stage-set"` references are expanded before a stage gets here (stage_sets.py); our
`kind: "codex"` stage is parsed by codex_spec.py (docs/codex.md).
"""

from __future__ import annotations

from typing import Any

from .model import CommandStage, SessionSpec, Stage, SubpipelineStage
from .reader import Reader, did_you_mean

COMMAND_KEYS = frozenset({"kind", "id", "title", "description", "command", "cwd", "env", "allowFailure", "session",
                          "timeout", "timeoutMs", "summaryHint", "escalate", "justification", "retryOnExitCodes"})
SUBPIPELINE_KEYS = frozenset({"kind", "id", "title", "description", "pipeline", "optional"})
STAGE_SET_KEYS = frozenset({"kind", "ref"})
KINDS = ("command", "subpipeline", "codex", "stage-set")


def stage_kind(reader: Reader) -> str:
    kind: str = reader.get("kind", str, default="command")
    if kind not in KINDS:
        raise reader.fail("kind", f"must be 'command', 'subpipeline', 'codex' or 'stage-set', got {kind!r}"
                                  f"{did_you_mean(kind, KINDS)}")
    return kind


def parse_stage(reader: Reader, origin: tuple[str, ...] = ()) -> Stage:
    """A command, subpipeline or codex stage (the caller has dealt with stage-set references)."""
    kind = stage_kind(reader)
    stage_id = reader.get("id", str, required=True)
    title = reader.get("title", str, default=stage_id)
    if kind == "subpipeline":
        reader.check_keys(SUBPIPELINE_KEYS)
        return SubpipelineStage(stage_id, title, reader.get("pipeline", str, required=True),
                                bool(reader.get("optional", bool, default=False)), origin)
    if kind == "codex":
        from .codex_spec import parse_codex_stage

        return parse_codex_stage(reader, stage_id, title, origin)
    reader.check_keys(COMMAND_KEYS)
    codes = reader.get("retryOnExitCodes", list, default=[])
    if not all(isinstance(code, int) and not isinstance(code, bool) for code in codes):
        raise reader.fail("retryOnExitCodes", "expected a list of integers")
    return CommandStage(
        id=stage_id,
        title=title,
        command=reader.get("command", str, required=True),
        cwd=reader.get("cwd", str),
        env=_env(reader),
        allow_failure=reader.get("allowFailure", bool, default=False),
        session=_session(reader),
        timeout=_timeout(reader),
        escalate=reader.get("escalate", bool, default=False),
        justification=reader.get("justification", str),
        retry_on_exit_codes=tuple(codes),
        summary_hint=reader.get("summaryHint", str),
        origin=origin,
    )


def _env(reader: Reader) -> dict[str, str]:
    env: dict[str, Any] = reader.get("env", dict, default={})
    for name, value in env.items():
        if not isinstance(value, str):
            raise reader.fail(f"env.{name}", f"expected str, got {type(value).__name__}")
    return dict(env)


def _session(reader: Reader) -> SessionSpec | None:
    if "session" not in reader.value:
        return None
    session = Reader(reader.source, f"{reader.path}.session", reader.value["session"])
    session.check_keys({"id", "reuse", "persist"})
    return SessionSpec(session.get("id", str, required=True), session.get("reuse", bool, default=True),
                       session.get("persist", bool, default=False))


def _timeout(reader: Reader) -> float | None:
    """`timeout` (seconds, ours) or `timeoutMs` (the reference's), not both."""
    seconds = reader.get("timeout", (int, float))
    millis = reader.get("timeoutMs", (int, float))
    if seconds is not None and millis is not None:
        raise reader.fail("timeoutMs", "give either timeout (seconds) or timeoutMs, not both")
    value, key = (seconds, "timeout") if millis is None else (millis / 1000, "timeoutMs")
    if value is None:
        return None
    import math

    if not math.isfinite(value) or value <= 0:
        raise reader.fail(key, "must be a positive, finite number")
    return float(value)
