"""Bounded output on disk (W2-2): output_limit_bytes per stream, truncate or kill, droppedBytes reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..conftest import Repo, events

LIMIT = "100000"


@pytest.mark.parametrize("pty", [False, True])
def test_truncate_keeps_the_log_bounded_and_lets_the_command_finish(repo: Repo, pty: bool) -> None:
    flags = ["--pty"] if pty else []
    result = repo.run("exec", "--jsonl", *flags, "--", "sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' y; echo",
                      env={"CODEX_ORCHESTRATOR_OUTPUT_LIMIT_BYTES": LIMIT})
    assert result.returncode == 0, result.stderr
    stream = events(result.stdout)
    end = next(e["payload"] for e in stream if e["type"] == "exec:end")
    name = "pty" if pty else "stdout"
    assert end["streams"][name]["droppedBytes"] > 2_000_000
    recorded = sum(e["payload"]["bytes"] for e in stream if e["type"] == "exec:chunk")
    assert recorded <= int(LIMIT)
    log = Path(end["logPath"])
    assert log.stat().st_size <= int(LIMIT)
    assert "output limit" in (stream[-1]["payload"]["statusDetail"] or "")


def test_kill_stops_the_command(repo: Repo) -> None:
    env = {"CODEX_ORCHESTRATOR_OUTPUT_LIMIT_BYTES": LIMIT, "CODEX_ORCHESTRATOR_ON_OUTPUT_LIMIT": "kill"}
    result = repo.run("exec", "--jsonl", "--", "yes", timeout=60, env=env)
    summary = events(result.stdout)[-1]["payload"]
    assert summary["status"] == "failed" and "the command was stopped" in summary["statusDetail"]
    assert result.returncode != 0


def test_a_bad_limit_is_refused(repo: Repo) -> None:
    for value in ("-1", "lots"):
        result = repo.run("exec", "--", "true", env={"CODEX_ORCHESTRATOR_OUTPUT_LIMIT_BYTES": value})
        assert result.returncode == 2
