"""`drift`: a run's recorded instructions against the ones that apply now."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from instr_util import write

from codex_orchestrator.instructions import InstructionSet, drift

Load = Callable[..., InstructionSet]


def test_no_drift_when_nothing_changed(repo: Path, load: Load) -> None:
    write(repo / "AGENTS.md", "root\n")
    recorded = load(repo).to_manifest()
    report = drift(recorded, load(repo))
    assert report == {
        "drifted": False, "hash_changed": False, "previous_hash": recorded["hash"],
        "current_hash": recorded["hash"], "added": [], "removed": [], "changed": [],
    }


def test_added_removed_and_changed_sources(repo: Path, load: Load) -> None:
    root = write(repo / "AGENTS.md", "root\n")
    gone = write(repo / "sub" / "AGENTS.md", "sub\n")
    recorded = load(repo / "sub").to_manifest()

    root.write_text("root, edited\n")
    gone.unlink()
    new = write(repo / "sub" / ".agent" / "AGENTS.md", "project\n")
    current = load(repo / "sub")

    report = drift(recorded, current)
    assert report["drifted"] is True and report["hash_changed"] is True
    assert report["previous_hash"] == recorded["hash"] and report["current_hash"] == current.hash
    assert (report["added"], report["removed"], report["changed"]) == ([str(new)], [str(gone)], [str(root)])


def test_a_changed_budget_shows_as_a_new_hash_only(repo: Path, load: Load) -> None:
    write(repo / "AGENTS.md", "root guidance\n")
    report = drift(load(repo).to_manifest(), load(repo, max_bytes=4))
    assert report["hash_changed"] is True and report["changed"] == []


def test_an_empty_or_malformed_record_counts_everything_as_added(repo: Path, load: Load) -> None:
    write(repo / "AGENTS.md", "root\n")
    current = load(repo)
    for previous in ({}, {"hash": 3, "sources": "nope"}, {"sources": [None, {"path": 1}]}):
        report = drift(previous, current)
        assert report["drifted"] is True and report["previous_hash"] is None
        assert report["added"] == [str(repo / "AGENTS.md")]
