"""Compose the found files into one text: earlier files give defaults, later files add.

A later file replaces part of an earlier one only when it says so, with a heading
`## Override: <Section title>`: every earlier section with that title at the same
heading level (compared case-insensitively, whitespace collapsed) is removed,
leaving a comment that says who replaced it, and the override keeps its place in
the later file under the plain heading `## <Section title>`. Anything else is
appended, so no guidance is ever dropped without a trace. Headings inside fenced
code blocks are text, not headings.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .._lazyre import LazyPattern
from .._record import record

if TYPE_CHECKING:
    from .model import Scope

_HEADING = LazyPattern(r" {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*")
_FENCE = LazyPattern(r" {0,3}(`{3,}|~{3,})")
_OVERRIDE = LazyPattern(r"override:[ \t]*(.+)", re.IGNORECASE)


@record(frozen=True)
class Part:
    path: str  # for warnings
    label: str  # for the header comment
    scope: Scope
    text: str


@record(frozen=True)
class Heading:
    index: int  # line number in the block, from 0
    level: int
    title: str


def headings(lines: Sequence[str]) -> list[Heading]:
    found: list[Heading] = []
    fence: str | None = None
    for index, raw in enumerate(lines):
        line = raw.rstrip("\r")
        opening = _FENCE.match(line)
        if fence is not None:
            if opening and opening.group(1)[0] == fence[0] and len(opening.group(1)) >= len(fence) \
                    and not line[opening.end():].strip():
                fence = None
            continue
        if opening:
            fence = opening.group(1)
            continue
        match = _HEADING.fullmatch(line)
        if match:
            found.append(Heading(index, len(match.group(1)), (match.group(2) or "").strip()))
    return found


def section_key(title: str) -> str:
    return " ".join(title.split()).casefold()


def section_end(lines: Sequence[str], heading: Heading) -> int:
    """Index just past the section: the next heading of the same or a higher level, else the end."""
    for other in headings(lines):
        if other.index > heading.index and other.level <= heading.level:
            return other.index
    return len(lines)


def compose(parts: Sequence[Part]) -> tuple[str, list[str]]:
    """The composed text (each part under a header comment, root first) and any warnings."""
    warnings: list[str] = []
    blocks: list[list[str]] = []
    for part in parts:
        lines = _trim(part.text.split("\n"))
        for heading in headings(lines):
            override = _OVERRIDE.fullmatch(heading.title)
            if override is None:
                continue
            title = override.group(1).strip()
            lines[heading.index] = f"{'#' * heading.level} {title}"
            replaced = 0
            for block in blocks:
                replaced += _remove_sections(block, heading.level, title, part.label)
            if not replaced:
                warnings.append(
                    f"{part.path}:{heading.index + 1}: 'Override: {title}' names no earlier section at "
                    f"heading level {heading.level}; its text is appended as a new section"
                )
        blocks.append([_comment(f"AGENTS.md: {part.label} ({part.scope})"), *lines])
    text = "\n\n".join("\n".join(block) for block in blocks)
    return (text + "\n" if text else ""), warnings


def _remove_sections(block: list[str], level: int, title: str, by: str) -> int:
    """Replace each section of `block` titled `title` at `level` by a note; returns how many."""
    removed = 0
    key = section_key(title)
    while True:
        target = next(
            (h for h in headings(block) if h.level == level and section_key(h.title) == key), None
        )
        if target is None:
            return removed
        end = section_end(block, target)
        note = [_comment(f'section "{title}" replaced by {by}')]
        if end < len(block):
            note.append("")
        block[target.index : end] = note
        removed += 1


def _comment(text: str) -> str:
    # A "-->" inside a title or a folder name would end the comment early.
    return f"<!-- {text.replace('-->', '-- >')} -->"


def _trim(lines: list[str]) -> list[str]:
    """Drop blank lines at both ends; the blocks are joined with exactly one blank line."""
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return lines[start:end]
