"""The pure parts of codex stages: TOML spelling of our bounds, the command line, the event translator."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from codex_orchestrator.codex.invocation import CodexBounds, codex_argv, display_argv, toml_value
from codex_orchestrator.codex.translate import CodexTranslator
from codex_orchestrator.events.bus import EventBus

BOUNDS = CodexBounds("workspace-write", False, ("/work/extra",), False, True, "core", False, ("*TOKEN*",), ())


def test_toml_values_round_trip() -> None:
    for value in ["plain", 'quote " and \\ back', "line\nnext\ttab", "\x00\x1f\x7f control", "ünïcödé 😀",
                  True, False, 0, 42, ["a", "b"], []]:
        assert tomllib.loads(f"v = {toml_value(value)}")["v"] == value


def test_argv_puts_bounds_before_the_prompt_and_resume() -> None:
    argv = codex_argv("codex", bounds=BOUNDS, cwd=Path("/repo"), prompt="-p evil", instructions="# Guide\n",
                      model="gpt-5", thread_id="T-1")
    assert argv[-4:] == ["resume", "--", "T-1", "-p evil"]
    assert argv[argv.index("--sandbox") + 1] == "workspace-write"
    overrides = dict(argv[i + 1].split("=", 1) for i, arg in enumerate(argv) if arg == "-c")
    assert tomllib.loads(f"v = {overrides['sandbox_workspace_write.writable_roots']}")["v"] == ["/work/extra"]
    assert overrides["approval_policy"] == '"never"' and overrides["project_doc_max_bytes"] == "0"
    assert overrides["sandbox_workspace_write.network_access"] == "false"
    assert "--model=gpt-5" in argv
    shown = display_argv(argv)
    assert "# Guide" not in " ".join(shown) and any("composed instructions" in arg for arg in shown)


class _Collect:
    critical = False

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def handle(self, event: Any, line: str) -> None:
        self.events.append(event)

    def close(self) -> None:
        pass


def test_translator_split_lines_and_unfinished_items() -> None:
    bus = EventBus()
    sink = _Collect()
    bus.subscribe(sink)
    translator = CodexTranslator(bus, stage_id="s", index=1, cwd=Path("/repo"), sandbox_mode="workspace-write",
                                 network_blocked=True)
    data = (b'{"type":"thread.started","thread_id":"T"}\nnot json\n'
            b'{"type":"item.started","item":{"id":"i1","type":"command_execution",'
            b'"command":"/bin/bash -lc \'sleep 9\'","aggregated_output":"","exit_code":null,"status":"in_progress"}}\n'
            b'{"type":"item.completed","item":{"id":"i2","type":"agent_message","text":"hi"}}')
    for i in range(0, len(data), 7):  # arbitrary chunk boundaries
        translator.feed(data[i:i + 7])
    translator.close()
    types = [e["type"] for e in sink.events]
    assert types.count("codex:event") == 3 and translator.final_message == "hi" and translator.thread_id == "T"
    complete = next(e["payload"] for e in sink.events if e["type"] == "tool:complete")
    assert complete["status"] == "cancelled" and complete["threadId"] == "T" and complete["source"] == "codex"


def test_an_mcp_tool_call_is_a_tool_run() -> None:
    bus = EventBus()
    sink = _Collect()
    bus.subscribe(sink)
    translator = CodexTranslator(bus, stage_id="s", index=1, cwd=Path("/repo"), sandbox_mode="workspace-write",
                                 network_blocked=True, thread_id="T")
    translator.handle({"type": "item.completed", "item": {
        "id": "m1", "type": "mcp_tool_call", "server": "orchestrator", "tool": "exec_command",
        "arguments": {"cmd": "ls"}, "result": {"content": [{"type": "text", "text": "a.txt"}],
                                               "structured_content": None}, "error": None, "status": "completed"}})
    complete = next(e["payload"] for e in sink.events if e["type"] == "tool:complete")
    assert complete["tool"] == "mcp_tool_call" and complete["command"] == "orchestrator/exec_command"
    assert complete["status"] == "succeeded" and complete["outputTail"] == "a.txt"


def test_a_permission_profile_is_used_only_when_no_codex_layer_can_ask_for_the_older_settings(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from codex_orchestrator.codex import permissions

    home, repo = tmp_path / "home", tmp_path / "repo"
    (repo / "sub" / ".codex").mkdir(parents=True)
    home.mkdir(exist_ok=True)
    system = tmp_path / "etc-codex-config.toml"
    monkeypatch.setattr(permissions, "UNPARSED", (system,))

    def reason(profile: str | None = None) -> str | None:
        return permissions.legacy_reason(codex_home=home, cwd=repo / "sub", repo_root=repo, profile=profile)

    (home / "config.toml").write_text('model = "m"\n[permissions.codex-orchestrator-stage]\nextends = ":workspace"\n')
    assert "codex-orchestrator-stage" in str(reason())  # could be merged into the profile we pass
    (home / "config.toml").write_text('model = "m"\n[projects."/x"]\ntrust_level = "trusted"\n')
    assert reason() is None
    (home / "work.config.toml").write_text('[sandbox_workspace_write]\nnetwork_access = true\n')
    assert "work.config.toml" in str(reason("work")) and reason() is None
    (repo / "sub" / ".codex" / "config.toml").write_text("[profiles.x]\nsandbox_mode = 'danger-full-access'\n")
    assert "sub/.codex/config.toml" in str(reason())  # nested tables count, untrusted projects too
    (repo / "sub" / ".codex" / "config.toml").write_text("not [toml")
    assert "cannot be read" in str(reason())
    (repo / "sub" / ".codex" / "config.toml").unlink()
    (tmp_path / ".codex").mkdir()
    (tmp_path / ".codex" / "config.toml").write_text('sandbox_mode = "danger-full-access"\n')
    assert reason() is None  # above the repository: not a layer of this stage
    system.write_text("")
    assert "exists" in str(reason())
