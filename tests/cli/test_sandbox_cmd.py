"""`sandbox check` through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

from ..conftest import run_cli


def test_sandbox_check_reports_enforced_modes(tmp_path: Path) -> None:
    text = run_cli("sandbox", "check", cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    assert "workspace-write: enforced" in text.stdout and "default: builtin" in text.stdout
    report = json.loads(run_cli("sandbox", "check", "--format", "json", cwd=tmp_path).stdout)
    builtin = report["backends"]["builtin"]
    assert builtin["available"] and "workspace-write" in builtin["enforces"]
    attempts = builtin["verified"]["workspace-write"]["attempts"]
    assert attempts == {"cwd": True, "outside": False, "git": False, "network": False}


def test_forcing_an_unknown_backend_is_a_config_error(tmp_path: Path) -> None:
    result = run_cli("exec", "--", "true", cwd=tmp_path, env={"CODEX_ORCHESTRATOR_SANDBOX_BACKEND": "chroot"})
    assert result.returncode == 2 and "SANDBOX_BACKEND" in result.stderr
