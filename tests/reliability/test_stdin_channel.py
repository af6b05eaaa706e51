"""An honest stdin approval channel (W2-2 item 9): closed, garbage, unknown ids and real time-outs differ."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from ..conftest import CLI, events
from ..tools.test_approvals_cli import _read_event

COMMAND = ["exec", "--jsonl", "--approvals", "stdin", "-a", "untrusted", "--", "touch", "made"]


def _decision(stdout: str) -> dict[str, object]:
    return next(e["payload"] for e in events(stdout) if e["type"] == "approval:decision")


def test_end_of_input_is_channel_closed_at_once(tmp_path: Path) -> None:
    began = time.monotonic()
    result = subprocess.run([*CLI, *COMMAND], cwd=tmp_path, input="", capture_output=True, text=True, timeout=60)
    elapsed = time.monotonic() - began
    assert elapsed < 5, elapsed  # not the 300 s time-out
    assert result.returncode == 77
    assert _decision(result.stdout)["decision"] == "channel-closed"
    assert "channel closed" in events(result.stdout)[-1]["payload"]["statusDetail"]
    assert not (tmp_path / "made").exists()


def test_garbage_and_unknown_ids_are_reported_and_a_valid_answer_still_works(tmp_path: Path) -> None:
    proc = subprocess.Popen([*CLI, *COMMAND], cwd=tmp_path, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    request = _read_event(proc, "approval:request")["payload"]
    assert proc.stdin is not None
    proc.stdin.write("this is not json\n")
    proc.stdin.write(json.dumps({"type": "approval:response", "requestId": "apr_nobody", "decision": "approved"}))
    proc.stdin.write("\n")
    proc.stdin.write(json.dumps({"type": "approval:response", "requestId": request["requestId"],
                                 "decision": "maybe"}) + "\n")
    proc.stdin.flush()
    seen: dict[str, list[dict[str, object]]] = {}
    assert proc.stdout is not None
    while len(seen.get("approval:error", [])) < 2 or "approval:warning" not in seen:
        line = proc.stdout.readline()  # blocking reads: select() would miss lines already buffered
        assert line, "the stream ended early"
        event = json.loads(line)
        seen.setdefault(event["type"], []).append(event["payload"])
    assert seen["approval:error"][0]["line"] == "this is not json"
    assert "maybe" in str(seen["approval:error"][1]["error"])
    assert seen["approval:warning"][0]["requestId"] == "apr_nobody"
    proc.stdin.write(json.dumps({"type": "approval:response", "requestId": request["requestId"],
                                 "decision": "approved"}) + "\n")
    proc.stdin.flush()
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert (tmp_path / "made").exists()


def test_a_real_time_out_with_stdin_held_open(tmp_path: Path) -> None:
    import os

    reader, writer = os.pipe()
    try:
        result = subprocess.run([*CLI, *COMMAND], cwd=tmp_path, stdin=reader, capture_output=True, text=True,
                                timeout=60, env={**os.environ, "CODEX_ORCHESTRATOR_APPROVAL_TIMEOUT": "0.5"})
    finally:
        os.close(reader)
        os.close(writer)
    assert result.returncode == 77
    assert _decision(result.stdout)["decision"] == "timed_out"
