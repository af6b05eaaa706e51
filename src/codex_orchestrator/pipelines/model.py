"""Pipelines and stages, parsed from the reference orchestrator's config shape.

`{pipelines: [{id, title, stages: [...]}], defaultPipeline}`, where a stage is
`{kind: "command", id, title, command, cwd?, env?, allowFailure?, session?, timeout?}`
or `{kind: "subpipeline", id, title, pipeline, optional?}`, or our `{kind: "codex", id, title,
prompt, ...}` (pipelines/codex_spec.py, docs/codex.md). An existing reference
config works unchanged; `timeout`, `escalate`, `justification` and
`retryOnExitCodes` are our additions. Errors name the file and the JSON path.
"""

from __future__ import annotations

from typing import Any

from .._record import field, record
from ..errors import ConfigError


@record(frozen=True)
class SessionSpec:
    id: str
    reuse: bool = True
    persist: bool = False


@record(frozen=True)
class CommandStage:
    id: str
    title: str
    command: str
    cwd: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    allow_failure: bool = False
    session: SessionSpec | None = None
    timeout: float | None = None
    escalate: bool = False
    justification: str | None = None
    retry_on_exit_codes: tuple[int, ...] = ()
    kind: str = "command"


@record(frozen=True)
class SubpipelineStage:
    id: str
    title: str
    pipeline: str
    optional: bool = False
    kind: str = "subpipeline"


@record(frozen=True)
class CodexStage:
    """Runs the Codex agent (`codex exec --json`) on `prompt` under our policy (docs/codex.md)."""

    id: str
    title: str
    prompt: str
    model: str | None = None
    profile: str | None = None
    output_schema: str | None = None  # repo-relative path of a JSON Schema for the final message
    timeout: float | None = None
    cwd: str | None = None
    allow_failure: bool = False
    kind: str = "codex"


Stage = CommandStage | SubpipelineStage | CodexStage


@record(frozen=True)
class Pipeline:
    id: str
    title: str
    stages: tuple[Stage, ...]
    source: str  # "builtin" or the config file


class _Reader:
    """Typed access to one JSON object, with errors that name the file and path."""

    def __init__(self, source: str, path: str, value: Any) -> None:
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: {path}: expected an object")
        self.source, self.path, self.value = source, path, value

    def fail(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.source}: {self.path}.{key}: {message}")

    def check_keys(self, allowed: set[str]) -> None:
        for key in self.value:
            if key not in allowed:
                raise self.fail(key, "unknown key")

    def get(self, key: str, kind: type | tuple[type, ...], *, required: bool = False, default: Any = None) -> Any:
        if key not in self.value:
            if required:
                raise self.fail(key, "is required")
            return default
        value = self.value[key]
        bad_bool = isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,))
        if not isinstance(value, kind) or bad_bool:
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.fail(key, f"expected {names}, got {type(value).__name__}")
        if isinstance(value, str) and required and not value.strip():
            raise self.fail(key, "must not be empty")
        return value


_COMMAND_KEYS = {"kind", "id", "title", "command", "cwd", "env", "allowFailure", "session", "timeout",
                 "escalate", "justification", "retryOnExitCodes", "description"}
_SUBPIPELINE_KEYS = {"kind", "id", "title", "pipeline", "optional", "description"}


def _parse_stage(source: str, path: str, raw: Any) -> Stage:
    reader = _Reader(source, path, raw)
    kind = reader.get("kind", str, default="command")
    stage_id = reader.get("id", str, required=True)
    title = reader.get("title", str, default=stage_id)
    if kind == "subpipeline":
        reader.check_keys(_SUBPIPELINE_KEYS)
        return SubpipelineStage(stage_id, title, reader.get("pipeline", str, required=True),
                                bool(reader.get("optional", bool, default=False)))
    if kind == "codex":
        from .codex_spec import parse_codex_stage

        return parse_codex_stage(reader, stage_id, title)
    if kind != "command":
        raise reader.fail("kind", f"must be 'command', 'subpipeline' or 'codex', got {kind!r}")
    reader.check_keys(_COMMAND_KEYS)
    env = reader.get("env", dict, default={})
    for name, value in env.items():
        if not isinstance(value, str):
            raise reader.fail(f"env.{name}", f"expected str, got {type(value).__name__}")
    session = None
    if "session" in raw:
        session_reader = _Reader(source, f"{path}.session", raw["session"])
        session_reader.check_keys({"id", "reuse", "persist"})
        session = SessionSpec(session_reader.get("id", str, required=True),
                              session_reader.get("reuse", bool, default=True),
                              session_reader.get("persist", bool, default=False))
    timeout = reader.get("timeout", (int, float))
    if timeout is not None and timeout <= 0:
        raise reader.fail("timeout", "must be a positive number of seconds")
    codes = reader.get("retryOnExitCodes", list, default=[])
    if not all(isinstance(code, int) and not isinstance(code, bool) for code in codes):
        raise reader.fail("retryOnExitCodes", "expected a list of integers")
    return CommandStage(
        id=stage_id,
        title=title,
        command=reader.get("command", str, required=True),
        cwd=reader.get("cwd", str),
        env=dict(env),
        allow_failure=reader.get("allowFailure", bool, default=False),
        session=session,
        timeout=float(timeout) if timeout is not None else None,
        escalate=reader.get("escalate", bool, default=False),
        justification=reader.get("justification", str),
        retry_on_exit_codes=tuple(codes),
    )


def parse_pipelines(document: dict[str, Any], source: str) -> tuple[list[Pipeline], str | None]:
    """Parse the `pipelines` and `defaultPipeline` of a repo config."""
    raw_pipelines = document.get("pipelines", [])
    if not isinstance(raw_pipelines, list):
        raise ConfigError(f"{source}: $.pipelines: expected an array")
    pipelines: list[Pipeline] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_pipelines):
        path = f"$.pipelines[{i}]"
        reader = _Reader(source, path, raw)
        reader.check_keys({"id", "title", "stages", "description", "guardrailsRequired"})
        pipeline_id = reader.get("id", str, required=True)
        if pipeline_id in seen:
            raise reader.fail("id", f"duplicate pipeline id {pipeline_id!r}")
        seen.add(pipeline_id)
        raw_stages = reader.get("stages", list, required=True)
        stages = tuple(_parse_stage(source, f"{path}.stages[{j}]", s) for j, s in enumerate(raw_stages))
        stage_ids = [stage.id for stage in stages]
        duplicates = {s for s in stage_ids if stage_ids.count(s) > 1}
        if duplicates:
            raise reader.fail("stages", f"duplicate stage id {sorted(duplicates)[0]!r}")
        pipelines.append(Pipeline(pipeline_id, reader.get("title", str, default=pipeline_id), stages, source))
    default = document.get("defaultPipeline")
    if default is not None and not isinstance(default, str):
        raise ConfigError(f"{source}: $.defaultPipeline: expected str")
    if default is not None and default not in seen:
        raise ConfigError(f"{source}: $.defaultPipeline: no pipeline with id {default!r}")
    return pipelines, default
