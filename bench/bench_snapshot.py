"""A shell line through one `ToolOrchestrator`, with your own login profile: `bash -lc` every time against
a shell snapshot (docs/exec.md "Shell snapshots"), sandboxed as configured (default `workspace-write`).

    .venv/bin/python bench/bench_snapshot.py [--runs 20] [--cmd true] [--sandbox workspace-write]

Prints the first call (the one that takes the snapshot) and the median of the rest, for both.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from _harness import table
from codex_orchestrator.config import load_config
from codex_orchestrator.events.bus import EventBus
from codex_orchestrator.exec.cancel import CancelToken
from codex_orchestrator.exec.snapshot import ShellSnapshots
from codex_orchestrator.tools.orchestrator import ToolOrchestrator
from codex_orchestrator.tools.request import ToolRequest


def calls(workspace: Path, command: str, sandbox: str, runs: int, snapshots: ShellSnapshots | None) -> list[float]:
    config = load_config(workspace, {"approval_policy": "never", "sandbox_mode": sandbox}, dict(os.environ))
    orchestrator = ToolOrchestrator(config, EventBus(), cancel=CancelToken(), snapshots=snapshots)
    times = []
    for _ in range(runs + 1):
        begun = time.monotonic()
        result = orchestrator.invoke(ToolRequest(tool="bench", command=command, cwd=workspace))
        times.append((time.monotonic() - begun) * 1000)
        if not result.ok:
            raise SystemExit(f"{command!r} failed: {result.tail_text('stderr')}")
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--cmd", default="true")
    parser.add_argument("--sandbox", default="workspace-write")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, snapshots in (("`bash -lc` each time", None), ("shell snapshot", ShellSnapshots())):
            times = calls(Path(tmp), args.cmd, args.sandbox, args.runs, snapshots)
            rows.append([label, f"{times[0]:.1f}", f"{statistics.median(times[1:]):.1f}"])
    print(f"`{args.cmd}` as a shell line, {args.sandbox}, your profile; ms per `invoke`\n")
    print(table(["", "first call", f"median of the next {args.runs}"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
