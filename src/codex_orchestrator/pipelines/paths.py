"""Stage paths are fixed once per run, so that nothing a stage does can move the next one's sandbox.

A stage's `cwd` comes from the repository (untrusted), and the working directory
becomes a writable root of the sandbox. So every stage's working directory and
writable roots are resolved (symlinks followed) when the run starts, before
anything runs:

* a `cwd` outside the repository (`..`, `/root`, a symlink that leads out) refuses
  the whole run with exit 2;
* before each stage the same paths are resolved again; if any resolves elsewhere
  now (an earlier stage replaced `web/` with a symlink to `/root`), that stage
  fails with a clear message and nothing is spawned.

The sandbox then gets the real path fixed at the start, never a path re-read from
a tree that commands could change.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import UsageError
from .model import CodexStage, CommandStage, Pipeline, SubpipelineStage

if TYPE_CHECKING:  # pragma: no cover
    from ..config import Config
    from .registry import Registry

StageKey = tuple[str, str]  # (pipeline id, stage id)


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


class FixedPaths:
    """The working directory and writable roots of every stage of a run, as resolved at its start."""

    def __init__(self, config: Config, trusted_env: Mapping[str, str]) -> None:
        self._config = config
        self._env = trusted_env
        self.repo_root = _real(config.repo_root)
        self._fixed: dict[StageKey, tuple[Path, tuple[Path, ...]]] = {}

    @classmethod
    def for_pipeline(cls, config: Config, registry: Registry, pipeline: Pipeline,
                     trusted_env: Mapping[str, str]) -> FixedPaths:
        """Resolve every command stage of `pipeline` and of the subpipelines it runs; UsageError if any
        working directory lies outside the repository (nothing has run yet)."""
        fixed = cls(config, trusted_env)
        fixed._add(registry, pipeline, set())
        return fixed

    def _add(self, registry: Registry, pipeline: Pipeline, seen: set[str]) -> None:
        seen.add(pipeline.id)
        for stage in pipeline.stages:
            if isinstance(stage, SubpipelineStage):
                if stage.pipeline in registry.pipelines and stage.pipeline not in seen:
                    self._add(registry, registry.pipelines[stage.pipeline], seen)
                continue
            cwd = self._stage_cwd(stage)
            if cwd != self.repo_root and not cwd.is_relative_to(self.repo_root):
                raise UsageError(
                    f"pipeline {pipeline.id!r} stage {stage.id!r}: cwd {stage.cwd!r} resolves to {cwd}, outside the "
                    f"repository {self.repo_root}; a stage may only run inside it (nothing was run)")
            if not cwd.is_dir():
                raise UsageError(f"pipeline {pipeline.id!r} stage {stage.id!r}: cwd {stage.cwd!r} is not a directory")
            self._fixed[(pipeline.id, stage.id)] = (cwd, self._roots(cwd))

    def _stage_cwd(self, stage: CommandStage | CodexStage) -> Path:
        return _real(self.repo_root / stage.cwd) if stage.cwd else self.repo_root

    def _roots(self, cwd: Path) -> tuple[Path, ...]:
        policy = self._config.sandbox_policy()
        return tuple(policy.resolved_writable_roots(cwd, self._env))

    def roots(self, pipeline_id: str, stage: CommandStage | CodexStage) -> tuple[Path, ...]:
        """The writable roots fixed for the stage when the run started."""
        return self._fixed[(pipeline_id, stage.id)][1]

    def check(self, pipeline_id: str, stage: CommandStage | CodexStage) -> tuple[Path, str | None]:
        """(the fixed cwd, None) when nothing moved since the start; else (cwd, why the stage must not run)."""
        cwd, roots = self._fixed[(pipeline_id, stage.id)]
        now = self._stage_cwd(stage)
        if now != cwd:
            return cwd, (f"cwd {stage.cwd!r} now resolves to {now}, not {cwd} as when the run started "
                         "(an earlier stage replaced it?); refusing to run the stage")
        moved = [str(root) for root, again in zip(roots, self._roots(cwd), strict=False) if root != again]
        if moved or len(roots) != len(self._roots(cwd)):
            return cwd, (f"writable roots changed since the run started ({', '.join(moved) or 'their number'}); "
                         "refusing to run the stage")
        return cwd, None
