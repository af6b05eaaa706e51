"""Sandbox overhead: spawning `true` bare, through the built-in backend and through bubblewrap.

    .venv/bin/python bench/bench_sandbox.py [--runs 50] [--write]

Every sandboxed row includes `prepare()` (layout, Landlock ruleset, argv), since the
exec runtime prepares each command afresh, and spawns through the runtime's `run_pipes`.
`--write` puts the table into docs/benchmarks.md.
To compare another tool, append a (label, argv or callable) case to `cases()`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from _harness import ROOT, ms, p95, reference_bin, run_timed, table, update_doc_section
from codex_orchestrator.exec.process import run_pipes
from codex_orchestrator.sandbox import SandboxMode, SandboxPolicy, prepare, warm
from codex_orchestrator.sandbox.spawn import backend_status

Case = tuple[str, Sequence[str] | Callable[[], int]]
HEADERS = ("case", "median ms", "p95 ms", "min ms")


def time_case(target: Sequence[str] | Callable[[], int], runs: int) -> list[float]:
    """Wall time of `runs` runs (after one warm-up); a callable must spawn, wait and return the exit code."""
    def once() -> tuple[float, int]:
        if callable(target):
            start = time.perf_counter()
            code = target()
            return time.perf_counter() - start, code
        elapsed, code, _ = run_timed(target)
        return elapsed, code

    _, code = once()
    if code != 0:
        raise SystemExit(f"warm-up run failed with exit code {code}")
    return [once()[0] for _ in range(runs)]


def rows(cases: Sequence[Case], runs: int) -> list[list[str]]:
    result = []
    for label, target in cases:
        values = time_case(target, runs)
        result.append([label, ms(statistics.median(values)), ms(p95(values)), ms(min(values))])
    return result


def sandboxed(policy: SandboxPolicy, argv: list[str], cwd: Path, backend: str, *,
              warm_sandbox: bool = False) -> Callable[[], int]:
    """`warm_sandbox`: as in a long-lived server, each spawn finds a sandbox parked for it (sandbox/warm.py)."""
    env = {name: value for name, value in os.environ.items() if name != warm.ENV}

    def spawn() -> int:
        # Through the exec runtime's own spawn (`run_pipes`), which the built-in backend's fast path needs.
        os.environ[warm.ENV] = "1" if warm_sandbox else "0"
        prepared = prepare(policy, argv, cwd, env, backend=backend)
        outcome = run_pipes(prepared.argv, cwd=cwd, env=env, preexec=prepared.preexec)
        return -1 if outcome.exit_code is None else outcome.exit_code

    return spawn


def cases(work: Path) -> list[Case]:
    true = shutil.which("true") or "/bin/true"
    read_only = SandboxPolicy(SandboxMode.READ_ONLY)
    write = SandboxPolicy(SandboxMode.WORKSPACE_WRITE)  # the workspace has a .git: one read-only bind mount
    found: list[Case] = [("bare `true` (subprocess)", [true])]
    for backend in ("builtin", "bwrap"):
        usable, why = backend_status(backend)
        if not usable:
            print(f"skipping {backend}: {why}")
            continue
        found.append((f"{backend}, read-only", sandboxed(read_only, [true], work, backend)))
        found.append((f"{backend}, workspace-write", sandboxed(write, [true], work, backend)))
        if backend == "builtin":
            found.append(("builtin, workspace-write, warm (a long-lived server)",
                          sandboxed(write, [true], work, backend, warm_sandbox=True)))
    codex = reference_bin("codex")
    if codex:
        # Codex's helper refuses a CODEX_HOME under /tmp (ANCHORS.md), so it gets one in the user's cache.
        home = Path.home() / ".cache" / "codex-orchestrator-bench" / "codex-home"
        home.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "CODEX_HOME": str(home)}
        argv = [codex, "sandbox", "-c", 'sandbox_mode="workspace-write"', "--", true]
        found.append(("Codex CLI `codex sandbox` workspace-write", lambda: subprocess.run(
            argv, cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL).returncode))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="co-bench-sandbox-") as tmp:
        work = Path(tmp)
        (work / ".git").mkdir()
        text = table(HEADERS, rows(cases(work), args.runs))
        text += ("\n\nEach sandboxed row includes `prepare()`; the Codex row is the whole `codex sandbox` "
                 f"process. Reproduce: `.venv/bin/python bench/bench_sandbox.py --runs {args.runs}`.")
    print(text)
    if args.write:
        update_doc_section(ROOT / "docs" / "benchmarks.md", "bench-sandbox",
                           f"Sandbox overhead, spawning `true` ({args.runs} runs):\n\n{text}")


if __name__ == "__main__":
    main()
