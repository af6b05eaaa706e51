"""The flag table of docs/configuration.md ("Command-line flags") holds: the reference's flags we support are
accepted, the ones we do not are refused with exit 2, never silently taken as something else."""

from __future__ import annotations

import pytest

from ..conftest import Repo

RUN = "2026-01-01T00-00-00-000Z-00000000"
SUPPORTED = [
    ("start", "--task", "t", "--format", "json", "--parent-run", RUN, "--target", "x", "--approval-policy", "never"),
    ("start", "--target-stage", "x"),
    ("plan", "--format", "json", "--target", "x", "--task", "t"),
    ("exec", "--jsonl", "--cwd", ".", "--task", "t", "--parent-run", RUN, "--", "true"),
    ("resume", "--run", RUN, "--token", "x", "--format", "json", "--parent-run", RUN),
    ("status", "--run", RUN, "--watch", "--interval", "1", "--format", "json"),
]
REFUSED = [
    ("start", "--execution-mode", "cloud"), ("start", "--cloud"), ("start", "--runtime-mode", "cli"),
    ("start", "--goal", "g"), ("start", "--multi-agent", "auto"), ("start", "--issue-id", "1"),
    ("start", "--repo-config-required", "true"), ("start", "--interactive"), ("start", "--no-interactive"),
    ("plan", "--repo-config-required", "true"), ("resume", "--run", RUN, "--actor", "me"),
    ("resume", "--run", RUN, "--reason", "why"), ("resume", "--run", RUN, "--target", "x"),
    ("rlm", "goal"), ("flow",), ("review",), ("doctor",), ("init", "codex"), ("control-host",), ("version",),
]


@pytest.mark.parametrize("argv", SUPPORTED, ids=lambda argv: " ".join(argv[:2]))
def test_supported_flags_parse(repo: Repo, argv: tuple[str, ...]) -> None:
    """Parsing succeeds: whatever fails afterwards (the run does not exist here) is not a usage error of
    argparse ("unrecognized arguments", "invalid choice")."""
    result = repo.run(*argv)
    assert "unrecognized arguments" not in result.stderr and "invalid choice" not in result.stderr, result.stderr
    assert "usage:" not in result.stderr, result.stderr


@pytest.mark.parametrize("argv", REFUSED, ids=lambda argv: " ".join(argv[:2]))
def test_unsupported_flags_and_commands_exit_2(repo: Repo, argv: tuple[str, ...]) -> None:
    result = repo.run(*argv)
    assert result.returncode == 2, result.stderr
    assert "unrecognized arguments" in result.stderr or "invalid choice" in result.stderr
    assert not (repo.root / ".runs").exists()
