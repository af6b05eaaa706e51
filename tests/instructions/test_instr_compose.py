"""Composition: defaults, additions, explicit section overrides, the byte budget, the hash."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from instr_util import write

from codex_orchestrator.instructions import InstructionSet
from codex_orchestrator.instructions.compose import Part, compose

Load = Callable[..., InstructionSet]
BUDGET_USED = "the project_doc_max_bytes budget (8) is used up"


def composed(*texts: str) -> tuple[str, list[str]]:
    parts = [Part(f"/f{i}", f"f{i}", "repo", text) for i, text in enumerate(texts)]
    return compose(parts)


def test_later_files_add_and_nothing_is_dropped() -> None:
    text, warnings = composed("## Testing\nrun pytest\n", "## Testing\nalso run mypy\n")
    assert text == (
        "<!-- AGENTS.md: f0 (repo) -->\n## Testing\nrun pytest\n\n"
        "<!-- AGENTS.md: f1 (repo) -->\n## Testing\nalso run mypy\n"
    )
    assert warnings == []


def test_an_explicit_override_replaces_the_whole_earlier_section() -> None:
    base = "# Guide\n\n## Testing\nrun pytest\n### Slow tests\nskip them\n\n## Style\nblack\n"
    text, warnings = composed(base, "## Override:   TESTING \nrun make test\n")
    assert text == (
        "<!-- AGENTS.md: f0 (repo) -->\n# Guide\n\n"
        '<!-- section "TESTING" replaced by f1 -->\n\n'
        "## Style\nblack\n\n"
        "<!-- AGENTS.md: f1 (repo) -->\n## TESTING\nrun make test\n"
    )
    assert "run pytest" not in text and "skip them" not in text
    assert warnings == []


def test_an_override_replaces_every_earlier_section_of_that_title() -> None:
    text, _ = composed("## Testing\none\n", "## Testing\ntwo\n", "## Override: Testing\nthree\n")
    assert "one" not in text and "two" not in text and text.endswith("## Testing\nthree\n")
    assert text.count("replaced by f2") == 2


def test_overrides_chain_across_levels() -> None:
    text, warnings = composed(
        "## Testing\none\n", "## Override: Testing\ntwo\n", "## Override: testing\nthree\n"
    )
    assert "one" not in text and "two" not in text and "three" in text
    assert warnings == []


def test_an_override_only_matches_the_same_heading_level() -> None:
    text, warnings = composed("### Testing\nkeep me\n", "## Override: Testing\nnew\n")
    assert "keep me" in text and "new" in text
    assert warnings == [
        "/f1:1: 'Override: Testing' names no earlier section at heading level 2; "
        "its text is appended as a new section"
    ]


def test_an_override_of_a_missing_section_is_appended_and_warned() -> None:
    text, warnings = composed("## Style\nblack\n", "intro\n\n## Override: Deploy\nnever on friday\n")
    assert text.endswith("intro\n\n## Deploy\nnever on friday\n")
    assert "black" in text
    assert warnings == [
        "/f1:3: 'Override: Deploy' names no earlier section at heading level 2; "
        "its text is appended as a new section"
    ]


def test_headings_inside_fenced_code_are_text() -> None:
    earlier = "## Testing\n```sh\n## Deploy\nmake deploy\n```\nafter fence\n## Deploy\nreal deploy\n"
    text, _ = composed(earlier, "~~~\n## Override: Testing\n~~~\n## Override: Deploy\nnew deploy\n")
    assert "make deploy" in text and "after fence" in text  # the fenced "## Deploy" was not a section
    assert "real deploy" not in text and "new deploy" in text
    assert "~~~\n## Override: Testing\n~~~" in text  # a fenced override is not one either


def test_a_comment_terminator_in_a_name_cannot_end_the_header() -> None:
    text, _ = compose([Part("/x", "a-->b/AGENTS.md", "repo", "hi\n")])
    assert text.splitlines()[0] == "<!-- AGENTS.md: a-- >b/AGENTS.md (repo) -->"


# The byte budget.


def test_the_budget_cuts_the_tail_at_a_character_boundary(repo: Path, home: Path, load: Load) -> None:
    write(home / "AGENTS.md", "global " * 50 + "\n")  # not counted
    write(repo / "AGENTS.md", "abcd\n")  # 5 bytes
    write(repo / "sub" / "AGENTS.md", "xy\u00e9z\n")  # 'é' is 2 bytes: 6 bytes in all
    write(repo / "sub" / "deep" / "AGENTS.md", "left out\n")

    result = load(repo / "sub" / "deep", max_bytes=8)  # 5 + 3: the cut falls inside 'é'

    assert [(s.scope, s.truncated) for s in result.sources] == [
        ("global", False), ("repo", False), ("repo", True), ("repo", True)
    ]
    assert result.sources[2].bytes == 6  # the whole file is described, not the kept part
    assert "\n\n<!-- AGENTS.md: sub/AGENTS.md (repo) -->\nxy\n" in result.text
    assert "left out" not in result.text and "global global" in result.text
    result.text.encode("utf-8")  # still valid text
    assert result.warnings == (
        f"{repo / 'sub' / 'AGENTS.md'}: truncated to 2 of 6 bytes: {BUDGET_USED}",
        f"{repo / 'sub' / 'deep' / 'AGENTS.md'}: left out: {BUDGET_USED}",
    )


def test_the_budget_counts_the_bytes_as_stored(repo: Path, load: Load) -> None:
    """As Codex counts them: a BOM and invalid bytes cost what they take on disk (3 and 1 bytes),
    not what their decoded text would take (0 and 3); see tests/parity/test_agents_md_diff.py."""
    write(repo / "AGENTS.md", b"\xef\xbb\xbfbad \xff\xfe!\n")  # 3 + 4 + 2 + 2 = 11 bytes
    write(repo / "sub" / "AGENTS.md", "0123456789\n")
    result = load(repo / "sub", max_bytes=11 + 4)
    assert "bad \ufffd\ufffd!\n\n<!-- AGENTS.md: sub/AGENTS.md (repo) -->\n0123\n" in result.text
    assert "\ufeff" not in result.text
    cut_inside_the_bom = load(repo, max_bytes=2)
    assert cut_inside_the_bom.text == "" and cut_inside_the_bom.sources[0].truncated


def test_files_within_the_budget_are_untouched(repo: Path, load: Load) -> None:
    write(repo / "AGENTS.md", "abcd\n")
    result = load(repo, max_bytes=5)
    assert not result.sources[0].truncated and result.warnings == ()


def test_a_zero_budget_disables_repository_and_project_files(repo: Path, home: Path, load: Load) -> None:
    write(home / "AGENTS.md", "global\n")
    write(repo / "AGENTS.md", "root\n")
    write(repo / ".agent" / "AGENTS.md", "project\n")
    result = load(repo, max_bytes=0)
    assert [s.scope for s in result.sources] == ["global"]
    assert result.text == "<!-- AGENTS.md: $CODEX_HOME/AGENTS.md (global) -->\nglobal\n"


def test_a_negative_budget_is_a_usage_error(repo: Path, load: Load) -> None:
    from codex_orchestrator.errors import UsageError

    with pytest.raises(UsageError):
        load(repo, max_bytes=-1)


# The hash.


def test_the_hash_is_stable_and_independent_of_where_the_repo_lives(tmp_path: Path, load: Load) -> None:
    hashes = []
    for name in ("one", "two"):
        root = tmp_path / name
        (root / ".git").mkdir(parents=True)
        write(root / "AGENTS.md", "# Guide\nbe kind\n")
        write(root / "pkg" / "AGENTS.md", "## Override: Nothing\nhi\n")
        hashes.append(load(root / "pkg").hash)
    assert hashes[0] == hashes[1] == load(tmp_path / "one" / "pkg").hash
    assert hashes[0].startswith("sha256:") and len(hashes[0]) == len("sha256:") + 64


def test_any_byte_changed_gives_a_new_hash(repo: Path, load: Load) -> None:
    original = b"# Guide\nrun the tests\n"
    path = write(repo / "AGENTS.md", original)
    seen = {load(repo).hash}
    for index in range(len(original)):
        changed = bytearray(original)
        changed[index] = ord("Z") if changed[index] != ord("Z") else ord("Y")
        path.write_bytes(bytes(changed))
        seen.add(load(repo).hash)
    assert len(seen) == len(original) + 1


def test_the_hash_is_of_the_composed_text(repo: Path, load: Load) -> None:
    import hashlib

    write(repo / "AGENTS.md", "hello\n")
    result = load(repo)
    assert result.hash == "sha256:" + hashlib.sha256(result.text.encode("utf-8")).hexdigest()
    assert result.sources[0].sha256 == hashlib.sha256(b"hello\n").hexdigest()
