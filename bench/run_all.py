"""Run every benchmark in one go and refresh docs/benchmarks.md.

    .venv/bin/python bench/run_all.py [--quick]

Start-up (`--version`, `start`, `exec -- true` against bare `true` and the reference orchestrator),
the ToolOrchestrator's overhead against `subprocess.run`, each sandbox backend against `codex sandbox`,
the exec runtime (warm PTY session against a fresh sandboxed spawn), streaming 50 MB and 1 GB, and the
Node SDK on a warm `serve --stdio` against the reference SDK's process per call.
`--quick` uses fewer runs and skips the 1 GB stream (for a smoke test, not for figures).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    quick = args.quick
    steps = [
        ["bench_startup.py", "--runs", "5" if quick else "40"],
        ["bench_orchestrator.py", "--runs", "20" if quick else "200"],
        ["bench_sandbox.py", "--runs", "5" if quick else "40"],
        ["bench_exec_runtime.py", "--runs", "20" if quick else "200", "--megabytes", "10" if quick else "50"],
        ["bench_streaming.py", "--sizes", "10M" if quick else "50M,1G", "--runs", "1" if quick else "3"],
        ["bench_sdk.py", "--runs", "50" if quick else "500", "--reference-runs", "3" if quick else "20",
         "--rss-execs", "300" if quick else "10000"],
        ["bench_telemetry.py", "--runs", "3" if quick else "15", "--calls", "30" if quick else "300"],
    ]
    for script, *options in steps:
        print(f"== {script} {' '.join(options)}", flush=True)
        code = subprocess.call([sys.executable, str(HERE / script), *options, *([] if quick else ["--write"])])
        if code != 0:
            print(f"{script} failed with exit code {code}", file=sys.stderr)
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
