"""The reference orchestrator's own Node SDK (`ExecClient`, @kbediako/codex-orchestrator 0.2.1 from npm) drives
our CLI: events, the summary, exit codes, `cancel()` and `retry()`.

The SDK spawns `cliPath exec --jsonl [--task T] -- CMD ARGS...` and reads our JSONL; nothing of it is
copied here, the installed package is imported as it is (tests/peers, `scripts/setup.sh --dev`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ..conftest import Repo, live_pids
from ..peers import reference_package

HERE = Path(__file__).resolve().parent


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI") == "true":
            pytest.fail("node is not installed: the reference SDK test must run in CI")
        pytest.skip("needs node")
    return node


def _cli(tmp_path: Path) -> Path:
    """An executable `cliPath`: our CLI under this interpreter (the SDK takes one program, no arguments)."""
    wrapper = tmp_path / "codex-orchestrator"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m codex_orchestrator.cli.main "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


@pytest.fixture
def seen(repo: Repo, tmp_path: Path) -> dict[str, Any]:
    node = _node()
    (repo.root / "sub").mkdir()  # the `cwd` option: passed as `--cwd sub`
    sdk = reference_package() / "dist" / "packages" / "sdk-node" / "src" / "orchestrator.js"
    result = subprocess.run([node, str(HERE / "sdk_driver.mjs"), str(sdk), str(_cli(tmp_path)), str(repo.root)],
                            capture_output=True, text=True, timeout=180, cwd=repo.root)
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_echo_events_summary_and_manifest(seen: dict[str, Any], repo: Repo) -> None:
    echo = seen["echo"]["ok"]
    assert echo["status"] == "succeeded" and echo["exitCode"] == 0
    assert echo["types"][0] == "run:start" and echo["types"][-1] == "run:summary"
    assert "exec:chunk" in echo["types"] and echo["output"] == "hi\n"
    assert echo["taskId"] == "sdk-task" and f"/.runs/sdk-task/cli/{echo['runId']}/" in echo["manifestPath"]
    assert echo["manifest"]["status"] == "succeeded" and echo["manifest"]["run_id"] == echo["runId"]
    # The client's env reaches the command, and so do the run's variables.
    env = seen["env"]["ok"]
    assert env["stdoutTail"].split() == ["from-the-sdk", "sdk-env", env["runId"], str(repo.root / "sub")]


def test_exit_code_and_retry(seen: dict[str, Any]) -> None:
    fail, same, fixed = seen["fail"]["ok"], seen["retrySame"]["ok"], seen["retryFixed"]["ok"]
    assert (fail["status"], fail["exitCode"]) == ("failed", 3)
    assert (same["status"], same["exitCode"]) == ("failed", 3)  # retry() runs the same command again
    assert same["runId"] != fail["runId"]  # ... as a new run
    assert (fixed["status"], fixed["exitCode"]) == ("succeeded", 0)  # retry(overrides)
    assert fixed["output"] == "fixed\n"


def test_cancel_stops_the_command_and_still_ends_with_a_summary(seen: dict[str, Any], repo: Repo) -> None:
    cancel = seen["cancel"]
    assert "ok" in cancel, cancel  # the SDK got a run:summary: its result resolved, it did not reject
    result = cancel["ok"]
    assert result["status"] == "cancelled" and result["exitCode"] == 143  # SIGTERM, 128 + 15
    assert result["manifest"]["status"] == "cancelled"
    assert cancel["seconds"] < 15  # not the 29.7 s of the sleep
    assert cancel["seen"][-1] == "run:summary"
    assert live_pids("sleep 29.7") == []
