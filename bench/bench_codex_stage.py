"""What a codex stage adds to Codex itself: `codex exec --json` bare against `start` of a one-stage pipeline.

    .venv/bin/python bench/bench_codex_stage.py [--runs N]

Both talk to the test suite's fake model on loopback (one final message, no tool call), so the
difference is ours: Python start-up, the run store, the composed instructions, the reaper, the event
translation. Needs `bash scripts/setup.sh --dev` (the pinned codex in tests/peers).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakemodel import FakeModel, Turn  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    codex = ROOT / "tests" / "peers" / "node_modules" / ".bin" / "codex"
    cli = Path(sys.executable).parent / "codex-orchestrator"
    home = ROOT / "bench" / ".peers" / f"codex-home-{os.getpid()}"  # not under /tmp: Codex's sandbox needs that
    with tempfile.TemporaryDirectory() as tmp, FakeModel() as model:
        repo = Path(tmp)
        (repo / ".git").mkdir()
        (repo / "codex.orchestrator.json").write_text(json.dumps({"pipelines": [{"id": "p", "title": "p", "stages": [
            {"kind": "codex", "id": "c", "title": "c", "prompt": "say ok"}]}]}))
        model.codex_home(home)
        env = {**os.environ, "CODEX_HOME": str(home), "CODEX_ORCHESTRATOR_CODEX_BIN": str(codex)}

        def timed(argv: list[str]) -> float:
            model.script(Turn.message("ok"))
            began = time.perf_counter()
            subprocess.run(argv, cwd=repo, env=env, capture_output=True, check=True)
            return (time.perf_counter() - began) * 1000

        try:
            bare = [timed([str(codex), "exec", "--json", "--skip-git-repo-check", "-s", "workspace-write", "--",
                           "say ok"]) for _ in range(args.runs)]
            ours = [timed([str(cli), "start", "--format", "jsonl"]) for _ in range(args.runs)]
        finally:
            shutil.rmtree(home, ignore_errors=True)
    print("| what | median ms | runs |\n|---|---|---|")
    print(f"| `codex exec --json` (bare) | {statistics.median(bare):.0f} | {args.runs} |")
    print(f"| codex stage (`start`, one stage) | {statistics.median(ours):.0f} | {args.runs} |")
    print(f"| overhead | {statistics.median(ours) - statistics.median(bare):.0f} | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
