"""Telemetry's cost, side by side in one run:

* cold `exec --jsonl -- true` with telemetry off, and (with `--before CLI`) the same command of a
  checkout from before telemetry existed: start-up must not change when telemetry is off;
* the per-tool-run overhead with telemetry on against a healthy local OTLP/HTTP receiver:
  `ToolOrchestrator.invoke(['true'])` in one process with and without the run's tracer, interleaved; the
  fixed cost of loading the SDK once per process is the cold `exec` row.

    .venv/bin/python bench/bench_telemetry.py [--runs 15] [--calls 300] [--before OTHER/.venv/bin/codex-orchestrator]
        [--write]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from _harness import CLI, ROOT, ms, run_timed, summary_row, table, update_doc_section


class _Collector(BaseHTTPRequestHandler):
    """A healthy OTLP/HTTP endpoint: reads each request and answers 200 (decoding is the tests' job)."""

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


def _interleaved(cases: list[tuple[str, list[str]]], runs: int, **kwargs: Any) -> dict[str, list[float]]:
    """Each case once per round, `runs` rounds: a busy machine slows every case alike."""
    results: dict[str, list[float]] = {label: [] for label, _ in cases}
    for argv in (argv for _, argv in cases):
        run_timed(argv, **kwargs)  # warm-up
    for _ in range(runs):
        for label, argv in cases:
            results[label].append(run_timed(argv, **kwargs)[0])
    return results


def per_tool_run(endpoint: str, work: Path, runs: int) -> tuple[list[float], list[float]]:
    """`ToolOrchestrator.invoke(['true'])` in one process, alternately without and with a RunTracer (spans,
    metrics, TRACEPARENT) exporting to `endpoint`: the per-tool-run cost, without interpreter start-up."""
    import time

    from codex_orchestrator.config import load_config
    from codex_orchestrator.events.bus import EventBus
    from codex_orchestrator.exec.cancel import CancelToken
    from codex_orchestrator.telemetry.session import TraceEnv, start
    from codex_orchestrator.telemetry.settings import resolve
    from codex_orchestrator.tools.orchestrator import ToolOrchestrator
    from codex_orchestrator.tools.request import ToolRequest

    config = load_config(work, {"sandbox_mode": "danger-full-access"})
    telemetry = start(resolve(config, {}, endpoint), {})
    plain, traced = EventBus(), EventBus()
    tracer = telemetry.for_run()
    traced.subscribe(tracer)
    traced.publish("run:start", {"runId": "bench", "taskId": "bench", "pipelineId": "bench", "parentRunId": None,
                                 "approvalPolicy": "on-request", "sandboxMode": "danger-full-access"})
    calls = []
    for bus, env in ((plain, {}), (traced, TraceEnv({}, telemetry))):
        orchestrator = ToolOrchestrator(config, bus, cancel=CancelToken())
        request = ToolRequest(tool="bench", command=["true"], cwd=work, env=env)
        orchestrator.invoke(request)
        calls.append(lambda o=orchestrator, r=request: o.invoke(r))
    off: list[float] = []
    on: list[float] = []
    for _ in range(runs):
        for call, values in zip(calls, (off, on), strict=True):
            began = time.perf_counter()
            call()
            values.append(time.perf_counter() - began)
    telemetry.finish()
    return off, on


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--calls", type=int, default=300, help="tool runs for the per-tool-run overhead")
    parser.add_argument("--before", help="the CLI of a checkout from before telemetry, for the off row")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    work = Path(tempfile.mkdtemp(prefix="co-bench-otel-"))
    (work / ".git").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(CODEX_HOME=str(work / "codex-home"), HOME=str(work))
    os.environ.update(CODEX_HOME=env["CODEX_HOME"], CODEX_ORCHESTRATOR_HOME=str(work / "co-home"))
    exec_true = ["exec", "--jsonl", "--task", "bench", "--", "true"]
    cases: list[tuple[str, list[str]]] = [("`exec --jsonl -- true`, telemetry off", [CLI, *exec_true])]
    if args.before:
        cases.append(("`exec --jsonl -- true`, before telemetry existed", [args.before, *exec_true]))
    cases.append(("`exec --jsonl -- true`, telemetry on (local receiver)",
                  [CLI, *exec_true[:-2], "--otel-endpoint", endpoint, "--", "true"]))
    results = _interleaved(cases, args.runs, cwd=work, env=env)
    off, on = per_tool_run(endpoint, work, args.calls)
    results["invoke(['true']) in one process, telemetry off"] = off
    results["invoke(['true']) in one process, telemetry on"] = on
    rows = [summary_row(label, values) for label, values in results.items()]
    text = table(["command", "median ms", "p95 ms", "min ms"], rows)
    med = {label: statistics.median(values) for label, values in results.items()}
    off_exec = med[cases[0][0]]
    text += (f"\n\nPer tool run, telemetry on costs {ms(statistics.median(on) - statistics.median(off))} ms "
             f"(median of {args.calls} interleaved calls: spans, metrics, TRACEPARENT; export is batched off the "
             f"run's thread). Once per process it costs "
             f"{ms(med[cases[-1][0]] - off_exec)} ms (loading the OpenTelemetry SDK, the end-of-run flush).")
    if args.before:
        before = med["`exec --jsonl -- true`, before telemetry existed"]
        text += f" Telemetry off: {ms(off_exec)} ms against {ms(before)} ms before it existed (interleaved runs)."
    text += (f"\n\n{args.runs} interleaved rounds after one warm-up, {platform.machine()} {os.cpu_count()} cores, "
             f"Python {platform.python_version()}. Reproduce: `.venv/bin/python bench/bench_telemetry.py "
             f"--runs {args.runs} --calls {args.calls} [--before <older checkout>/.venv/bin/codex-orchestrator]`.")
    print(text)
    if args.write:
        update_doc_section(ROOT / "docs" / "benchmarks.md", "telemetry", "## Telemetry\n\n" + text)
    server.shutdown()
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
