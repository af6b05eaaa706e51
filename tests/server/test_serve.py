"""`serve --stdio` against the real server process: requests, events, approvals, cancels, sessions."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Repo, live_pids

from .client import Client


def test_initialize_and_exec_write_the_same_run_as_the_cli(repo: Repo) -> None:
    with Client(repo.root) as client:
        info = client.call("initialize", {"clientInfo": {"name": "test", "version": "1"}})
        assert info["serverInfo"]["name"] == "codex-orchestrator" and info["protocolVersion"] == 1
        assert info["config"]["settings"]["sandbox_mode"] == "workspace-write"
        request_id = client.request("exec", {"command": ["echo", "hi"]})
        result = client.wait(request_id)["result"]
        assert result["status"] == "succeeded" and result["exitCode"] == 0
        assert result["summary"]["outputs"]["stdoutTail"] == "hi\n"
        manifest = json.loads(Path(result["manifestPath"]).read_text())
        assert manifest["status"] == "succeeded" and manifest["run_id"] == result["runId"]
        types = [e["event"]["type"] for e in client.events[request_id]]
        assert types[0] == "run:start" and types[-1] == "run:summary" and "exec:chunk" in types
        assert {e["runId"] for e in client.events[request_id]} == {result["runId"]}
        # Every event of a call reaches the client before its response.
        assert client.order.index(("response", request_id)) > max(
            i for i, item in enumerate(client.order) if item == ("event", request_id))
        assert client.close() == 0


def test_bad_input_gets_json_rpc_errors_and_the_server_survives(repo: Repo) -> None:
    with Client(repo.root) as client:
        client.send("this is not json")
        client.send("[1, 2]")
        assert client.raw.get(timeout=10)["error"]["code"] == -32700
        assert client.raw.get(timeout=10)["error"]["code"] == -32600
        assert client.wait(client.request("no/such/method"))["error"]["code"] == -32601
        bad = client.wait(client.request("exec", {"comand": "true"}))["error"]
        assert bad["code"] == -32602 and "did you mean 'command'" in bad["message"] and bad["data"]["exitCode"] == 2
        bad = client.wait(client.request("exec", {"command": "true", "timeoutMs": float("nan")}))
        assert bad["error"]["code"] in (-32602, -32700)
        assert client.wait(client.request("exec", {"command": []}))["error"]["code"] == -32602
        wide = client.wait(client.request("exec", {"command": "true", "sandbox": "wide-open"}))
        assert wide["error"]["code"] == -32602
        missing = client.wait(client.request("run/status", {"runId": "2026-01-01T00-00-00-000Z-00000000"}))
        assert missing["error"]["code"] == -32001 and missing["error"]["data"]["exitCode"] == 66
        assert client.call("exec", {"command": "exit 3"})["exitCode"] == 3  # a non-zero exit is a result
        assert client.close() == 0


@pytest.mark.parametrize(("answer", "status", "exit_code"), [
    ({"decision": "approved"}, "succeeded", 0),
    ({"decision": "denied"}, "failed", 77),
    ({"decision": "yes please"}, "failed", 77),  # not a decision: fails closed
])
def test_approvals_are_answered_by_the_client(repo: Repo, answer: dict[str, Any], status: str,
                                              exit_code: int) -> None:
    with Client(repo.root, on_approval=lambda params: answer) as client:
        request_id = client.request("exec", {"command": ["touch", "made"], "approvalPolicy": "untrusted"})
        result = client.wait(request_id)["result"]
        assert (result["status"], result["exitCode"]) == (status, exit_code)
        assert (repo.root / "made").exists() == (status == "succeeded")
        [asked] = client.approvals
        assert asked["requestId"] == request_id and asked["runId"] == result["runId"]
        assert asked["approval"]["command"] == ["touch", "made"] and "approved" in asked["approval"]["options"]
        types = [e["event"]["type"] for e in client.events[request_id]]
        assert "approval:request" in types and "approval:decision" in types
        if answer["decision"] == "yes please":
            assert "approval:error" in types
        client.close()


def test_an_approval_question_names_the_run_even_without_events(repo: Repo) -> None:
    with Client(repo.root, on_approval=lambda params: {"decision": "denied"}) as client:
        result = client.call("exec", {"command": ["touch", "made"], "approvalPolicy": "untrusted", "events": False})
        [asked] = client.approvals
        assert asked["runId"] == result["runId"] and result["exitCode"] == 77
        client.close()


def test_an_unanswered_approval_times_out_and_denies(repo: Repo) -> None:
    env = {"CODEX_ORCHESTRATOR_APPROVAL_TIMEOUT": "1"}
    with Client(repo.root, env=env, on_approval=lambda params: None) as client:
        result = client.call("exec", {"command": ["touch", "made"], "approvalPolicy": "untrusted"})
        assert result["exitCode"] == 77 and not (repo.root / "made").exists()
        decision = [e["event"]["payload"] for e in client.events[1] if e["event"]["type"] == "approval:decision"]
        assert decision[0]["decision"] == "timed_out"
        client.close()


def test_cancel_request_stops_that_call_only(repo: Repo) -> None:
    with Client(repo.root) as client:
        slow = client.request("exec", {"command": "sleep 30"})
        time.sleep(0.5)
        client.send({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": slow}})
        other = client.call("exec", {"command": "echo other"})
        result = client.wait(slow, timeout=15)["result"]
        assert result["status"] == "cancelled" and result["exitCode"] == 143
        assert "cancelRequest" in result["statusDetail"]
        assert other["status"] == "succeeded"
        client.close()


def test_end_of_input_cancels_every_run_and_exits_0(repo: Repo) -> None:
    marker = f"eof-marker-{os.getpid()}"
    with Client(repo.root) as client:
        ids = [client.request("exec", {"command": f"sleep 60 # {marker}"}) for _ in range(3)]
        deadline = time.monotonic() + 10
        while len(live_pids(marker)) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        started = time.monotonic()
        assert client.close(timeout=20) == 0
        assert time.monotonic() - started < 10
        assert live_pids(marker) == []
        for request_id in ids:
            events = client.events[request_id]
            assert events[-1]["event"]["type"] == "run:summary"
            manifest = json.loads(Path(events[0]["event"]["payload"]["manifest"]).read_text())
            assert manifest["status"] == "cancelled" and "client-closed" in manifest["status_detail"]


def test_end_of_input_while_an_approval_waits_fails_closed(repo: Repo) -> None:
    with Client(repo.root, on_approval=lambda params: None) as client:
        client.request("exec", {"command": ["touch", "made"], "approvalPolicy": "untrusted"})
        deadline = time.monotonic() + 10
        while not client.approvals and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.close() == 0
        assert not (repo.root / "made").exists()
        decisions = [e["event"]["payload"]["decision"] for e in client.events[1]
                     if e["event"]["type"] == "approval:decision"]
        assert decisions in (["channel-closed"], ["abort"])


def test_sigterm_stops_the_server_with_143(repo: Repo) -> None:
    with Client(repo.root) as client:
        client.request("exec", {"command": "sleep 30"})
        time.sleep(0.5)
        client.proc.send_signal(signal.SIGTERM)
        assert client.proc.wait(15) == 143


def test_fifty_concurrent_execs_all_complete_and_are_recorded(repo: Repo) -> None:
    with Client(repo.root) as client:
        ids = [client.request("exec", {"command": f"echo call-{n}", "events": n % 2 == 0}) for n in range(50)]
        results = [client.wait(i, timeout=120)["result"] for i in ids]
        assert all(r["status"] == "succeeded" for r in results)
        assert [r["summary"]["outputs"]["stdoutTail"] for r in results] == [f"call-{n}\n" for n in range(50)]
        assert len({r["runId"] for r in results}) == 50
        for r in results:  # a call answers once its manifest is final
            assert json.loads(Path(r["manifestPath"]).read_text())["status"] == "succeeded"
        quiet = {ids[n] for n in range(50) if n % 2 == 1}
        assert quiet.isdisjoint(client.events) and len(client.events) == 25  # events: false sends none
        assert client.call("shutdown") == {}  # answered once every ended run is in the shared files
        client.proc.wait(30)
        assert list((repo.root / ".runs" / "default").glob(".views-*")) == []  # a clean exit leaves no mark
        metrics = json.loads((repo.root / ".runs" / "default" / "metrics.json").read_text())
        assert len(metrics["runs"]) == 50 and {m["run_id"] for m in metrics["runs"]} == {r["runId"] for r in results}
        assert metrics["totals"]["runs"] == metrics["totals"]["succeeded"] == 50
        state = json.loads((repo.root / "out" / "default" / "state.json").read_text())
        assert {e["status"] for e in state["runs"].values()} == {"succeeded"} and len(state["runs"]) == 50
        assert client.close() == 0


def test_sessions_keep_state_across_calls(repo: Repo) -> None:
    with Client(repo.root) as client:
        session = client.call("session/open", {"sandbox": "workspace-write"})["sessionId"]
        first = client.call("session/run", {"sessionId": session, "command": "mkdir -p sub && cd sub; X=41"})
        assert first["status"] == "succeeded"
        second = client.call("session/run", {"sessionId": session, "command": "echo $((X+1)) $(basename $PWD)"})
        assert "42 sub" in second["summary"]["outputs"]["stdoutTail"]
        listed = client.call("session/list")["sessions"]
        assert [s["sessionId"] for s in listed] == [session] and listed[0]["started"]
        assert client.call("session/close", {"sessionId": session}) == {"closed": True}
        assert client.call("session/list")["sessions"] == []
        gone = client.wait(client.request("session/run", {"sessionId": session, "command": "true"}))
        assert gone["error"]["code"] == -32602
        client.close()


def test_pipeline_runs_through_the_server(repo: Repo) -> None:
    repo.pipeline({"id": "one", "title": "one", "command": "echo first"},
                  {"id": "two", "title": "two", "command": "sleep 30"})
    with Client(repo.root) as client:
        started = client.request("run/start", {"pipeline": "p"})
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            events = client.events.get(started, [])
            if any(e["event"]["type"] == "stage:start" and e["event"]["payload"]["stageId"] == "two" for e in events):
                break
            time.sleep(0.05)
        run_id = client.events[started][0]["runId"]
        status = client.call("run/status", {"runId": run_id})
        assert status["status"] == "in_progress" and status["stages"][0]["status"] == "succeeded"
        assert client.call("run/cancel", {"runId": run_id}) == {"cancelled": True}
        result = client.wait(started, timeout=15)["result"]
        assert result["status"] == "cancelled" and result["runId"] == run_id
        assert result["summary"]["status"] == "cancelled"
        client.close()


def test_session_write_types_into_a_running_command_and_poll_reads_its_output(repo: Repo) -> None:
    with Client(repo.root) as client:
        session = client.call("session/open", {})["sessionId"]
        running = client.request("session/run", {"sessionId": session,
                                                 "command": "echo ready; read name; echo hello $name"})
        deadline = time.monotonic() + 15
        seen = ""
        while "ready" not in seen and time.monotonic() < deadline:
            polled = client.call("session/poll", {"sessionId": session})
            seen += polled["output"]
            time.sleep(0.05)
        assert "ready" in seen and polled["running"]
        assert client.call("session/write", {"sessionId": session, "chars": "world\n"}) == {"written": 6}
        result = client.wait(running, timeout=15)["result"]
        assert result["status"] == "succeeded" and "hello world" in result["summary"]["outputs"]["stdoutTail"]
        assert client.call("session/poll", {"sessionId": session})["running"] is False
        idle = client.wait(client.request("session/write", {"sessionId": session, "chars": "x"}))
        assert idle["error"]["code"] == -32602  # nothing runs: nothing to type into
        client.close()


def test_a_repo_config_cannot_loosen_what_a_server_call_runs_with(repo: Repo) -> None:
    """The server reads the repo config as the CLI does: it may only tighten (docs/security.md)."""
    repo.config({"approval_policy": "never", "sandbox_mode": "danger-full-access"})
    with Client(repo.root) as client:
        result = client.call("exec", {"command": ["touch", "made"]})
        tool_run = result["summary"]["toolRun"]
        assert tool_run["sandboxState"] == "sandboxed"  # not danger-full-access, as the repo asked
        assert client.call("initialize", {})["config"]["settings"]["sandbox_mode"] == "workspace-write"
        # The client (your own program, like your flags) may choose; the repo still cannot loosen it.
        chosen = client.call("exec", {"command": ["true"], "sandbox": "danger-full-access"})
        assert chosen["summary"]["toolRun"]["sandboxState"] == "unsandboxed"
        client.close()


def test_shutdown_stops_what_still_runs_and_says_so(repo: Repo) -> None:
    with Client(repo.root) as client:
        running = client.request("exec", {"command": "sleep 30", "events": False})
        time.sleep(0.5)
        assert client.call("shutdown", {}) == {}
        result = client.wait(running, timeout=15)["result"]
        assert result["status"] == "cancelled" and result["statusDetail"].startswith("shutdown:")
        assert client.proc.wait(15) == 0


def test_runs_a_killed_server_had_not_yet_put_into_the_shared_files_are_added_by_the_next_update(
        repo: Repo) -> None:
    """The server answers before a run's lines reach state.json and metrics.json (its writer thread gathers
    them for a moment): a `kill -9` in that moment loses no run. The next update of the task, here by a
    CLI run, adds every run from its manifest, with its metrics record, once."""
    with Client(repo.root) as client:
        long = client.request("exec", {"command": "sleep 30"})  # live at the kill: becomes `interrupted`
        ids = [client.call("exec", {"command": ["true"]})["runId"] for _ in range(5)]
        time.sleep(0.3)  # the long run is under way (its process holds its lock)
        ids += [client.call("exec", {"command": ["true"]})["runId"] for _ in range(3)]
        client.proc.kill()  # within the writer's gathering time of the last answers
        client.proc.wait()
        assert long not in client.responses
    state_path = repo.root / "out" / "default" / "state.json"
    before = json.loads(state_path.read_text())["runs"] if state_path.exists() else {}
    assert not set(ids[-3:]) & set(before) and before[ids[0]]["status"] == "succeeded"  # really pending

    marks = lambda: [p.name for p in (repo.root / ".runs" / "default").glob(".views-*")]  # noqa: E731
    assert marks() == [f".views-{client.proc.pid}-{marks()[0].rsplit('-', 1)[1]}"]  # the dead server's mark
    assert repo.run("exec", "--", "true").returncode == 0
    assert marks() == []  # read once, then taken away
    state = json.loads(state_path.read_text())["runs"]
    manifests = {m["run_id"]: m for m in repo.manifests()}
    assert set(state) == set(manifests) and len(manifests) == 10
    assert all(state[i]["status"] == "succeeded" for i in ids)
    (sleeper,) = set(manifests) - set(ids) - {max(manifests)}
    assert state[sleeper]["status"] == "interrupted" and state[sleeper]["pipeline"] == "exec"
    metrics = json.loads((repo.root / ".runs" / "default" / "metrics.json").read_text())
    recorded = [r["run_id"] for r in metrics["runs"]]
    assert sorted(recorded) == sorted(manifests) and metrics["totals"]["runs"] == 10
    assert metrics["totals"]["succeeded"] == 9 and metrics["totals"]["interrupted"] == 1
    assert repo.run("exec", "--", "true").returncode == 0  # and only once
    assert json.loads((repo.root / ".runs" / "default" / "metrics.json").read_text())["totals"]["runs"] == 11
