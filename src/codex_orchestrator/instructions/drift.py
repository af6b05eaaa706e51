"""Compare the instructions a run was given with the ones that apply now."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import InstructionSet


def drift(previous: Mapping[str, object], current: InstructionSet) -> dict[str, object]:
    """What changed since `previous` (a manifest's `instructions` record; may be empty).

    Sources are matched by path; a source whose file bytes differ is `changed`.
    `hash_changed` compares the composed texts, so it also catches what the
    source lists cannot see (a new budget, a new order, a file moved between folders).
    """
    before = _source_digests(previous.get("sources"))
    after = {source.path: source.sha256 for source in current.sources}
    previous_hash = previous.get("hash")
    previous_hash = previous_hash if isinstance(previous_hash, str) else None
    added = [path for path in after if path not in before]
    removed = [path for path in before if path not in after]
    changed = [path for path in after if path in before and before[path] != after[path]]
    hash_changed = previous_hash != current.hash
    return {
        "drifted": hash_changed or bool(added or removed or changed),
        "hash_changed": hash_changed,
        "previous_hash": previous_hash,
        "current_hash": current.hash,
        "added": added,
        "removed": removed,
        "changed": changed,
    }


def _source_digests(sources: object) -> dict[str, str | None]:
    """path -> sha256 from a manifest record, tolerating hand-edited or older manifests."""
    digests: dict[str, str | None] = {}
    if not isinstance(sources, list):
        return digests
    for source in sources:
        if isinstance(source, Mapping) and isinstance(source.get("path"), str):
            digest = source.get("sha256")
            digests[source["path"]] = digest if isinstance(digest, str) else None
    return digests
