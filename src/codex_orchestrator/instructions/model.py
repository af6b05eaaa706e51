"""Records of one composed set of instructions: what was read, and what came of it."""

from __future__ import annotations

from typing import Literal

from .._record import record

Scope = Literal["global", "repo", "project"]


@record(frozen=True)
class InstructionSource:
    """One file that was found. `bytes` and `sha256` describe the whole file on disk, so
    a change to it shows up in `drift` even when the byte budget cut it short."""

    path: str
    scope: Scope
    bytes: int
    sha256: str  # hex digest of the file's bytes
    truncated: bool  # cut short, or left out entirely, by the byte budget


@record(frozen=True)
class InstructionSet:
    text: str  # the composed guidance, as handed to stages
    hash: str  # "sha256:<hex>" of `text` encoded as UTF-8
    sources: tuple[InstructionSource, ...]
    warnings: tuple[str, ...]

    def to_manifest(self) -> dict[str, object]:
        """The manifest's `instructions` record (the runner adds the `path` of the text)."""
        return {
            "hash": self.hash,
            "sources": [
                {
                    "path": source.path,
                    "scope": source.scope,
                    "bytes": source.bytes,
                    "sha256": source.sha256,
                    "truncated": source.truncated,
                }
                for source in self.sources
            ],
            "warnings": list(self.warnings),
        }
