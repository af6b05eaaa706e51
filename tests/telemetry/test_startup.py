"""Start-up does not change when telemetry is off: OpenTelemetry is never imported (`python -X importtime`).
The time itself is measured in bench/bench_telemetry.py and bench/bench_startup.py, not here."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ..conftest import Repo


@pytest.mark.parametrize("env", [{}, {"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"},
                                 {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                                  "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}],
                         ids=["unset", "sdk-disabled", "unsupported-protocol"])
def test_telemetry_off_imports_no_opentelemetry(repo: Repo, env: dict[str, str]) -> None:
    import os

    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "codex_orchestrator.cli.main", "exec",
                             "--jsonl", "--", "true"], cwd=repo.root, capture_output=True, text=True,
                            env={**os.environ, **env}, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    imported = [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "import time:" in line]
    assert "codex_orchestrator.telemetry.settings" in imported  # the decision is made...
    assert not [name for name in imported if name.startswith(("opentelemetry", "google.protobuf"))]  # ...cheaply
    assert "codex_orchestrator.notify.deliver" not in imported


def test_telemetry_on_imports_the_sdk(repo: Repo) -> None:
    import os

    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "codex_orchestrator.cli.main", "exec",
                             "--jsonl", "--otel-endpoint", "http://127.0.0.1:9", "--", "true"], cwd=repo.root,
                            capture_output=True, text=True, env=dict(os.environ), timeout=60)
    assert result.returncode == 0
    assert "opentelemetry.sdk.trace" in result.stderr
