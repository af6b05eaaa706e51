"""Checks made when a run with codex stages starts, before anything runs (each failure is exit 2).

* the codex program can be found (codex/locate.py);
* a stage's `profile` is one the user allowed (`codex.allowed_profiles`): a Codex profile is the user's own
  file, but it can add MCP servers, notify commands or another model provider, so a repository may only pick
  among the profiles the user named;
* a stage's `outputSchema` is a JSON Schema inside the repository (codex/schema.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import UsageError

if TYPE_CHECKING:  # pragma: no cover
    from ..pipelines.model import CodexStage, Pipeline
    from ..pipelines.registry import Registry


def codex_stages(registry: Registry, pipeline: Pipeline,
                 seen: set[str] | None = None) -> Iterator[tuple[str, CodexStage]]:
    """(pipeline id, stage) of every codex stage the pipeline runs, subpipelines included."""
    from ..pipelines.model import CodexStage, SubpipelineStage

    seen = set() if seen is None else seen
    seen.add(pipeline.id)
    for stage in pipeline.stages:
        if isinstance(stage, CodexStage):
            yield pipeline.id, stage
        elif isinstance(stage, SubpipelineStage) and stage.pipeline in registry.pipelines \
                and stage.pipeline not in seen:
            yield from codex_stages(registry, registry.pipelines[stage.pipeline], seen)


def preflight(config: Any, registry: Registry, pipeline: Pipeline, env: Mapping[str, str]) -> str | None:
    """The codex program when the pipeline has codex stages (None when it has none)."""
    from .locate import find_codex
    from .schema import load_schema

    stages = list(codex_stages(registry, pipeline))
    if not stages:
        return None
    allowed = list(config.get("codex.allowed_profiles"))
    for pipeline_id, stage in stages:
        where = f"pipeline {pipeline_id!r} stage {stage.id!r}"
        if stage.profile and stage.profile not in allowed:
            raise UsageError(
                f"{where} selects the Codex profile {stage.profile!r}, which you have not allowed; a repository may "
                "only pick profiles you list in CODEX_ORCHESTRATOR_CODEX_ALLOWED_PROFILES (nothing was run)")
        if stage.output_schema:
            load_schema(config.repo_root, stage.output_schema, where=where)
    first = stages[0]
    return find_codex(config, env, why=f"pipeline {first[0]!r} stage {first[1].id!r} is a codex stage")
