"""Approvals end to end through the real CLI and its stdin channel."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from ..conftest import CLI, events, run_cli, run_on_terminal


def _read_event(proc: subprocess.Popen[str], wanted: str, timeout: float = 30) -> dict[str, Any]:
    """The next event of type `wanted` on the CLI's stdout (earlier events are skipped).

    Blocking reads, no select(): lines the text reader has already buffered would not wake a select,
    which made this wait out its time-out now and then. A hung CLI is killed after `timeout`.
    """
    assert proc.stdout is not None
    watchdog = threading.Timer(timeout, proc.kill)
    watchdog.start()
    try:
        while True:
            line = proc.stdout.readline()
            if not line:
                raise AssertionError(f"stream ended before {wanted} (or no {wanted} within {timeout} s)")
            event = json.loads(line)
            if event["type"] == wanted:
                return event  # type: ignore[no-any-return]
    finally:
        watchdog.cancel()


def test_denial_request_response_retry_then_store_reuse(tmp_path: Path) -> None:
    command = ["exec", "--jsonl", "--approvals", "stdin", "--approval-policy", "on-failure",
               "--sandbox", "read-only", "--", "sh", "-c", "echo hi > out.txt"]
    proc = subprocess.Popen([*CLI, *command], cwd=tmp_path, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    request = _read_event(proc, "approval:request")["payload"]
    assert request["command"] == ["sh", "-c", "echo hi > out.txt"]
    assert "approved_always" in request["options"]
    assert proc.stdin is not None
    proc.stdin.write(json.dumps({"type": "approval:response", "requestId": request["requestId"],
                                 "decision": "approved_always"}) + "\n")
    proc.stdin.flush()
    rest, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    stream = events(rest)
    types = [e["type"] for e in stream]
    assert "tool:retry" in types
    summary = stream[-1]["payload"]
    assert summary["status"] == "succeeded"
    assert summary["result"]["sandboxState"] == "escalated"
    assert summary["metrics"]["approvalsPrompted"] == 1
    assert (tmp_path / "out.txt").read_text() == "hi\n"
    (tmp_path / "out.txt").unlink()

    again = run_cli(*command[:2], "--approval-policy", "on-failure", "--sandbox", "read-only", "--",
                    "sh", "-c", "echo hi > out.txt", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    stream = events(again.stdout)
    assert not [e for e in stream if e["type"] == "approval:request"]
    decisions = [e["payload"] for e in stream if e["type"] == "approval:decision"]
    assert [d["approvalSource"] for d in decisions] == ["store"]
    assert stream[-1]["payload"]["metrics"] == {**stream[-1]["payload"]["metrics"], "approvalsPrompted": 0,
                                                "approvalsReused": 1}
    listed = run_cli("approvals", "list", "--format", "json", cwd=tmp_path)
    assert "echo hi > out.txt" in listed.stdout


def test_never_does_not_wait_on_open_silent_stdin(tmp_path: Path) -> None:
    proc = subprocess.Popen([*CLI, "exec", "--jsonl", "--approvals", "stdin", "--approval-policy", "never",
                             "--sandbox", "read-only", "--", "sh", "-c", "echo x > f"],
                            cwd=tmp_path, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        stdout, _ = proc.communicate(timeout=30)  # stdin stays open (never written, never closed)
    finally:
        proc.kill()
    stream = events(stdout)
    assert not [e for e in stream if e["type"] == "approval:request"]
    assert stream[-1]["payload"]["status"] == "failed"
    assert stream[-1]["payload"]["result"]["sandboxState"] == "denied"
    assert not (tmp_path / "f").exists()


def test_no_channel_fails_closed_with_guidance(tmp_path: Path) -> None:
    result = run_cli("exec", "--jsonl", "--approval-policy", "untrusted", "--", "touch", "x", cwd=tmp_path)
    assert result.returncode == 77
    summary = events(result.stdout)[-1]["payload"]
    assert summary["status"] == "failed"
    assert "--approvals stdin" in summary["statusDetail"] and "rules" in summary["statusDetail"]
    assert not (tmp_path / "x").exists()


def test_rules_allow_skips_prompt_and_forbidden_blocks(tmp_path: Path, isolated_home: Path) -> None:
    rules = isolated_home / ".codex" / "rules"
    rules.mkdir()
    (rules / "default.rules").write_text('prefix_rule(pattern=["touch"], decision="allow")\n'
                                         'prefix_rule(pattern=["rm", "-rf"], decision="forbidden")\n')
    allowed = run_cli("exec", "--jsonl", "--approval-policy", "untrusted", "--", "touch", "made", cwd=tmp_path)
    assert allowed.returncode == 0, allowed.stderr
    stream = events(allowed.stdout)
    assert not [e for e in stream if e["type"] == "approval:request"]
    assert stream[-1]["payload"]["toolRun"]["approvalSource"] == "codex-rules"
    assert stream[-1]["payload"]["metrics"]["approvalsReused"] == 1  # a rule is an approval given ahead
    assert (tmp_path / "made").exists()
    blocked = run_cli("exec", "--jsonl", "--sandbox", "danger-full-access", "--approval-policy", "never",
                      "--", "rm", "-rf", "made", cwd=tmp_path)
    assert blocked.returncode == 77
    assert (tmp_path / "made").exists()


def test_bad_rules_file_is_reported_clearly(tmp_path: Path, isolated_home: Path) -> None:
    rules = isolated_home / ".codex" / "rules"
    rules.mkdir()
    (rules / "bad.rules").write_text('prefix_rule(pattern=["git"], decision="allow", match=["ls"])\n')
    result = run_cli("exec", "--jsonl", "--", "true", cwd=tmp_path)
    assert result.returncode == 2
    assert "bad.rules" in result.stderr and "Traceback" not in result.stderr


def test_cancel_while_waiting_for_an_approval(tmp_path: Path) -> None:
    """SIGTERM during an approval wait ends the run at once, recorded as cancelled."""
    import os
    import signal

    proc = subprocess.Popen([*CLI, "exec", "--jsonl", "--approvals", "stdin", "--approval-policy", "untrusted",
                             "--", "touch", "x"], cwd=tmp_path, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    _read_event(proc, "approval:request")
    started = time.monotonic()
    os.kill(proc.pid, signal.SIGTERM)
    rest, _ = proc.communicate(timeout=30)
    assert time.monotonic() - started < 10  # not the 300 s approval timeout
    stream = events(rest)
    decision = next(e["payload"] for e in stream if e["type"] == "approval:decision")
    assert decision["decision"] == "abort"
    assert stream[-1]["type"] == "run:summary" and stream[-1]["payload"]["status"] == "cancelled"
    assert proc.returncode == 143 and not (tmp_path / "x").exists()


def test_terminal_prompt_approves_once(tmp_path: Path) -> None:
    code, screen = run_on_terminal("exec", "--approval-policy", "untrusted", "--", "touch", "made", cwd=tmp_path,
                                   answer=b"y\n")
    assert "Approval needed" in screen and "touch made" in screen and str(tmp_path) in screen
    assert "sandbox: workspace-write" in screen
    assert code == 0 and (tmp_path / "made").exists(), screen


def test_terminal_prompt_deny(tmp_path: Path) -> None:
    code, screen = run_on_terminal("exec", "--approval-policy", "untrusted", "--", "touch", "made", cwd=tmp_path,
                                   answer=b"n\n")
    assert code == 77 and not (tmp_path / "made").exists(), screen
