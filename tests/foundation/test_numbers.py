"""Every number read from the environment or a file is finite and in range, or a clear exit 2."""

from __future__ import annotations

import pytest

from ..conftest import Repo


@pytest.mark.parametrize(("variable", "value"), [
    ("CODEX_ORCHESTRATOR_HEARTBEAT_INTERVAL", "inf"),
    ("CODEX_ORCHESTRATOR_HEARTBEAT_INTERVAL", "nan"),
    ("CODEX_ORCHESTRATOR_APPROVAL_TIMEOUT", "nan"),
    ("CODEX_ORCHESTRATOR_APPROVAL_TIMEOUT", "-1"),
    ("CODEX_ORCHESTRATOR_RETRY_BACKOFF_MS", "1e999"),
    ("CODEX_ORCHESTRATOR_NOTIFY", "notjson"),
    ("CODEX_ORCHESTRATOR_ROOT", "/nonexistent/codex-orchestrator-root"),
])
def test_bad_environment_values_are_one_clear_line(repo: Repo, variable: str, value: str) -> None:
    result = repo.run("exec", "--jsonl", "--", "true", env={variable: value})
    assert result.returncode == 2, result.stderr
    assert variable in result.stderr
    assert "Traceback" not in result.stderr and "Exception" not in result.stderr
    assert not (repo.root / ".runs").exists()
    assert not __import__("os").path.exists("/nonexistent/codex-orchestrator-root")


@pytest.mark.parametrize("document", ['{"approval_timeout_seconds": -1}', '{"heartbeat_interval_seconds": 1e999}'])
def test_bad_file_values_are_one_clear_line(repo: Repo, document: str) -> None:
    (repo.root / "codex.orchestrator.json").write_text(document)
    result = repo.run("config", "show")
    assert result.returncode == 2
    assert "codex.orchestrator.json" in result.stderr and "Traceback" not in result.stderr
