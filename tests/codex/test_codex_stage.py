"""The `codex` stage kind against the real `codex` binary and a fake model on loopback (docs/codex.md)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import jsonschema

from ..conftest import CLI, Repo, events, live_pids
from ..fakemodel import FakeModel, Turn
from ..foundation.schema_check import assert_valid_manifest

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "events"


def codex_stage(**extra: Any) -> dict[str, Any]:
    return {"kind": "codex", "id": "fix", "title": "Fix it", "prompt": "Make the greeting file", "timeout": 120,
            **extra}


def _check_event_schemas(stream: list[dict[str, Any]]) -> None:
    names = {"codex:event": "codex-event", "tool:start": "tool-start", "tool:complete": "tool-complete",
             "stage:start": "stage-start", "stage:end": "stage-end", "run:start": "run-start",
             "run:summary": "run-summary"}
    for event in stream:
        name = names.get(event["type"])
        if name:
            schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
            jsonschema.validate(event["payload"], schema)


def test_two_commands_and_a_file_edit(repo: Repo, model: FakeModel, codex_env: dict[str, str]) -> None:
    (repo.root / "AGENTS.md").write_text("# Guidance\nREPO-GUIDANCE-7f3a\n")
    repo.pipeline(codex_stage())
    model.script(
        Turn.exec_command("echo one > one.txt", call_id="c1", input_tokens=1000, output_tokens=50),
        Turn.exec_command("echo two >> one.txt && wc -l one.txt", call_id="c2"),
        Turn.apply_patch("*** Begin Patch\n*** Add File: hello.txt\n+hello\n*** End Patch", call_id="c3"),
        Turn.message("Added hello.txt and one.txt"),
    )
    result = repo.run("start", "--format", "jsonl", env=codex_env, timeout=120)
    assert result.returncode == 0, result.stderr
    stream = events(result.stdout)
    _check_event_schemas(stream)
    assert (repo.root / "hello.txt").read_text() == "hello\n"
    assert (repo.root / "one.txt").read_text() == "one\ntwo\n"

    manifest = repo.manifests()[0]
    assert_valid_manifest(manifest)
    stage = manifest["commands"][0]
    thread = stage["codex_thread_id"]
    assert stage["kind"] == "codex" and stage["status"] == "succeeded" and thread
    assert stage["summary"] == "Added hello.txt and one.txt"
    commands = [t for t in manifest["tool_runs"] if t["tool"] == "command_execution"]
    assert [t["source"] for t in commands] == ["codex", "codex"]
    assert {t["threadId"] for t in commands} == {thread} and {t["stageId"] for t in commands} == {"fix"}
    assert "echo one > one.txt" in commands[0]["command"] and commands[0]["exitCode"] == 0
    assert commands[1]["status"] == "succeeded" and "2 one.txt" in commands[1]["outputTail"]
    assert commands[0]["sandboxState"] == "sandboxed"
    codex_run = [t for t in manifest["tool_runs"] if t["tool"] == "codex"]
    assert len(codex_run) == 1 and codex_run[0]["threadId"] == thread
    assert stage["tool_run_id"] == codex_run[0]["toolRunId"]  # stage -> the Codex process -> its thread
    assert manifest["files_changed"] == [{"path": "hello.txt", "kind": "add", "stage_id": "fix",
                                          "thread_id": thread, "status": "completed"}]

    # Usage: four requests of the turn, summed by Codex, then by us.
    summary = stream[-1]["payload"]
    tokens = summary["metrics"]["tokens"]
    assert tokens["inputTokens"] == 1000 + 3 * 100 and tokens["outputTokens"] == 50 + 3 * 10
    assert tokens["cachedInputTokens"] == 4 * 20
    metrics = json.loads((repo.root / ".runs" / "default" / "metrics.json").read_text())
    assert metrics["runs"][-1]["input_tokens"] == 1300 and metrics["totals"]["output_tokens"] == 80
    assert manifest["metrics"]["tool_runs"] == 3

    # Codex got our composed instructions, and not its own discovery of the repo's AGENTS.md (no duplicate).
    texts = "\n".join(model.texts(0))
    assert texts.count("REPO-GUIDANCE-7f3a") == 1
    assert "Make the greeting file" in texts
    kinds = [e["payload"]["event"]["type"] for e in stream if e["type"] == "codex:event"]
    assert kinds[0] == "thread.started" and "turn.completed" in kinds

    status = repo.run("status", env=codex_env)
    assert f"codex thread {thread}" in status.stdout
    as_json = json.loads(repo.run("status", "--format", "json", env=codex_env).stdout)
    assert as_json["stages"][0]["codex_thread_id"] == thread


def test_kill_9_mid_stage_then_resume_continues_the_thread(repo: Repo, model: FakeModel,
                                                           codex_env: dict[str, str]) -> None:
    marker = f"CO_CODEX_KILL_{os.getpid()}"
    repo.pipeline(codex_stage(prompt=f"Write first.txt ({marker})"),
                  {"kind": "command", "id": "after", "title": "after", "command": "echo after > after.txt"})
    model.script(Turn.exec_command("echo first > first.txt", call_id="first-call"), Turn.held())
    proc = subprocess.Popen([*CLI, "start", "--format", "jsonl"], cwd=repo.root, env={**os.environ, **codex_env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        assert model.holding.wait(60), "Codex never reached the second model request"
        manifest = repo.manifests()[0]
        thread = manifest["commands"][0]["codex_thread_id"]
        assert thread, "the thread id is on disk before the stage ends"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    deadline = time.monotonic() + 5
    while live_pids(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert live_pids(marker) == [], "Codex outlived the orchestrator's kill -9"
    model.release()
    assert (repo.root / "first.txt").read_text() == "first\n"

    status = repo.run("status", env=codex_env)
    assert "interrupted" in status.stdout and f"codex thread {thread}" in status.stdout
    model.script(Turn.message("Finished after the interruption"))
    run_id = repo.manifests()[0]["run_id"]
    result = repo.run("resume", "--run", run_id, "--format", "jsonl", env=codex_env, timeout=120)
    assert result.returncode == 0, result.stderr
    stream = events(result.stdout)
    assert stream[0]["payload"]["codexThreads"] == {"fix": thread}
    stage_start = next(e["payload"] for e in stream if e["type"] == "stage:start")
    assert stage_start["stageId"] == "fix" and stage_start["threadId"] == thread
    # The same thread went on: the resumed request carries the first command's call and its output.
    assert model.outputs("first-call") and "first-call" in [i.get("call_id") for i in model.input_items(-1)]
    assert "interrupted" in model.texts(-1)[-1] and marker in model.texts(-1)[-1]
    assert model.headers[-1].get("thread-id") == thread
    manifest = repo.manifests()[0]
    assert [c["status"] for c in manifest["commands"]] == ["succeeded", "succeeded"]
    assert manifest["commands"][0]["codex_thread_id"] == thread
    assert manifest["commands"][0]["summary"] == "Finished after the interruption"
    assert len(manifest["resume_events"]) == 1 and (repo.root / "after.txt").exists()


def test_a_failed_turn_fails_the_stage_with_codexs_message(repo: Repo, model: FakeModel,
                                                          codex_env: dict[str, str]) -> None:
    repo.pipeline(codex_stage(), {"kind": "command", "id": "never", "title": "never", "command": "touch never"})
    model.script(Turn.failure("the model is overloaded right now"))
    result = repo.run("start", "--format", "jsonl", env=codex_env, timeout=120)
    assert result.returncode == 1, result.stderr
    end = next(e["payload"] for e in events(result.stdout) if e["type"] == "stage:end")
    assert end["status"] == "failed" and "the model is overloaded right now" in end["summary"]
    assert end["summary"].startswith("Codex failed:")
    manifest = repo.manifests()[0]
    assert manifest["status"] == "failed" and "overloaded" in manifest["status_detail"]
    assert not (repo.root / "never").exists()
    codex_run = next(t for t in manifest["tool_runs"] if t["tool"] == "codex")
    assert codex_run["status"] == "failed" and "overloaded" in codex_run["message"]


def test_codex_missing_is_exit_2_before_the_run(repo: Repo, codex_home: Path, tmp_path: Path) -> None:
    repo.pipeline(codex_stage())
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    result = repo.run("start", env={"CODEX_HOME": str(codex_home), "PATH": str(empty)})
    assert result.returncode == 2
    assert "no `codex` program is on PATH" in result.stderr and "stage 'fix'" in result.stderr
    assert not (repo.root / ".runs").exists()
    result = repo.run("start", env={"CODEX_HOME": str(codex_home), "PATH": str(empty),
                                    "CODEX_ORCHESTRATOR_CODEX_BIN": str(empty / "codex")})
    assert result.returncode == 2 and "CODEX_ORCHESTRATOR_CODEX_BIN" in result.stderr
    assert not (repo.root / ".runs").exists()


def test_codex_found_on_path(repo: Repo, model: FakeModel, codex_env: dict[str, str]) -> None:
    repo.pipeline(codex_stage())
    model.script(Turn.message("nothing to do"))
    bin_dir = str(Path(codex_env["CODEX_ORCHESTRATOR_CODEX_BIN"]).parent)
    env = {"CODEX_HOME": codex_env["CODEX_HOME"], "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    result = repo.run("start", "--format", "jsonl", env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert repo.manifests()[0]["commands"][0]["summary"] == "nothing to do"


def test_output_schema_is_passed_and_the_final_message_validated(repo: Repo, model: FakeModel,
                                                                  codex_env: dict[str, str]) -> None:
    schema = {"type": "object", "properties": {"fixed": {"type": "boolean"}}, "required": ["fixed"],
              "additionalProperties": False}
    (repo.root / "schemas").mkdir()
    (repo.root / "schemas" / "fix.json").write_text(json.dumps(schema))
    repo.pipeline(codex_stage(outputSchema="schemas/fix.json"))
    model.script(Turn.message('{"fixed": true}'))
    result = repo.run("start", "--format", "jsonl", env=codex_env, timeout=120)
    assert result.returncode == 0, result.stderr
    end = next(e["payload"] for e in events(result.stdout) if e["type"] == "stage:end")
    assert end["structured"] == {"fixed": True}
    assert model.requests[0]["text"]["format"]["schema"] == schema

    model.script(Turn.message('{"fixed": "yes"}'))
    result = repo.run("start", "--format", "jsonl", env=codex_env, timeout=120)
    assert result.returncode == 65
    end = next(e["payload"] for e in events(result.stdout) if e["type"] == "stage:end")
    assert end["status"] == "failed" and end["structured"] is None
    assert "fixed" in end["validationErrors"][0] and "does not match schemas/fix.json" in end["summary"]


def test_plan_shows_a_codex_stage(repo: Repo) -> None:
    repo.pipeline(codex_stage(model="gpt-5-codex", outputSchema="s.json"))
    result = repo.run("plan")
    assert result.returncode == 0
    assert "fix: codex: Make the greeting file" in result.stdout and "model=gpt-5-codex" in result.stdout


def test_sigterm_cancels_the_stage_and_stops_codex(repo: Repo, model: FakeModel, codex_env: dict[str, str]) -> None:
    marker = f"CO_CODEX_TERM_{os.getpid()}"
    repo.pipeline(codex_stage(prompt=f"Think long ({marker})"))
    model.script(Turn.held())
    proc = subprocess.Popen([*CLI, "start", "--format", "jsonl"], cwd=repo.root, env={**os.environ, **codex_env},
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True)
    try:
        assert model.holding.wait(60)
        proc.send_signal(signal.SIGTERM)
        stdout, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143
    end = next(e["payload"] for e in events(stdout) if e["type"] == "stage:end")
    assert end["status"] == "cancelled" and end["threadId"]
    assert live_pids(marker) == []
    model.release()
