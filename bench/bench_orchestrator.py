"""The ToolOrchestrator's own overhead: a command through `ToolOrchestrator.invoke` against a plain
`subprocess.run`, in one process (no interpreter start-up in either).

    .venv/bin/python bench/bench_orchestrator.py [--runs 200] [--write]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from _harness import ROOT, ms, p95, table, update_doc_section
from codex_orchestrator.config import load_config
from codex_orchestrator.events.bus import EventBus
from codex_orchestrator.exec.cancel import CancelToken
from codex_orchestrator.tools.orchestrator import ToolOrchestrator
from codex_orchestrator.tools.request import ToolRequest


class _Sink:
    critical = True

    def handle(self, event: object, line: str) -> None:
        pass

    def close(self) -> None:
        pass


def measure(fn: object, runs: int) -> list[float]:
    values = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        values.append(time.perf_counter() - start)
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="co-orch-"))
    os.environ["CODEX_HOME"] = str(work / "codex-home")
    os.environ["CODEX_ORCHESTRATOR_HOME"] = str(work / "co-home")
    results: dict[str, list[float]] = {}
    results["subprocess.run(['true'])"] = measure(lambda: subprocess.run(["true"], cwd=work), args.runs)
    for mode in ("danger-full-access", "workspace-write"):
        config = load_config(work, {"sandbox_mode": mode})
        bus = EventBus()
        bus.subscribe(_Sink())
        orchestrator = ToolOrchestrator(config, bus, cancel=CancelToken())
        request = ToolRequest(tool="bench", command=["true"], cwd=work)
        orchestrator.invoke(request)
        results[f"invoke(['true']), {mode}"] = measure(lambda o=orchestrator, r=request: o.invoke(r), args.runs)
    base = results["subprocess.run(['true'])"]
    rows = []
    for label, values in results.items():
        rows.append([label, ms(statistics.median(values)), ms(p95(values)),
                     ms(statistics.median(values) - statistics.median(base)), ms(p95(values) - p95(base))])
    text = table(["call", "median ms", "p95 ms", "median overhead ms", "p95 overhead ms"], rows)
    text += (f"\n\n{args.runs} calls each, in one process. Reproduce: "
             f"`.venv/bin/python bench/bench_orchestrator.py --runs {args.runs}`.")
    print(text)
    if args.write:
        update_doc_section(ROOT / "docs" / "benchmarks.md", "orchestrator", "## ToolOrchestrator overhead\n\n" + text)


if __name__ == "__main__":
    main()
