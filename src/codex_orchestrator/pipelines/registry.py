"""All pipelines a command can name: the repo's own, then the built-ins it does not redefine."""

from __future__ import annotations

from .._record import record
from ..config import Config
from ..errors import ConfigError, NotFoundError
from .diagnostics import diagnostics_pipeline
from .model import Pipeline, SubpipelineStage, parse_pipelines


@record
class Registry:
    pipelines: dict[str, Pipeline]
    default_id: str

    @classmethod
    def load(cls, config: Config) -> Registry:
        pipelines: dict[str, Pipeline] = {}
        default: str | None = None
        if config.repo_config_path is not None:
            parsed, default = parse_pipelines(config.repo_document, str(config.repo_config_path))
            pipelines = {p.id: p for p in parsed}
        if "diagnostics" not in pipelines:
            pipelines["diagnostics"] = diagnostics_pipeline(config.repo_root)
        if default is None:
            default = "diagnostics" if len(pipelines) == 1 else next(iter(pipelines))
        registry = cls(pipelines, default)
        for pipeline in pipelines.values():
            registry.check_references(pipeline.id)
        return registry

    def uses_sessions(self) -> bool:
        """Whether any stage runs in a PTY session (which then needs a session manager)."""
        return any(getattr(stage, "session", None) for p in self.pipelines.values() for stage in p.stages)

    def get(self, pipeline_id: str | None) -> Pipeline:
        pipeline_id = pipeline_id or self.default_id
        try:
            return self.pipelines[pipeline_id]
        except KeyError:
            known = ", ".join(sorted(self.pipelines))
            raise NotFoundError(f"unknown pipeline {pipeline_id!r} (known: {known})") from None

    def check_references(self, pipeline_id: str, trail: tuple[str, ...] = ()) -> None:
        """Reject a cycle of subpipelines, or a reference to a missing one, before anything runs."""
        if pipeline_id in trail:
            cycle = " -> ".join((*trail[trail.index(pipeline_id):], pipeline_id))
            raise ConfigError(f"{self.pipelines[trail[0]].source}: subpipeline cycle: {cycle}")
        pipeline = self.pipelines[pipeline_id]
        for stage in pipeline.stages:
            if not isinstance(stage, SubpipelineStage):
                continue
            if stage.pipeline not in self.pipelines:
                if stage.optional:
                    continue
                raise ConfigError(
                    f"{pipeline.source}: pipeline {pipeline_id!r} stage {stage.id!r}: "
                    f"unknown subpipeline {stage.pipeline!r}"
                )
            self.check_references(stage.pipeline, (*trail, pipeline_id))


def load_registry(config: Config) -> Registry:
    return Registry.load(config)


__all__ = ["Registry", "load_registry"]
