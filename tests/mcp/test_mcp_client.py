"""`mcp serve` driven by the official MCP SDK's stdio client: real server process, real commands, real sandbox."""

from __future__ import annotations

import contextlib
import re
import time
from pathlib import Path

import anyio

from ..conftest import Repo, live_pids
from ..peers import codex_bin
from .client import answer, events, info, manifest, serve


def _session_id(text: str) -> int:
    found = re.search(r"^Process running with session ID (\d+)$", text, re.M)
    assert found, text
    return int(found.group(1))


def test_exec_command_answers_as_codex_does_and_records_a_sandboxed_run(repo: Repo) -> None:
    async def main() -> None:
        async with serve(repo.root) as client:
            tools = await client.session.list_tools()
            assert [t.name for t in tools.tools] == ["exec_command", "write_stdin", "list_sessions", "close_session",
                                                     "run_pipeline", "run_status"]
            exec_tool = tools.tools[0]
            assert exec_tool.input_schema["required"] == ["cmd"]
            assert set(exec_tool.input_schema["properties"]) == {
                "cmd", "workdir", "yield_time_ms", "max_output_tokens", "tty", "login", "shell",
                "sandbox_permissions", "justification", "prefix_rule"}
            result = await client.call("exec_command", {"cmd": "echo out; echo err >&2; exit 3", "login": False})
            text = result.content[0].text  # type: ignore[union-attr]
            assert not result.is_error
            lines = text.splitlines()
            assert re.fullmatch(r"Chunk ID: [0-9a-f]{6}", lines[0])
            assert re.fullmatch(r"Wall time: \d+\.\d{4} seconds", lines[1])
            assert lines[2] == "Process exited with code 3"
            assert lines[3].startswith("Original token count: ") and lines[4] == "Output:"
            assert "out\n" in text and "err\n" in text
            run = manifest(info(result))
            assert run["task_id"] == "mcp"
            assert Path(info(result)["manifest"]).is_relative_to(repo.root / ".runs" / "mcp" / "cli")
            tool_run = run["tool_runs"][0]
            assert tool_run["sandboxState"] == "sandboxed" and tool_run["approvalSource"] == "not-required"
            assert tool_run["attempts"][0]["sandboxBackend"] in ("builtin", "bwrap")
            assert run["commands"][0]["exit_code"] == 3

    anyio.run(main)


def test_a_long_command_yields_a_session_that_write_stdin_polls_to_its_end(repo: Repo) -> None:
    async def main() -> None:
        async with serve(repo.root) as client:
            text = await client.text("exec_command", {"cmd": "echo start; sleep 1.5; echo end", "yield_time_ms": 300,
                                                      "login": False})
            session = _session_id(text)
            assert "start" in text and "end" not in text
            listed = await client.call("list_sessions")
            assert [s["session_id"] for s in listed.structured_content["sessions"]] == [session]
            polled = await client.call("write_stdin", {"session_id": session, "yield_time_ms": 10_000})
            body = polled.content[0].text  # type: ignore[union-attr]
            assert "Process exited with code 0" in body and "end" in body and "start" not in body
            assert manifest(info(polled))["status"] == "succeeded"
            gone = await client.call("write_stdin", {"session_id": session})
            assert gone.is_error and f"Unknown process id {session}" in gone.content[0].text  # type: ignore[union-attr]
            assert (await client.call("list_sessions")).structured_content == {"sessions": []}

    anyio.run(main)


def test_write_stdin_types_into_a_tty_command(repo: Repo) -> None:
    async def main() -> None:
        async with serve(repo.root) as client:
            text = await client.text("exec_command", {"cmd": "read line; echo got:$line", "tty": True,
                                                      "yield_time_ms": 500})
            session = _session_id(text)
            result = await client.call("write_stdin", {"session_id": session, "chars": "hello\n",
                                                       "yield_time_ms": 5000})
            body = result.content[0].text  # type: ignore[union-attr]
            assert "Process exited with code 0" in body and "got:hello" in body
            run = manifest(info(result))
            assert run["tool_runs"][0]["sandboxState"] == "sandboxed"

    anyio.run(main)


