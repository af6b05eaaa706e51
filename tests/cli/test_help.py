"""Help that teaches (W2-2): every command's --help has an example; a typo gets a "did you mean"."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..conftest import run_cli

COMMANDS = [["start"], ["plan"], ["status"], ["resume"], ["pipelines"], ["exec"], ["config"], ["config", "show"],
            ["approvals"], ["approvals", "list"], ["approvals", "revoke"], ["approvals", "clear"], ["sandbox"],
            ["sandbox", "check"], ["instructions"], ["metrics"], ["mcp"], ["mcp", "serve"], []]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "main")
def test_every_help_has_an_example(tmp_path: Path, command: list[str]) -> None:
    result = run_cli(*command, "--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "example" in result.stdout.lower()


@pytest.mark.parametrize(("argv", "usage", "hint"), [
    (["strat"], "usage: codex-orchestrator ", "did you mean 'start'?"),
    (["exec", "--timout", "5", "--", "true"], "usage: codex-orchestrator exec", "did you mean '--timeout'?"),
    (["status", "--fromat", "json"], "usage: codex-orchestrator status", "did you mean '--format'?"),
    (["config", "shwo"], "usage: codex-orchestrator config", "did you mean 'show'?"),
    (["approvals", "list", "--formt", "json"], "usage: codex-orchestrator approvals list", "'--format'"),
])
def test_a_typo_shows_that_commands_usage_and_a_suggestion(tmp_path: Path, argv: list[str], usage: str,
                                                           hint: str) -> None:
    result = run_cli(*argv, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(usage)
    assert hint in result.stderr


def test_the_final_line_shows_the_exit_code(tmp_path: Path) -> None:
    result = run_cli("exec", "--format", "text", "--", "sh", "-c", "exit 3", cwd=tmp_path)
    assert result.returncode == 3
    assert "failed (exit 3)" in result.stdout + result.stderr
