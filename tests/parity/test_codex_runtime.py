"""What runs, as Codex would run it (issue #12 items 1, 2, 3 and 6), through the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CLI, Repo, events, run_cli
from tests.peers import codex_sdk


def rules(home: Path, text: str, name: str = "user.rules") -> None:
    folder = home / ".codex" / "rules"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)


def summary(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def test_codex_starlark_rules_no_longer_stop_every_command(isolated_home: Path, repo: Repo) -> None:
    """Item 1: variables, `+`, positional arguments, triple quotes, host_executable: Codex accepts them."""
    rules(isolated_home, 'ECHO = "echo"\n'
                         'prefix_rule([ECHO] + ["hi"], "forbidden", justification = """no\ngreeting""")\n'
                         'host_executable(name = "echo", paths = ["/bin/echo"])\n')
    ok = repo.run("exec", "--format", "summary", "-a", "never", "--", "true")
    assert ok.returncode == 0, ok.stderr
    refused = repo.run("exec", "--format", "summary", "-a", "never", "--", "echo", "hi")
    assert refused.returncode == 77 and summary(refused)["toolRun"]["status"] == "rejected"


def _trust(home: Path, root: Path) -> None:
    (home / ".codex" / "config.toml").write_text(f'[projects."{root}"]\ntrust_level = "trusted"\n')


def test_project_rules_forbid_in_any_project_and_allow_only_in_a_trusted_one(isolated_home: Path,
                                                                             repo: Repo) -> None:
    """Item 2: `<repo>/.codex/rules/*.rules` apply; a project's allow rule needs the project trusted."""
    folder = repo.root / ".codex" / "rules"
    folder.mkdir(parents=True)
    (folder / "project.rules").write_text('prefix_rule(["echo", "bad"], "forbidden")\n'
                                         'prefix_rule(["touch"], "allow")\n')
    outside = isolated_home / "outside-file"
    forbidden = repo.run("exec", "--format", "summary", "-a", "never", "--", "echo", "bad")
    assert forbidden.returncode == 77  # a repository may always tighten
    untrusted = repo.run("exec", "--format", "summary", "-a", "never", "-c",
                         "sandbox_workspace_write.exclude_slash_tmp=true", "--", "touch", str(outside))
    assert untrusted.returncode != 0 and not outside.exists()  # its allow rule does not leave the sandbox
    assert summary(untrusted)["toolRun"]["approvalSource"] != "codex-rules"
    _trust(isolated_home, repo.root)
    trusted = repo.run("exec", "--format", "summary", "-a", "never", "--", "touch", str(outside))
    assert trusted.returncode == 0 and outside.exists(), trusted.stderr
    assert summary(trusted)["toolRun"]["approvalSource"] == "codex-rules"


def test_project_codex_config_only_in_a_trusted_project(isolated_home: Path, repo: Repo) -> None:
    (repo.root / ".codex").mkdir()
    (repo.root / ".codex" / "config.toml").write_text(
        'approval_policy = "never"\nnotify = ["sh", "-c", "touch /tmp/pwned"]\n')
    shown = json.loads(repo.run("config", "show", "--format", "json").stdout)
    values = {row["key"]: row for row in shown["settings"]}
    assert values["approval_policy"]["value"] == "on-request" and shown["project_codex_config"] is None
    _trust(isolated_home, repo.root)
    shown = json.loads(repo.run("config", "show", "--format", "json").stdout)
    values = {row["key"]: row for row in shown["settings"]}
    assert values["approval_policy"]["value"] == "never"
    assert values["approval_policy"]["source"] == f"codex:{repo.root / '.codex' / 'config.toml'}"
    assert values["notify"]["value"] == [] and "only your own config" in values["notify"]["note"]


def test_allow_reaches_one_shell_level_only(isolated_home: Path, tmp_path: Path) -> None:
    """Item 3: Codex runs a command line as `bash -lc LINE` and unwraps that one level: `bash -c 'touch x'`
    given as a line is `bash -c ...`, which an allow rule for `touch` does not match: it stays sandboxed."""
    rules(isolated_home, 'prefix_rule(["touch"], "allow")\n')
    target = isolated_home / "made-by-touch"
    tmp_path = tmp_path / "work"  # the workspace: the target is outside it
    tmp_path.mkdir()
    nested = run_cli("exec", "--format", "summary", "-a", "never", "-c",
                     "sandbox_workspace_write.exclude_slash_tmp=true", "--", f"bash -c 'touch {target}'", cwd=tmp_path)
    assert nested.returncode != 0 and not target.exists()
    assert summary(nested)["toolRun"]["sandboxState"] != "unsandboxed"
    one_level = run_cli("exec", "--format", "summary", "-a", "never", "--", f"touch {target}", cwd=tmp_path)
    assert one_level.returncode == 0 and target.exists()  # the line itself is `touch`: allowed, as in Codex


@pytest.mark.parametrize("command", [
    ["rm", "-f", "x"], ["rm", "-rf", "x"], ["sudo", "rm", "--force", "x"], ["bash", "-lc", "ls && rm -r -f x"],
    ["sh", "-c", "for a in b; do rm -fr x; done"]])
