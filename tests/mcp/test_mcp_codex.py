"""The real `codex` 0.169 with our server added by `codex mcp add`, its model scripted by the fake Responses API.

Codex's model calls our `exec_command`; the command must run through our orchestrator (our manifest under
the `mcp` task, our approval policy, our sandbox), and a forbidden rule of the user's must block it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..conftest import Repo
from ..fakemodel import FakeModel, Turn, codex_home_dir
from ..peers import codex_bin

SERVE = [sys.executable, "-m", "codex_orchestrator.cli.main", "mcp", "serve"]
# Codex asks its own user before any MCP tool call unless told otherwise; our server applies the user's
# policy itself. Codex forwards only a few variables to an MCP server: CODEX_HOME must be named.
CODEX_FLAGS = ["-c", 'mcp_servers.orchestrator.default_tools_approval_mode="approve"',
               "-c", 'mcp_servers.orchestrator.env_vars=["CODEX_HOME"]']


@pytest.fixture
def model() -> Iterator[FakeModel]:
    with FakeModel() as fake:
        fake.await_tool = "mcp__orchestrator"  # our server takes about a second to start; Codex does not wait
        yield fake


@pytest.fixture
def codex_home(model: FakeModel) -> Iterator[Path]:
    for path in codex_home_dir():
        model.codex_home(path)
        yield path


def _add_server(codex_home: Path, *args: str) -> None:
    env = {**os.environ, "CODEX_HOME": str(codex_home)}
    added = subprocess.run([str(codex_bin()), "mcp", "add", "orchestrator", "--", *SERVE, *args], env=env,
                           capture_output=True, text=True, timeout=60)
    assert added.returncode == 0, added.stderr
    listed = subprocess.run([str(codex_bin()), "mcp", "list", "--json"], env=env, capture_output=True, text=True,
                            timeout=60)
    assert listed.returncode == 0, listed.stderr
    servers = {server["name"]: server for server in json.loads(listed.stdout)}
    assert servers["orchestrator"]["transport"]["args"][-2:] == ["mcp", "serve"] or args


def _codex_exec(repo: Repo, codex_home: Path) -> list[dict[str, Any]]:
    env = {**os.environ, "CODEX_HOME": str(codex_home)}
    done = subprocess.run([str(codex_bin()), "exec", "--json", "--skip-git-repo-check", *CODEX_FLAGS, "go"],
                          cwd=repo.root, env=env, capture_output=True, text=True, timeout=180,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout + done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def _mcp_items(stream: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e["item"] for e in stream if e["type"] == "item.completed" and e["item"]["type"] == "mcp_tool_call"]


def _text(item: dict[str, Any]) -> str:
    return "".join(part.get("text", "") for part in (item.get("result") or {}).get("content", []))


def test_codex_runs_its_command_through_our_server_sandboxed_and_recorded(repo: Repo, model: FakeModel,
                                                                          codex_home: Path) -> None:
    _add_server(codex_home)
    model.script(Turn.mcp_call("orchestrator", "exec_command", {"cmd": "echo via-mcp > made.txt; cat made.txt"}),
                 Turn.message("done"))
    items = _mcp_items(_codex_exec(repo, codex_home))
    assert len(items) == 1 and items[0]["status"] == "completed", items
    text = _text(items[0])
    assert "Process exited with code 0" in text and "via-mcp" in text
    assert (repo.root / "made.txt").read_text() == "via-mcp\n"
    [run] = repo.manifests("mcp")
    assert run["status"] == "succeeded" and run["approval_policy"] == "on-request"
    tool_run = run["tool_runs"][0]
    assert tool_run["approvalSource"] == "not-required" and tool_run["sandboxState"] == "sandboxed"
    assert tool_run["attempts"][0]["sandboxBackend"] in ("builtin", "bwrap")
    assert items[0]["result"]["structured_content"] is None  # else Codex would show the model that instead
    # What the model got back for the call is our text, as Codex's own exec_command would have laid it out.
    assert "Process exited with code 0" in json.dumps(model.requests[-1]["input"])


def test_a_command_that_needs_a_person_is_refused_when_codex_declines_the_question(
        repo: Repo, model: FakeModel, codex_home: Path) -> None:
    _add_server(codex_home, "--approval-policy", "untrusted")
    model.script(Turn.mcp_call("orchestrator", "exec_command", {"cmd": "touch asked.txt"}), Turn.message("done"))
    items = _mcp_items(_codex_exec(repo, codex_home))
    assert "rejected" in _text(items[0]), items
    assert not (repo.root / "asked.txt").exists()
    [run] = repo.manifests("mcp")
    assert run["approval_policy"] == "untrusted"
    events = [json.loads(line) for line in Path(run["events_path"]).read_text().splitlines()]
    asked = [e for e in events if e["type"] == "approval:request"]
    decided = [e["payload"] for e in events if e["type"] == "approval:decision"]
    assert asked and decided[-1]["decision"] == "denied" and decided[-1]["approvalSource"] == "prompt"
    assert run["tool_runs"][0]["status"] == "rejected"


def test_a_forbidden_rule_of_the_user_blocks_the_models_command(repo: Repo, model: FakeModel,
                                                                codex_home: Path) -> None:
    (codex_home / "rules").mkdir()
    (codex_home / "rules" / "deny.rules").write_text('prefix_rule(pattern=["touch"], decision="forbidden")\n')
    _add_server(codex_home)
    model.script(Turn.mcp_call("orchestrator", "exec_command", {"cmd": "touch blocked.txt"}), Turn.message("done"))
    items = _mcp_items(_codex_exec(repo, codex_home))
    assert "rejected" in _text(items[0]) and "forbidden" in _text(items[0]), items
    assert not (repo.root / "blocked.txt").exists()
    [run] = repo.manifests("mcp")
    assert run["tool_runs"][0]["approvalSource"] == "forbidden-by-rule"
    assert run["tool_runs"][0]["status"] == "rejected"


def test_the_task_flag_names_where_the_runs_go(repo: Repo, model: FakeModel, codex_home: Path) -> None:
    _add_server(codex_home, "--task", "agent")
    model.script(Turn.mcp_call("orchestrator", "exec_command", {"cmd": "true"}), Turn.message("done"))
    items = _mcp_items(_codex_exec(repo, codex_home))
    assert items[0]["status"] == "completed"
    assert [run["task_id"] for run in repo.manifests("agent")] == ["agent"]
    assert repo.manifests("mcp") == []

