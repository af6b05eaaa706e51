"""`load_instructions`: discovery, the byte budget, the safeguard and composition, in one call."""

from __future__ import annotations

import codecs
from collections.abc import Sequence
from pathlib import Path

from .._hash import sha256
from .._paths import resolve
from ..errors import UsageError
from .compose import Part, compose
from .discovery import Document, candidates, find_git_root, read_documents
from .model import InstructionSet, InstructionSource
from .safeguard import policy_attempts

DEFAULT_MAX_BYTES = 32 * 1024


def load_instructions(
    cwd: Path,
    *,
    codex_home: Path,
    max_bytes: int = DEFAULT_MAX_BYTES,
    fallback_names: Sequence[str] = (),
) -> InstructionSet:
    """The guidance that applies to work started in `cwd`.

    `max_bytes` (Codex's `project_doc_max_bytes`) caps the repository and project
    files together, counted as Codex counts them, in bytes of the files as stored
    (a byte-order mark and invalid UTF-8 bytes included), in composition order: the
    file that crosses it is cut at a character boundary and later files are left
    out, each with a warning. 0 turns repository and project files off. The global
    file is the user's own and is neither counted nor cut.
    """
    if max_bytes < 0:
        raise UsageError(f"project_doc_max_bytes must be 0 or more, not {max_bytes}")
    cwd = resolve(cwd)
    codex_home = codex_home.expanduser().absolute()
    warnings: list[str] = []
    root = find_git_root(cwd) or cwd
    places = candidates(
        cwd, root, codex_home=codex_home, fallback_names=fallback_names, include_repo=max_bytes > 0,
        warnings=warnings,
    )
    documents = read_documents(places, root=root, warnings=warnings)

    remaining = max_bytes
    sources: list[InstructionSource] = []
    parts: list[Part] = []
    for document in documents:
        text, truncated, remaining = _within_budget(document, remaining, max_bytes, warnings)
        sources.append(
            InstructionSource(
                path=str(document.path),
                scope=document.scope,
                bytes=len(document.data),
                sha256=sha256(document.data).hexdigest(),
                truncated=truncated,
            )
        )
        if text.strip():
            warnings.extend(policy_attempts(str(document.path), text))
            parts.append(Part(str(document.path), document.label, document.scope, text))

    composed, compose_warnings = compose(parts)
    warnings.extend(compose_warnings)
    digest = sha256(composed.encode("utf-8")).hexdigest()
    return InstructionSet(composed, f"sha256:{digest}", tuple(sources), tuple(warnings))


def _within_budget(document: Document, remaining: int, max_bytes: int,
                   warnings: list[str]) -> tuple[str, bool, int]:
    """(the text kept, whether it was cut, the budget left after it). The global file is not counted."""
    if document.scope == "global":
        return document.text, False, remaining
    size = len(document.data)
    if size <= remaining:
        return document.text, False, remaining - size
    text, kept = _cut(document.data, remaining)
    if text.strip():
        warnings.append(f"{document.path}: truncated to {kept} of {size} bytes: the "
                        f"project_doc_max_bytes budget ({max_bytes}) is used up")
    else:
        warnings.append(f"{document.path}: left out: the project_doc_max_bytes budget ({max_bytes}) is used up")
    # A cut inside a character leaves a byte or three unused; they stay unused, so that a later short file
    # cannot slip in after a cut one.
    return text, True, 0


def _cut(data: bytes, limit: int) -> tuple[str, int]:
    """The text of the first `limit` bytes of a file, and how many of them it keeps.

    Codex cuts the bytes and decodes them lossily, so a cut inside a character shows
    up as U+FFFD; here the incomplete character at the end is dropped instead (its
    bytes are not kept), while invalid bytes earlier on are replaced as in the whole file.
    """
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    text = decoder.decode(data[:limit], final=False)
    pending, _ = decoder.getstate()
    return text.removeprefix("\ufeff"), limit - len(pending)
