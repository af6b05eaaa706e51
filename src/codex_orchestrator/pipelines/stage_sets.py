"""`stageSets`: named lists of stages, used in a pipeline as `{"kind": "stage-set", "ref": NAME}`.

A reference is replaced in place by the set's stages, before anything is planned or run. The
reference orchestrator forbids a set from using another set; we allow it, so the config file is
the untrusted input it is (docs/security.md) and the expansion is bounded:

* an unknown name, or a set that uses itself (directly or through others), is a ConfigError
  naming the file, the JSON path and the cycle, and nothing runs;
* sets nest at most MAX_DEPTH deep;
* the whole config may parse at most MAX_WORK stages and follow at most as many references in all
  (a stage is parsed again for each place it is used), and one pipeline may hold at most MAX_STAGES
  stages, so a small hostile file (sets that each use the previous one twice or thirty times)
  cannot make expansion take exponential time or memory.

Every set is expanded once on its own as well, so a broken set is reported even if no pipeline
uses it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from .reader import Reader, did_you_mean
from .stages import STAGE_SET_KEYS, parse_stage, stage_kind

if TYPE_CHECKING:
    from .model import Stage

MAX_DEPTH = 8
MAX_STAGES = 1000
MAX_WORK = 20_000


class StageSets:
    def __init__(self, value: Any, source: str) -> None:
        self.source = source
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: $.stageSets: expected an object of stage arrays, got {type(value).__name__}")
        for name, stages in value.items():
            if not isinstance(stages, list):
                raise ConfigError(f"{source}: $.stageSets.{name}: expected an array of stages, "
                                  f"got {type(stages).__name__}")
        self.raw: dict[str, list[Any]] = value
        self._work = 0

    def check_all(self) -> None:
        """Expand every set once, used or not: unknown refs, cycles and bounds are reported at load."""
        for name in self.raw:
            self.expand(self.raw[name], f"$.stageSets.{name}", (name,))

    def expand(self, raw_stages: list[Any], path: str, trail: tuple[str, ...] = ()) -> tuple[Stage, ...]:
        """The stages of `raw_stages` (at `path`), every stage-set reference replaced by its stages.
        `trail` is the chain of sets being expanded (outermost first): the cycle check and the origin."""
        out: list[Stage] = []
        for j, raw in enumerate(raw_stages):
            reader = Reader(self.source, f"{path}[{j}]", raw)
            if stage_kind(reader) == "stage-set":
                placed = self._reference(reader, trail)
            else:
                self._count(1, reader)
                placed = (parse_stage(reader, trail),)
            if len(out) + len(placed) > MAX_STAGES:
                raise ConfigError(f"{self.source}: {path}: expands to more than {MAX_STAGES} stages")
            out.extend(placed)
        return tuple(out)

    def _reference(self, reader: Reader, trail: tuple[str, ...]) -> tuple[Stage, ...]:
        reader.check_keys(STAGE_SET_KEYS)
        name: str = reader.get("ref", str, required=True)
        if name not in self.raw:
            known = ", ".join(sorted(self.raw)) or "none defined"
            raise reader.fail("ref", f"unknown stage set {name!r}{did_you_mean(name, self.raw)} (known: {known})")
        if name in trail:
            cycle = " -> ".join((*trail[trail.index(name):], name))
            raise ConfigError(f"{self.source}: {reader.path}.ref: stage set cycle: {cycle}")
        if len(trail) >= MAX_DEPTH:
            raise reader.fail("ref", f"stage sets nest more than {MAX_DEPTH} deep ({' -> '.join((*trail, name))})")
        self._count(1, reader)
        return self.expand(self.raw[name], f"$.stageSets.{name}", (*trail, name))

    def _count(self, n: int, reader: Reader) -> None:
        self._work += n
        if self._work > MAX_WORK:
            raise ConfigError(f"{self.source}: {reader.path}: the stage sets expand to more than {MAX_WORK} "
                              "stages and references in all; refusing the config")

