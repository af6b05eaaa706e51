"""Pipelines: stages from the repo config or the built-in diagnostics, run in order."""

from .model import CommandStage, Pipeline, SessionSpec, Stage, SubpipelineStage
from .registry import Registry, load_registry

__all__ = ["CommandStage", "Pipeline", "Registry", "SessionSpec", "Stage", "SubpipelineStage", "load_registry"]
