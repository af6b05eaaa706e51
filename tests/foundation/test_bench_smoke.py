"""The benchmarks stay runnable (figures come from running them by hand; nothing is timed here)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.parametrize("argv", [
    ["bench_startup.py", "--runs", "2", "--no-reference"],
    ["bench_orchestrator.py", "--runs", "3"],
    ["bench_exec_runtime.py", "--runs", "3", "--megabytes", "1"],
    ["bench_streaming.py", "--sizes", "1M", "--runs", "1", "--no-reference"],
    ["bench_sdk.py", "--runs", "3", "--rss-execs", "0", "--no-reference"],
    ["bench_telemetry.py", "--runs", "2", "--calls", "5"],
    ["bench_snapshot.py", "--runs", "2"],
])
def test_benchmark_runs(argv: list[str]) -> None:
    if not (Path(sys.executable).parent / "codex-orchestrator").exists():
        pytest.skip("the CLI is not installed next to this interpreter")
    env = {**os.environ, "CODEX_ORCHESTRATOR_BENCH_NO_PEERS": "1"}
    result = subprocess.run([sys.executable, str(BENCH / argv[0]), *argv[1:]], cwd=BENCH.parent, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "|" in result.stdout  # printed its table