def test_codex_dangerous_command_check(tmp_path: Path, command: list[str]) -> None:
    """Item 3: with no rules, a forced `rm` is not run without asking (refused under never, as in Codex)."""
    (tmp_path / "x").write_text("keep me")
    result = run_cli("exec", "--format", "summary", "-a", "never", "--", *command, cwd=tmp_path)
    assert result.returncode == 77, result.stdout
    assert (tmp_path / "x").exists()
    assert "force option" in summary(result)["toolRun"]["message"]
    plain = run_cli("exec", "--format", "summary", "-a", "never", "--", "rm", "-r", "x", cwd=tmp_path)
    assert plain.returncode == 0 and not (tmp_path / "x").exists()


def test_string_commands_run_in_a_login_shell(tmp_path: Path) -> None:
    """Item 8: a command line runs as Codex runs it, `bash -lc`."""
    result = run_cli("exec", "--jsonl", "--", "shopt -q login_shell && echo login", cwd=tmp_path)
    stream = events(result.stdout)
    begin = next(e for e in stream if e["type"] == "exec:begin")
    assert begin["payload"]["argv"][:2] == ["/bin/bash", "-lc"]
    assert "login" in next(e for e in stream if e["type"] == "run:summary")["payload"]["outputs"]["stdoutTail"]


def codex_stream(tmp_path: Path, *command: str, flag: str = "--json") -> list[dict[str, Any]]:
    result = run_cli("exec", flag, *(("codex",) if flag == "--format" else ()), "--", *command, cwd=tmp_path)
    return events(result.stdout)


def test_exec_json_is_codex_jsonl(tmp_path: Path) -> None:
    """Item 6: `exec --json` prints Codex's `codex exec --json` events."""
    stream = codex_stream(tmp_path, "sh", "-c", "echo out; echo err >&2")
    assert [e["type"] for e in stream] == ["thread.started", "turn.started", "item.started", "item.completed",
                                           "turn.completed"]
    started, completed = stream[2]["item"], stream[3]["item"]
    assert started == {"id": "item_0", "type": "command_execution", "command": "sh -c 'echo out; echo err >&2'",
                       "aggregated_output": "", "status": "in_progress"}
    assert completed["status"] == "completed" and completed["exit_code"] == 0
    assert sorted(completed["aggregated_output"].split()) == ["err", "out"]
    assert set(stream[4]["usage"]) >= {"input_tokens", "cached_input_tokens", "output_tokens"}
    assert codex_stream(tmp_path, "true", flag="--format")[0]["type"] == "thread.started"


def test_codex_dialect_failures(tmp_path: Path) -> None:
    failed = codex_stream(tmp_path, "sh", "-c", "exit 3")
    assert failed[3]["item"]["status"] == "failed" and failed[3]["item"]["exit_code"] == 3
    assert failed[-1]["type"] == "turn.completed"  # a failing command is a failed item, as in Codex
    refused = codex_stream(tmp_path, "rm", "-f", "nothing")
    assert refused[-1]["type"] == "turn.failed" and "force option" in refused[-1]["error"]["message"]
    assert "exit_code" not in refused[3]["item"]


def test_summary_moved_to_format_summary_and_json_format_still_works(tmp_path: Path) -> None:
    for flags in (("--format", "summary"), ("--format", "json")):
        result = run_cli("exec", *flags, "--", "echo", "hi", cwd=tmp_path)
        assert result.returncode == 0 and json.loads(result.stdout)["status"] == "succeeded"


SDK_READER = """
const sdk = await import(process.argv[2]);
const codex = new sdk.Codex({ codexPathOverride: process.argv[3] });
const thread = codex.startThread({ skipGitRepoCheck: true });
const { events } = await thread.runStreamed("run it");
const seen = [];
for await (const event of events) seen.push(event);
console.log(JSON.stringify({ seen, threadId: thread.id }));
"""


def test_codex_sdk_reads_our_stream(tmp_path: Path) -> None:
    """Item 6: @openai/codex-sdk's own reader (Thread.runStreamed) consumes `exec --json` output."""
    sdk_entry = codex_sdk() / "dist" / "index.js"
    shim = tmp_path / "codex-shim"
    cli = " ".join(CLI)
    shim.write_text(f"#!/bin/sh\nexec {cli} exec --json -- sh -c 'echo from-the-command'\n")
    shim.chmod(0o755)
    reader = tmp_path / "reader.mjs"
    reader.write_text(SDK_READER)
    done = subprocess.run(["node", str(reader), sdk_entry.as_uri(), str(shim)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    kinds = [event["type"] for event in result["seen"]]
    assert kinds == ["thread.started", "turn.started", "item.started", "item.completed", "turn.completed"]
    assert result["threadId"] == result["seen"][0]["thread_id"]
    item = result["seen"][3]["item"]
    assert item["type"] == "command_execution" and item["aggregated_output"] == "from-the-command\n"