def test_a_command_without_a_tty_has_no_stdin_and_close_session_stops_it(repo: Repo) -> None:
    async def main() -> None:
        async with serve(repo.root) as client:
            text = await client.text("exec_command", {"cmd": "sleep 31337", "yield_time_ms": 250, "login": False})
            session = _session_id(text)
            refused = await client.call("write_stdin", {"session_id": session, "chars": "x\n"})
            assert refused.is_error and "stdin is closed" in refused.content[0].text  # type: ignore[union-attr]
            assert live_pids("31337")
            closed = await client.call("close_session", {"session_id": session})
            assert "Process exited with code 143" in closed.content[0].text  # type: ignore[union-attr]
            run = manifest(info(closed))
            assert run["status"] == "cancelled"
            assert not live_pids("31337")

    anyio.run(main)


def test_approval_by_elicitation_approves_and_denies(repo: Repo) -> None:
    asked: list[str] = []

    async def main(decision: str, name: str) -> dict[str, object]:
        async with serve(repo.root, "--approval-policy", "untrusted", elicit=answer(decision, asked=asked)) as client:
            result = await client.call("exec_command", {"cmd": f"touch {name}"})
            return {"error": result.is_error, "text": result.content[0].text,  # type: ignore[union-attr]
                    "structured": info(result)}

    approved = anyio.run(main, "approved", "yes.txt")
    assert not approved["error"] and (repo.root / "yes.txt").exists()
    assert "Command: touch yes.txt" in asked[0] and "Sandbox: workspace-write" in asked[0]
    decisions = [e["payload"] for e in events(approved["structured"]) if e["type"] == "approval:decision"]  # type: ignore[arg-type]
    assert decisions[-1]["decision"] == "approved" and decisions[-1]["approvalSource"] == "prompt"

    denied = anyio.run(main, "denied", "no.txt")
    assert denied["error"] and "rejected" in str(denied["text"])
    assert not (repo.root / "no.txt").exists()
    run = manifest(denied["structured"])  # type: ignore[arg-type]
    assert run["tool_runs"][0]["status"] == "rejected" and run["status"] != "succeeded"


def test_a_declined_form_denies(repo: Repo) -> None:
    async def main() -> bool:
        async with serve(repo.root, "-a", "untrusted", elicit=answer(None, action="decline")) as client:
            result = await client.call("exec_command", {"cmd": "touch declined.txt"})
            return bool(result.is_error)

    assert anyio.run(main)
    assert not (repo.root / "declined.txt").exists()


def test_without_elicitation_the_policy_fails_closed(repo: Repo) -> None:
    async def main() -> tuple[bool, dict[str, object]]:
        async with serve(repo.root, "--approval-policy", "untrusted") as client:  # no elicitation callback
            result = await client.call("exec_command", {"cmd": "touch unasked.txt"})
            return bool(result.is_error), manifest(info(result))

    error, run = anyio.run(main)
    assert error and not (repo.root / "unasked.txt").exists()
    assert run["tool_runs"][0]["approvalSource"] == "no-channel"  # type: ignore[index]


