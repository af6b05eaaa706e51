"""`codex-orchestrator exec` end to end: event order, chunking, binary output, schemas, signals, exit codes."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ..conftest import CLI, events, run_cli, run_on_terminal
from ..foundation.schema_check import assert_valid_manifest


def exec_jsonl(tmp_path: Path, *command: str, options: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return run_cli("exec", "--jsonl", *options, "--", *command, cwd=tmp_path)


def chunk_bytes(stream: list[dict[str, Any]], name: str | None = None) -> bytes:
    out = b""
    for event in stream:
        if event["type"] != "exec:chunk" or (name and event["payload"]["stream"] != name):
            continue
        p = event["payload"]
        out += base64.b64decode(p["data"]) if p.get("encoding") == "base64" else p["data"].encode("utf-8")
    return out


def test_event_order_and_records(tmp_path: Path) -> None:
    result = exec_jsonl(tmp_path, "sh", "-c", "echo out; echo err >&2; exit 7")
    assert result.returncode == 7
    stream = events(result.stdout)
    types = [e["type"] for e in stream]
    assert types[:3] == ["run:start", "tool:start", "exec:begin"]
    assert types[-3:] == ["exec:end", "tool:complete", "run:summary"]
    assert set(types[3:-3]) == {"exec:chunk"}
    sequences = [e["payload"]["sequence"] for e in stream if e["type"] == "exec:chunk"]
    assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)
    assert chunk_bytes(stream, "stdout") == b"out\n" and chunk_bytes(stream, "stderr") == b"err\n"
    summary = stream[-1]["payload"]
    assert summary["status"] == "failed" and summary["result"]["exitCode"] == 7
    assert summary["outputs"]["stdoutTail"] == "out\n" and summary["outputs"]["stderrTail"] == "err\n"
    manifest = json.loads(Path(summary["run"]["manifest"]).read_text())
    assert_valid_manifest(manifest)
    assert manifest["tool_runs"][0]["exitCode"] == 7
    assert json.loads((Path(summary["run"]["artifactRoot"]) / "run-summary.json").read_text()) == summary
    state = json.loads((tmp_path / "out" / "default" / "state.json").read_text())
    assert state["latest"]["status"] == "failed"


def test_chunks_are_at_most_8k_and_split_on_characters(tmp_path: Path) -> None:
    # 8191 ASCII bytes then a 3-byte character: a naive 8192-byte split would cut it in two.
    script = "import sys; sys.stdout.write('a' * 8191 + '\u20ac' * 5000); sys.stdout.flush()"
    result = exec_jsonl(tmp_path, sys.executable, "-c", script)
    assert result.returncode == 0, result.stderr
    stream = events(result.stdout)
    chunks = [e["payload"] for e in stream if e["type"] == "exec:chunk"]
    assert all(c["bytes"] <= 8192 for c in chunks)
    assert all("encoding" not in c for c in chunks)  # every chunk is whole UTF-8
    assert chunk_bytes(stream) == ("a" * 8191 + "\u20ac" * 5000).encode("utf-8")


def test_binary_output_round_trips_exactly(tmp_path: Path) -> None:
    payload = bytes(range(256)) * 300
    (tmp_path / "blob").write_bytes(payload)
    result = exec_jsonl(tmp_path, "cat", "blob")
    stream = events(result.stdout)
    assert chunk_bytes(stream) == payload
    assert any(e["payload"].get("encoding") == "base64" for e in stream if e["type"] == "exec:chunk")
    log = Path(stream[-1]["payload"]["run"]["artifactRoot"]) / "commands" / "01-exec.log"
    assert log.read_bytes() == payload


def test_large_output_keeps_summaries_bounded(tmp_path: Path) -> None:
    result = exec_jsonl(tmp_path, "sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' x")
    stream = events(result.stdout)
    end = next(e["payload"] for e in stream if e["type"] == "exec:end")
    assert end["bytes"] == 3_000_000
    assert end["streams"]["stdout"]["truncated"] is True
    assert len(end["streams"]["stdout"]["head"]) + len(end["streams"]["stdout"]["tail"]) <= 64 * 1024
    summary = stream[-1]["payload"]
    assert summary["outputs"]["truncated"] is True and len(summary["outputs"]["stdoutTail"]) <= 64 * 1024
    assert len(json.dumps(summary)) < 200_000


def test_output_schema_valid_and_invalid(tmp_path: Path) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"type": "object", "required": ["ok"], "properties": {"ok": {"type": "boolean"}}}))
    good = run_cli("exec", "--format", "summary", "--output-schema", str(schema),
                   "--", "echo", '{"ok": true}', cwd=tmp_path)
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["outputs"]["structured"] == {"ok": True}
    bad = run_cli("exec", "--format", "summary", "--output-schema", str(schema),
                   "--", "echo", '{"ok": "yes"}', cwd=tmp_path)
    assert bad.returncode == 65
    summary = json.loads(bad.stdout)
    assert summary["status"] == "failed" and "ok" in summary["outputs"]["validationErrors"][0]
    not_json = run_cli("exec", "--format", "summary", "--output-schema", str(schema),
                   "--", "echo", "hello", cwd=tmp_path)
    assert not_json.returncode == 65 and "not JSON" in json.loads(not_json.stdout)["statusDetail"]


@pytest.mark.parametrize(("content", "message"), [(None, "cannot read"), ("{nope", "invalid JSON"),
                                                   ('{"type": 12}', "not a valid JSON Schema")])
def test_bad_output_schema_is_rejected_before_running(tmp_path: Path, content: str | None, message: str) -> None:
    schema = tmp_path / "schema.json"
    if content is not None:
        schema.write_text(content)
    result = run_cli("exec", "--output-schema", str(schema), "--", "touch", "ran", cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "ran").exists() and not (tmp_path / ".runs").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--jsonl", "--json", "--", "true"], "choose one"),
    (["--env", "NOVALUE", "--", "true"], "NAME=VALUE"),
    (["--timeout", "-1", "--", "true"], "--timeout"),
    (["--cwd", "/nonexistent-dir", "--", "true"], "not a directory"),
    (["--session", "s", "--no-pty", "--", "true"], "--no-pty"),
])
def test_bad_exec_options(tmp_path: Path, args: list[str], message: str) -> None:
    result = run_cli("exec", *args, cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_exit_code_of_a_signal_and_env_and_cwd(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    killed = exec_jsonl(tmp_path, "sh", "-c", "kill -KILL $$")
    assert killed.returncode == 128 + 9
    assert events(killed.stdout)[-1]["payload"]["result"]["signal"] == 9
    env = run_cli("exec", "--jsonl", "--cwd", "sub", "--env", "GREETING=hi there", "--",
                  "sh", "-c", 'echo "$GREETING from $(basename $PWD) $NO_COLOR $PAGER"', cwd=tmp_path)
    assert chunk_bytes(events(env.stdout)) == b"hi there from sub 1 cat\n"


def test_timeout_stops_the_process_group(tmp_path: Path) -> None:
    result = exec_jsonl(tmp_path, "sh", "-c", "sleep 300 & sleep 300", options=("--timeout", "0.5"))
    summary = events(result.stdout)[-1]["payload"]
    assert summary["toolRun"]["status"] == "timed_out" and "timed out" in summary["statusDetail"]
    assert result.returncode != 0


def test_pty_merges_streams(tmp_path: Path) -> None:
    result = exec_jsonl(tmp_path, "sh", "-c", "echo out; echo err >&2; test -t 1 && echo tty", options=("--pty",))
    stream = events(result.stdout)
    assert {e["payload"]["stream"] for e in stream if e["type"] == "exec:chunk"} == {"pty"}
    assert chunk_bytes(stream) == b"out\nerr\ntty\n"
    assert next(e for e in stream if e["type"] == "exec:begin")["payload"]["pty"] is True


def test_one_output_format_rule_for_exec_and_start(tmp_path: Path) -> None:
    """Explicit wins; else text under CI=true (people read CI logs); else JSONL for a program (docs/cli.md)."""
    (tmp_path / "codex.orchestrator.json").write_text(
        '{"pipelines": [{"id": "p", "title": "p", "stages": [{"id": "s", "title": "s", "command": "echo hi"}]}]}')
    for command in (["exec", "--", "echo", "hi"], ["start", "p"]):
        piped = run_cli(*command, cwd=tmp_path, env={"CI": ""})
        assert events(piped.stdout)[0]["type"] == "run:start"
        in_ci = run_cli(*command, cwd=tmp_path, env={"CI": "true"})
        assert not in_ci.stdout.lstrip().startswith("{") and "hi" in in_ci.stdout
        explicit = run_cli(*command[:1], "--format", "jsonl", *command[1:], cwd=tmp_path, env={"CI": "true"})
        assert events(explicit.stdout)[0]["type"] == "run:start"
    both = run_cli("exec", "--jsonl", "--format", "json", "--", "true", cwd=tmp_path)
    assert both.returncode == 2 and "choose one" in both.stderr


def test_open_silent_stdin_does_not_hang_a_command(tmp_path: Path) -> None:
    proc = subprocess.Popen([*CLI, "exec", "--jsonl", "--", "sh", "-c", "cat; echo done"], cwd=tmp_path,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, _ = proc.communicate(timeout=30)  # our stdin stays open; the command's is /dev/null
    finally:
        proc.kill()
    assert proc.returncode == 0 and chunk_bytes(events(stdout)) == b"done\n"


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_still_ends_the_stream(tmp_path: Path, sig: int, code: int) -> None:
    proc = subprocess.Popen([*CLI, "exec", "--jsonl", "--", "sh", "-c", "echo started; exec sleep 300"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    lines = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if '"exec:chunk"' in line:
            break
    os.kill(proc.pid, sig)
    rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == code
    stream = events("".join(lines) + rest)
    types = [e["type"] for e in stream]
    assert types[-3:] == ["exec:end", "tool:complete", "run:summary"]
    assert stream[-1]["payload"]["status"] == "cancelled"
    manifest = json.loads(Path(stream[-1]["payload"]["run"]["manifest"]).read_text())
    assert manifest["status"] == "cancelled"


def test_human_view_on_request(tmp_path: Path) -> None:
    # --json prints only the summary; the text view is what a terminal gets.
    result = run_cli("exec", "--format", "summary", "--", "echo", "hi", cwd=tmp_path)
    summary = json.loads(result.stdout)
    assert summary["status"] == "succeeded" and summary["metrics"]["latencyMs"] > 0


def test_human_view_on_a_terminal(tmp_path: Path) -> None:
    """On a real terminal (stdin a TTY), exec shows live output and a final status line."""
    code, screen = run_on_terminal("exec", "--", "sh", "-c", "echo live-output", cwd=tmp_path)
    assert code == 0
    assert "live-output" in screen and "succeeded (exit 0) in" in screen and '"type"' not in screen


def test_full_auto_overrides_global_choices(tmp_path: Path, isolated_home: Path) -> None:
    (isolated_home / ".codex" / "config.toml").write_text('approval_policy = "untrusted"\nsandbox_mode = "read-only"\n')
    result = run_cli("exec", "--format", "summary", "--full-auto", "--", "sh", "-c", "echo x > f", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    manifest = json.loads(Path(json.loads(result.stdout)["run"]["manifest"]).read_text())
    assert (manifest["approval_policy"], manifest["sandbox_mode"]) == ("on-request", "workspace-write")
    assert manifest["config_sources"]["approval_policy"] == "flag"
    assert (tmp_path / "f").exists()


def test_terminal_view_never_glues_a_status_line_to_partial_output(tmp_path: Path) -> None:
    code, screen = run_on_terminal("exec", "--", "printf", "no-newline", cwd=tmp_path)
    assert code == 0 and "no-newline\r\n" in screen, screen


def test_one_argument_with_spaces_is_a_shell_line(tmp_path: Path) -> None:
    result = run_cli("exec", "--format", "summary", "--", "echo a && echo b | tr b c", cwd=tmp_path)
    assert json.loads(result.stdout)["outputs"]["stdoutTail"] == "a\nc\n"
    session = run_cli("exec", "--format", "summary", "--session", "s", "--", "cd / && pwd", cwd=tmp_path)
    assert json.loads(session.stdout)["outputs"]["stdoutTail"] == "/\n"


def test_an_exec_run_cannot_be_resumed(tmp_path: Path) -> None:
    failed = json.loads(run_cli("exec", "--format", "summary", "--", "false", cwd=tmp_path).stdout)
    result = run_cli("resume", "--run", failed["run"]["id"], cwd=tmp_path)
    assert result.returncode == 2 and "only pipeline runs can be resumed" in result.stderr
