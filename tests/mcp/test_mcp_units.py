"""The plain parts of `mcp serve`: argument checking, Codex's output layout, and prefix rules written as Codex does."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from codex_orchestrator.errors import RulesError
from codex_orchestrator.mcp_server.output import approx_tokens, render, truncate
from codex_orchestrator.mcp_server.tools import ToolInputError, parse_exec_command, parse_write_stdin
from codex_orchestrator.tools.approvals.amend import append_prefix_rule, check_prefix, rule_line
from codex_orchestrator.tools.approvals.rules import load_rule_dirs


def test_exec_command_arguments_default_and_clamp_as_codex_does() -> None:
    args = parse_exec_command({"cmd": "ls"})
    assert (args.yield_time_ms, args.max_output_tokens, args.tty, args.login) == (10_000, 10_000, False, True)
    assert parse_exec_command({"cmd": "ls", "yield_time_ms": 1}).yield_time_ms == 250
    assert parse_exec_command({"cmd": "ls", "yield_time_ms": 10**9}).yield_time_ms == 30_000
    escalated = parse_exec_command({"cmd": "ls", "sandbox_permissions": "require_escalated", "prefix_rule": ["ls"]})
    assert escalated.sandbox_permissions == "require_escalated" and escalated.prefix_rule == ["ls"]


@pytest.mark.parametrize("raw", [
    None, {"cmd": ""}, {"cmd": 3}, {"cmd": "ls", "yield_time_ms": "5"}, {"cmd": "ls", "yield_time_ms": float("nan")},
    {"cmd": "ls", "sandbox_permissions": "with_additional_permissions"}, {"cmd": "ls", "prefix_rule": []},
    {"cmd": "ls", "prefix_rule": ["ls", ""]}, {"cmd": "ls", "login": 1}, {"cmd": "a\x00b"}, {"cmd": "ls", "x": 1},
])
def test_bad_exec_command_arguments_are_input_errors(raw: dict[str, object] | None) -> None:
    with pytest.raises(ToolInputError):
        parse_exec_command(raw)


def test_write_stdin_waits_differ_for_writes_and_polls() -> None:
    assert parse_write_stdin({"session_id": 1001, "chars": "x"}).yield_time_ms == 250
    assert parse_write_stdin({"session_id": 1001}).yield_time_ms == 5_000
    assert parse_write_stdin({"session_id": 1001, "yield_time_ms": 10**7}).yield_time_ms == 50_000
    for bad in ({}, {"session_id": "1001"}, {"session_id": 1.5}, {"session_id": True}):
        with pytest.raises(ToolInputError):
            parse_write_stdin(bad)


def test_render_lays_out_the_answer_as_codex_does() -> None:
    done = render(output="hi\n", wall_seconds=0.05261, exit_code=0, session_id=None, max_tokens=100).splitlines()
    assert done[1:] == ["Wall time: 0.0526 seconds", "Process exited with code 0", "Original token count: 1",
                        "Output:", "hi"]
    running = render(output="", wall_seconds=1, exit_code=None, session_id=4821, max_tokens=100)
    assert "Process running with session ID 4821" in running


def test_truncate_keeps_head_and_tail_within_the_budget() -> None:
    text = "".join(f"line {i}\n" for i in range(2000))
    cut = truncate(text, 100)
    assert cut.startswith(f"Warning: truncated output (original token count: {approx_tokens(text)})")
    assert "line 0\n" in cut and "line 1999\n" in cut and "line 1000\n" not in cut
    assert "tokens truncated" in cut and len(cut.encode()) < 100 * 4 + 200
    assert truncate("short", 100) == "short"
    assert truncate("é" * 1000, 10).count("\ufffd") == 0  # never cuts a character in two


def test_rule_line_is_codex_s_own_form_and_parses() -> None:
    line = rule_line(["echo", "Hello, world!"])
    assert line == 'prefix_rule(pattern=["echo", "Hello, world!"], decision="allow")'


def test_append_creates_dedupes_and_repairs_a_missing_newline(tmp_path: Path) -> None:
    path = append_prefix_rule(tmp_path, ["git", "pull"])
    assert path == tmp_path / "rules" / "default.rules"
    append_prefix_rule(tmp_path, ["git", "pull"])
    assert path.read_text() == 'prefix_rule(pattern=["git", "pull"], decision="allow")\n'
    path.write_text('prefix_rule(pattern=["ls"], decision="allow")')  # no final newline, as a person may leave it
    append_prefix_rule(tmp_path, ["make", "test"])
    assert path.read_text().splitlines() == ['prefix_rule(pattern=["ls"], decision="allow")',
                                             'prefix_rule(pattern=["make", "test"], decision="allow")']
    rules = load_rule_dirs([tmp_path / "rules"])
    assert rules.evaluate(["make", "test", "-k"]).decision == "allow"  # type: ignore[union-attr]


def test_a_symlinked_rules_file_is_never_written_through(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("# mine\n")
    (tmp_path / "rules").mkdir()
    os.symlink(target, tmp_path / "rules" / "default.rules")
    with pytest.raises(RulesError, match="symbolic link"):
        append_prefix_rule(tmp_path, ["git", "pull"])
    assert target.read_text() == "# mine\n"


@pytest.mark.parametrize(("prefix", "problem"), [
    (["bash"], "too broad"), (["/usr/bin/python3"], "too broad"), (["sudo"], "too broad"),
    (["git", "push"], "not a prefix"), (["git", "pu"], "not a prefix"), (["a\nb"], "newlines"),
])
def test_check_prefix_refuses_what_does_not_fit(prefix: list[str], problem: str) -> None:
    assert problem in (check_prefix(prefix, [["git", "pull", "origin"]]) or "")


def test_check_prefix_accepts_a_prefix_of_any_simple_command() -> None:
    assert check_prefix(["git", "pull"], [["cd", "x"], ["git", "pull", "origin"]]) is None
