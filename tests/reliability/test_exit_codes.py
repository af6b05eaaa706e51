"""Distinct exit codes (W2-2 item 10), one row of docs/cli.md each."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

from ..conftest import CLI, Repo


def test_timeout_is_124_not_a_sigterm_cancel(repo: Repo) -> None:
    result = repo.run("exec", "--jsonl", "--timeout", "0.3", "--", "sleep", "30")
    assert result.returncode == 124
    repo.pipeline({"kind": "command", "id": "slow", "title": "slow", "command": "sleep 30", "timeout": 0.3})
    assert repo.run("start", "--format", "jsonl").returncode == 124


def test_sigterm_cancel_is_143_and_sigint_130(repo: Repo) -> None:
    for signum, code in ((signal.SIGTERM, 143), (signal.SIGINT, 130)):
        proc = subprocess.Popen([*CLI, "exec", "--jsonl", "--", "sleep", "30"], cwd=repo.root,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        assert proc.stdout is not None
        proc.stdout.readline()  # run:start: the handlers are in place
        time.sleep(0.2)
        proc.send_signal(signum)
        assert proc.wait(timeout=20) == code


def test_a_failing_stage_gives_its_own_code(repo: Repo) -> None:
    repo.pipeline({"kind": "command", "id": "x", "title": "x", "command": "exit 9"})
    assert repo.run("start", "--format", "jsonl").returncode == 9
    assert repo.run("exec", "--jsonl", "--", "sh", "-c", "exit 9").returncode == 9


def test_not_approved_is_77(repo: Repo) -> None:
    assert repo.run("exec", "--jsonl", "-a", "never", "--escalate", "--", "true").returncode == 77


def test_bad_input_2_not_found_66(repo: Repo) -> None:
    assert repo.run("exec", "--jsonl", "--bogus-flag", "--", "true").returncode == 2
    assert repo.run("status", "--run", "2026-01-01T00-00-00-000Z-deadbeef").returncode == 66


def test_sandbox_unavailable_is_71(repo: Repo) -> None:
    bwrap = shutil.which("bwrap")
    env = {"CODEX_ORCHESTRATOR_SANDBOX_BACKEND": "bwrap",
           "PATH": os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep)
                                   if not bwrap or not os.path.exists(os.path.join(p, "bwrap")))}
    result = repo.run("exec", "--jsonl", "--", "/bin/true", env=env)
    assert result.returncode == 71, result.stderr
