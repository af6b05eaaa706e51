"""The pipelines of a repo config, in the reference orchestrator's shape.

    {"stageSets": {NAME: [stage, ...]},
     "pipelines": [{id, title, description?, tags?, metadata?, guardrailsRequired?, stages: [...]}],
     "defaultPipeline": ID}

Stages are parsed by stages.py, stage-set references expanded by stage_sets.py. Errors name the
file and the JSON path, and an unknown key says which known key it is closest to.

`description`, `tags`, `metadata` and `guardrailsRequired` are descriptive: they are shown by
`pipelines` and `plan` and never read as settings, so a repository cannot loosen anything with
them (docs/security.md).
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .model import Pipeline
from .reader import Reader
from .stage_sets import StageSets

PIPELINE_KEYS = frozenset({"id", "title", "description", "tags", "metadata", "guardrailsRequired", "stages"})


def parse_pipelines(document: dict[str, Any], source: str) -> tuple[list[Pipeline], str | None]:
    """Parse `stageSets`, `pipelines` and `defaultPipeline` of a repo config (ConfigError on any fault)."""
    stage_sets = StageSets(document.get("stageSets"), source)
    stage_sets.check_all()
    raw_pipelines = document.get("pipelines", [])
    if not isinstance(raw_pipelines, list):
        raise ConfigError(f"{source}: $.pipelines: expected an array")
    pipelines: list[Pipeline] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_pipelines):
        pipeline = _parse_pipeline(Reader(source, f"$.pipelines[{i}]", raw), stage_sets)
        if pipeline.id in seen:
            raise ConfigError(f"{source}: $.pipelines[{i}].id: duplicate pipeline id {pipeline.id!r}")
        seen.add(pipeline.id)
        pipelines.append(pipeline)
    default = document.get("defaultPipeline")
    if default is not None and not isinstance(default, str):
        raise ConfigError(f"{source}: $.defaultPipeline: expected str")
    if default is not None and default not in seen:
        raise ConfigError(f"{source}: $.defaultPipeline: no pipeline with id {default!r}")
    return pipelines, default


def ignored_keys(document: dict[str, Any], source: str) -> list[str]:
    """Warnings for the reference's keys that mean nothing here (docs/configuration.md): they are
    accepted, so the file works unchanged, and the user is told they have no effect."""
    warnings: list[str] = []
    mode = document.get("runtimeMode")
    if mode is not None:
        if not isinstance(mode, str) or mode.strip().lower() not in ("cli", "appserver"):
            raise ConfigError(f"{source}: $.runtimeMode: must be 'cli' or 'appserver', got {mode!r}")
        warnings.append(f"{source}: $.runtimeMode: ignored: it picks the reference orchestrator's Codex runtime; "
                        "here every stage runs as a command (a `codex` stage runs Codex itself)")
    return warnings


def _parse_pipeline(reader: Reader, stage_sets: StageSets) -> Pipeline:
    reader.check_keys(PIPELINE_KEYS)
    pipeline_id: str = reader.get("id", str, required=True)
    stages = stage_sets.expand(reader.get("stages", list, required=True), f"{reader.path}.stages")
    seen: dict[str, tuple[str, ...]] = {}
    for stage in stages:
        if stage.id in seen:
            where = [f"stage set {' > '.join(o)}" if o else "the pipeline" for o in (seen[stage.id], stage.origin)]
            raise reader.fail("stages", f"duplicate stage id {stage.id!r} (from {where[0]} and {where[1]})")
        seen[stage.id] = stage.origin
    return Pipeline(
        pipeline_id, reader.get("title", str, default=pipeline_id), stages, reader.source,
        description=reader.get("description", str),
        tags=reader.strings("tags"),
        metadata=dict(reader.get("metadata", dict, default={})),
        guardrails_required=reader.get("guardrailsRequired", bool),
    )
