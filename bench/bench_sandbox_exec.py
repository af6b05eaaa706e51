"""The sandbox's share of an in-process `Orchestrator.exec(["true"])`: workspace-write against
danger-full-access, alternating call by call on two warm orchestrators, and the minor page faults the
orchestrator itself takes per call (copy-on-write after each fork of it; none after a vfork).

    .venv/bin/python bench/bench_sandbox_exec.py [--runs 200]

Numbers and what they mean: docs/sandbox.md ("Spawn cost").
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

from _harness import ms, p95, table

MODES = ("workspace-write", "danger-full-access")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="co-bench-sbx-exec-"))
    project = work / "project"
    (project / ".git").mkdir(parents=True)
    os.environ.update(HOME=str(work), CODEX_HOME=str(work / "codex-home"),
                      CODEX_ORCHESTRATOR_HOME=str(work / "orch-home"))
    from codex_orchestrator import Orchestrator

    orchestrators = {mode: Orchestrator(cwd=project, sandbox=mode) for mode in MODES}
    times: dict[str, list[float]] = {mode: [] for mode in MODES}
    faults: dict[str, list[int]] = {mode: [] for mode in MODES}
    for index in range(args.runs + 20):
        for mode in MODES:
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            start = time.perf_counter()
            result = orchestrators[mode].exec(["true"])
            elapsed = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            if result.exit_code != 0:
                raise SystemExit(f"{mode}: exit code {result.exit_code}")
            if index >= 20:  # warm-up
                times[mode].append(elapsed)
                faults[mode].append(after - before)
    rows = [[f"`exec([\"true\"])`, {mode}", str(args.runs), ms(statistics.median(times[mode])), ms(p95(times[mode])),
             ms(min(times[mode])), f"{statistics.median(faults[mode]):.0f}"] for mode in MODES]
    print(table(("call", "n", "median ms", "p95 ms", "min ms", "orchestrator minor faults, median"), rows))


if __name__ == "__main__":
    main()
