"""All pipelines a command can name: the repo's own, then the built-ins it does not redefine."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._record import field, record
from ..errors import ConfigError, NotFoundError
from ..suggest import did_you_mean
from .diagnostics import diagnostics_pipeline
from .model import Pipeline, SubpipelineStage
from .parse import ignored_keys, parse_pipelines

if TYPE_CHECKING:
    from ..config import Config

MAX_SUBPIPELINE_DEPTH = 16  # a run and its child runs, nested


@record
class Registry:
    pipelines: dict[str, Pipeline]
    default_id: str
    warnings: list[str] = field(default_factory=list)  # repo config keys accepted but without effect

    @classmethod
    def load(cls, config: Config) -> Registry:
        pipelines: dict[str, Pipeline] = {}
        default: str | None = None
        warnings: list[str] = []
        if config.repo_config_path is not None:
            parsed, default = parse_pipelines(config.repo_document, str(config.repo_config_path))
            pipelines = {p.id: p for p in parsed}
            warnings = ignored_keys(config.repo_document, str(config.repo_config_path))
        if "diagnostics" not in pipelines:
            pipelines["diagnostics"] = diagnostics_pipeline(config.repo_root)
        if default is None:
            default = "diagnostics" if len(pipelines) == 1 else next(iter(pipelines))
        registry = cls(pipelines, default, warnings)
        verified: dict[str, int] = {}
        for pipeline in pipelines.values():
            registry.check_references(pipeline.id, verified=verified)
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
            raise NotFoundError(f"unknown pipeline {pipeline_id!r}{did_you_mean(pipeline_id, self.pipelines)} "
                                f"(known: {known})") from None

    def warn(self) -> None:
        """Print the config warnings on stderr (stdout stays the command's own output)."""
        import sys

        for warning in self.warnings:
            print(f"codex-orchestrator: warning: {warning}", file=sys.stderr)

    def check_references(self, pipeline_id: str, trail: tuple[str, ...] = (),
                         verified: dict[str, int] | None = None) -> int:
        """Reject a cycle of subpipelines, a reference to a missing one, or runs nested more than
        MAX_SUBPIPELINE_DEPTH deep, before anything runs. Returns how deep the pipeline's runs nest
        (1 without subpipelines). Each pipeline is checked once (`verified` keeps its depth), so
        pipelines that each use the next one twice cannot make this take exponential time."""
        verified = {} if verified is None else verified
        if pipeline_id in trail:
            cycle = " -> ".join((*trail[trail.index(pipeline_id):], pipeline_id))
            raise ConfigError(f"{self.pipelines[trail[0]].source}: subpipeline cycle: {cycle}")
        if pipeline_id not in verified:
            pipeline = self.pipelines[pipeline_id]
            below = 0
            for stage in pipeline.stages:
                if not isinstance(stage, SubpipelineStage):
                    continue
                if stage.pipeline not in self.pipelines:
                    if stage.optional:
                        continue
                    raise ConfigError(
                        f"{pipeline.source}: pipeline {pipeline_id!r} stage {stage.id!r}: "
                        f"unknown subpipeline {stage.pipeline!r}{did_you_mean(stage.pipeline, self.pipelines)}"
                    )
                below = max(below, self.check_references(stage.pipeline, (*trail, pipeline_id), verified))
            verified[pipeline_id] = below + 1
        if len(trail) + verified[pipeline_id] > MAX_SUBPIPELINE_DEPTH:
            root = trail[0] if trail else pipeline_id
            raise ConfigError(f"{self.pipelines[root].source}: pipeline {root!r}: subpipelines nest more than "
                              f"{MAX_SUBPIPELINE_DEPTH} deep")
        return verified[pipeline_id]


def load_registry(config: Config) -> Registry:
    return Registry.load(config)


__all__ = ["Registry", "load_registry"]
