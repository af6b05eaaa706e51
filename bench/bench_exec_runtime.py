"""Benchmark of the exec runtime: command latency (warm PTY vs fresh spawn) and streaming throughput.

Run: .venv/bin/python bench/bench_exec_runtime.py [--runs N] [--megabytes M]
Prints a table; numbers depend on the machine, so nothing here is asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _harness import ROOT, table, update_doc_section
from codex_orchestrator.exec import SHELL_ARGV, Chunk, PtyShell, child_env, run_pipes
from codex_orchestrator.sandbox import SandboxMode, SandboxPolicy, prepare


def percentiles(samples_ms: list[float]) -> tuple[float, float]:
    ordered = sorted(samples_ms)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


def timed(action: Callable[[], object], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--megabytes", type=int, default=50)
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    cwd = Path(tempfile.mkdtemp(prefix="bench-exec-"))
    rows: list[tuple[str, str, str, str]] = []

    pipes_env = child_env(os.environ, None, pty=False)
    samples = timed(lambda: run_pipes(["true"], cwd=cwd, env=pipes_env), args.runs)
    p50, p95 = percentiles(samples)
    rows.append(("`true`, fresh run_pipes spawn", f"{p50:.2f} ms", f"{p95:.2f} ms", ""))

    policy = SandboxPolicy(SandboxMode.WORKSPACE_WRITE)

    def sandboxed_spawn() -> object:
        spawn = prepare(policy, ["true"], cwd, pipes_env)
        return run_pipes(spawn.argv, cwd=cwd, env=pipes_env, preexec=spawn.preexec)

    samples = timed(sandboxed_spawn, args.runs)
    p50, p95 = percentiles(samples)
    rows.append(("`true`, fresh sandboxed spawn (workspace-write)", f"{p50:.2f} ms", f"{p95:.2f} ms", ""))

    pty_env = child_env(os.environ, None, pty=True)
    shell_spawn = prepare(policy, list(SHELL_ARGV), cwd, pty_env, pty=True)
    with PtyShell("bench-sandboxed", argv=shell_spawn.argv, cwd=cwd, env=pty_env,
                  preexec=shell_spawn.preexec) as shell:
        samples = timed(lambda: shell.run("true"), args.runs)
        p50, p95 = percentiles(samples)
        rows.append(("`true`, warm sandboxed PTY session (workspace-write)", f"{p50:.2f} ms", f"{p95:.2f} ms", ""))

    with PtyShell("bench", cwd=cwd, env=child_env(os.environ, None, pty=True)) as shell:
        samples = timed(lambda: shell.run("true"), args.runs)
        p50, p95 = percentiles(samples)
        rows.append(("`true`, warm PTY session", f"{p50:.2f} ms", f"{p95:.2f} ms", ""))
        samples = timed(lambda: shell.run("/bin/true"), args.runs)
        p50, p95 = percentiles(samples)
        rows.append(("`/bin/true` (a fork), warm PTY session", f"{p50:.2f} ms", f"{p95:.2f} ms", ""))

    size = args.megabytes * 1024 * 1024
    producer = f"head -c {size} /dev/zero | tr '\\0' a | fold -w 100"
    start = time.perf_counter()
    subprocess.run(["bash", "-c", f"{producer} > /dev/null"], check=True)
    bare = time.perf_counter() - start
    rows.append((f"{args.megabytes} MB, bare pipeline to /dev/null", f"{bare:.2f} s", "", ""))

    baseline = rss_kib()
    peak = baseline
    seen = 0

    def consume(stream: str, chunk: Chunk) -> None:
        nonlocal peak, seen
        seen += len(chunk.data)
        if seen % (1 << 22) < len(chunk.data):
            peak = max(peak, rss_kib())

    start = time.perf_counter()
    with open(os.devnull, "wb") as log:
        outcome = run_pipes(["bash", "-c", producer], cwd=cwd, env=pipes_env, on_chunk=consume, log=log)
    streamed = time.perf_counter() - start
    assert outcome.exit_code == 0, outcome
    rows.append((f"{args.megabytes} MB through run_pipes (chunks + log)", f"{streamed:.2f} s",
                 f"x{streamed / bare:.2f} of bare", f"RSS +{(peak - baseline) / 1024:.1f} MiB"))

    text = table(("case", "p50 / wall", "p95 / ratio", "memory"), rows)
    text += (f"\n\n{args.runs} runs per latency row, in one process. Reproduce: "
             f"`.venv/bin/python bench/bench_exec_runtime.py --runs {args.runs} --megabytes {args.megabytes}`.")
    print(text)
    if args.write:
        update_doc_section(ROOT / "docs" / "benchmarks.md", "exec-runtime", "## Exec runtime\n\n" + text)
    os.rmdir(cwd)


if __name__ == "__main__":
    main()
