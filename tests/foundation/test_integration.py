"""Pieces meeting in a run: PTY sessions shared by stages, AGENTS.md in the manifest, status --watch."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from ..conftest import CLI, Repo, events


def test_stages_share_a_pty_session(repo: Repo) -> None:
    (repo.root / "sub").mkdir()
    repo.pipeline(
        {"id": "enter", "command": "cd sub && export GREETING=hello && greet() { echo \"$GREETING from $PWD\"; }",
         "session": {"id": "shell"}},
        {"id": "use", "command": "greet", "session": {"id": "shell", "reuse": True}},
        {"id": "fresh", "command": "echo \"[${GREETING:-unset}]\"", "session": {"id": "shell", "reuse": False}},
    )
    result = repo.run("start", "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    stream = events(result.stdout)
    chunks: dict[str, str] = {}
    begin = {e["payload"]["correlationId"]: e for e in stream if e["type"] == "exec:begin"}
    for event in stream:
        if event["type"] == "exec:chunk":
            cid = event["payload"]["correlationId"]
            chunks[cid] = chunks.get(cid, "") + event["payload"]["data"]
            assert event["payload"]["stream"] == "pty"
    outputs = list(chunks.values())
    assert any(f"hello from {repo.root / 'sub'}" in out for out in outputs), outputs
    assert any("[unset]" in out for out in outputs), outputs
    assert all(b["payload"]["sessionId"] == "shell" for b in begin.values())


def test_manifest_records_instructions_and_stages_get_the_file(repo: Repo, isolated_home: Path) -> None:
    (isolated_home / ".codex" / "AGENTS.md").write_text("# Global\nBe careful.\n")
    (repo.root / "AGENTS.md").write_text("# Repo\nRun the tests.\n")
    repo.pipeline({"id": "show", "command": 'cat "$CODEX_ORCHESTRATOR_INSTRUCTIONS_FILE"'})
    result = repo.run("start", "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    stream = events(result.stdout)
    (manifest,) = repo.manifests()
    record = manifest["instructions"]
    assert record["hash"].startswith("sha256:")
    assert stream[0]["payload"]["instructionsHash"] == record["hash"]
    assert [s["scope"] for s in record["sources"]] == ["global", "repo"]
    output = "".join(e["payload"]["data"] for e in stream if e["type"] == "exec:chunk")
    assert "Be careful." in output and "Run the tests." in output
    drift = repo.run("instructions", "--against", manifest["run_id"], "--format", "json")
    assert drift.returncode == 0, drift.stderr
    (repo.root / "AGENTS.md").write_text("# Repo\nRun the tests twice.\n")
    drift = repo.run("instructions", "--against", manifest["run_id"], "--format", "json")
    assert json.loads(drift.stdout)["against"]["drifted"] is True


def test_status_watch_follows_a_run_to_its_end(repo: Repo) -> None:
    import threading
    import time

    repo.pipeline({"id": "a", "command": "while [ ! -e go ]; do sleep 0.05; done"}, {"id": "b", "command": "true"})
    proc = subprocess.Popen([*CLI, "start", "--format", "json"], cwd=repo.root, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not list((repo.root / ".runs").glob("*/cli/*/manifest.json")) and time.monotonic() < deadline:
            time.sleep(0.05)
        release = threading.Timer(1.0, (repo.root / "go").touch)
        release.start()  # the run waits for this, so the watch sees it live first
        watch = repo.run("status", "--watch", "--interval", "0.1", "--format", "json", timeout=60)
        release.join()
    finally:
        proc.wait(timeout=30)
    lines = [json.loads(line) for line in watch.stdout.splitlines()]
    assert len(lines) >= 2
    assert lines[0]["status"] == "in_progress"
    assert lines[-1]["status"] == "succeeded"


def test_live_view_indents_child_runs(repo: Repo) -> None:
    from ..conftest import run_on_terminal

    repo.config({"pipelines": [
        {"id": "main", "stages": [{"kind": "subpipeline", "id": "build", "pipeline": "child"},
                                  {"id": "after", "command": "true"}]},
        {"id": "child", "stages": [{"id": "build", "command": "echo inner"}]},  # same id and index on purpose
    ], "defaultPipeline": "main"})
    code, screen = run_on_terminal("start", cwd=repo.root)
    assert code == 0, screen
    assert "  ▶ [1] build: echo inner" in screen  # the child's stage, indented
    assert "\n▶ [2] after" in screen.replace("\r", "").replace("\x1b[1m", "")  # back at the top level