def test_prefix_rule_approved_always_is_stored_in_codex_form(repo: Repo, isolated_home: Path, tmp_path: Path) -> None:
    import subprocess

    asked: list[str] = []

    async def main() -> tuple[dict[str, object] | None, dict[str, object] | None]:
        async with serve(repo.root, elicit=answer("approved_always", asked=asked)) as client:
            first = await client.call("exec_command", {"cmd": "touch ruled.txt", "sandbox_permissions":
                                                       "require_escalated", "justification": "to test",
                                                       "prefix_rule": ["touch"]})
            assert not first.is_error, first.content
            second = await client.call("exec_command", {"cmd": "touch again.txt",
                                                        "sandbox_permissions": "require_escalated"})
            return info(first), info(second)

    first, second = anyio.run(main)
    rules = isolated_home / ".codex" / "rules" / "default.rules"
    assert rules.read_text() == 'prefix_rule(pattern=["touch"], decision="allow")\n'
    assert first is not None and first["ruleStored"] == str(rules)
    assert len(asked) == 1 and "prefix_rule(pattern=[\"touch\"]" in asked[0]
    assert manifest(second)["tool_runs"][0]["approvalSource"] == "codex-rules"  # the stored rule, no question
    checked = subprocess.run([str(codex_bin()), "execpolicy", "check", "-r", str(rules), "touch", "x"],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0 and '"allow"' in checked.stdout, checked.stdout + checked.stderr


def test_a_prefix_rule_that_does_not_fit_the_command_is_refused(repo: Repo) -> None:
    async def main() -> list[str]:
        async with serve(repo.root, elicit=answer("approved_always")) as client:
            texts = []
            for rule in (["rm"], ["bash"]):
                result = await client.call("exec_command", {"cmd": "touch x", "prefix_rule": rule,
                                                            "sandbox_permissions": "require_escalated"})
                assert result.is_error
                texts.append(result.content[0].text)  # type: ignore[union-attr]
            return texts

    not_prefix, too_broad = anyio.run(main)
    assert "not a prefix" in not_prefix and "too broad" not in not_prefix
    assert "not a prefix" in too_broad or "too broad" in too_broad
    assert not (repo.root / "x").exists()


def test_bad_arguments_and_workdirs_outside_the_workspace_are_tool_errors(repo: Repo, tmp_path: Path) -> None:
    (repo.root / "sub").mkdir()

    async def main() -> None:
        async with serve(repo.root) as client:
            for arguments, says in [({}, "cmd is required"), ({"cmd": "true", "tty": "yes"}, "tty must be"),
                                    ({"cmd": "true", "workdir": str(tmp_path)}, "outside the workspace"),
                                    ({"cmd": "true", "workdir": "../"}, "outside the workspace"),
                                    ({"cmd": "true", "shell": "python3"}, "shell must be"),
                                    ({"cmd": "true", "bogus": 1}, "unknown argument")]:
                result = await client.call("exec_command", arguments)
                assert result.is_error and says in result.content[0].text, (arguments, result)  # type: ignore[union-attr]
            inside = await client.call("exec_command", {"cmd": "pwd", "workdir": "sub", "login": False})
            assert f"{repo.root / 'sub'}\n" in inside.content[0].text  # type: ignore[union-attr]

    anyio.run(main)


def test_run_pipeline_and_run_status(repo: Repo) -> None:
    repo.config({"pipelines": [
        {"id": "quick", "title": "quick", "stages": [{"kind": "command", "id": "hi", "title": "hi",
                                                       "command": "echo piped"}]},
        {"id": "slow", "title": "slow", "stages": [{"kind": "command", "id": "nap", "title": "nap",
                                                     "command": "sleep 1.5"}]}], "defaultPipeline": "quick"})

    async def main() -> None:
        async with serve(repo.root) as client:
            quick = await client.call("run_pipeline", {})
            view = quick.structured_content
            assert view is not None and view["status"] == "succeeded" and view["task_id"] == "mcp"
            assert view["stages"][0]["id"] == "hi"
            slow = await client.call("run_pipeline", {"pipeline": "slow", "yield_time_ms": 0})
            assert slow.structured_content["status"] == "in_progress"  # type: ignore[index]
            run_id = slow.structured_content["run_id"]  # type: ignore[index]
            started = time.monotonic()
            done = await client.call("run_status", {"run_id": run_id, "yield_time_ms": 10_000})
            assert done.structured_content["status"] == "succeeded"  # type: ignore[index]
            assert time.monotonic() - started < 10
            missing = await client.call("run_pipeline", {"pipeline": "nope"})
            assert missing.is_error and "unknown pipeline" in missing.content[0].text  # type: ignore[union-attr]

    anyio.run(main)


def test_sigterm_stops_the_server_and_records_its_running_command_cancelled(repo: Repo) -> None:
    import os
    import signal

    gone: list[bool] = []

    async def main() -> None:
        async with serve(repo.root, "--task", "sigterm-test") as client:
            result = await client.call("exec_command", {"cmd": "sleep 4243", "yield_time_ms": 250, "login": False})
            server = manifest(info(result))["pid"]  # the server records itself as the run's process
            os.kill(server, signal.SIGTERM)
            deadline = time.monotonic() + 15
            while server in live_pids("sigterm-test") and time.monotonic() < deadline:
                await anyio.sleep(0.05)
            gone.append(server not in live_pids("sigterm-test"))

    with contextlib.suppress(BaseException):  # the client sees its server go away: that is the point
        anyio.run(main)
    assert gone == [True]
    [run] = repo.manifests("sigterm-test")
    assert run["status"] == "cancelled" and run["exit_code"] == 143, run["status_detail"]
    assert not live_pids("4243")
