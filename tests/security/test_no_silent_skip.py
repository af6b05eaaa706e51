"""W2-1 item 14: with CI=true, a sandbox backend that does not work fails the escape suite instead of
skipping it, so CI cannot stay green on a machine where nothing is enforced."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _escape_suite(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # bwrap is looked up on PATH: an empty PATH makes that backend unusable, as on a machine without it.
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests/sandbox/test_escape.py", "-k", "bwrap and outside"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_a_missing_backend_fails_in_ci() -> None:
    env = {**os.environ, "PATH": "/nonexistent", "CI": "true"}
    result = _escape_suite(env)
    assert result.returncode != 0, result.stdout
    assert "the escape suite must run, not skip" in result.stdout


def test_outside_ci_it_is_a_visible_skip() -> None:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PATH"] = "/nonexistent"
    result = _escape_suite(env)
    assert result.returncode == 0, result.stdout
    assert "skipped" in result.stdout
