"""Small, dependency-free helpers shared by the benchmarks: timing, peak RSS, tables, peers."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = ROOT / ".venv" / "bin"
CLI = str(VENV_BIN / "codex-orchestrator")
PEERS = Path(os.environ.get("CODEX_ORCHESTRATOR_BENCH_PEERS", "/tmp/codex-orchestrator-peers"))
REFERENCE_PACKAGES = ("@kbediako/codex-orchestrator@0.2.1", "@openai/codex")


def run_timed(argv: Sequence[str], *, cwd: Path | None = None, env: Mapping[str, str] | None = None,
              stdout: int | None = subprocess.DEVNULL) -> tuple[float, int, int]:
    """Run once; returns (wall seconds, exit code, peak RSS in KiB of the process tree it waited for)."""
    start = time.perf_counter()
    proc = subprocess.Popen(list(argv), cwd=cwd, env=dict(env) if env is not None else None,
                            stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return elapsed, proc.returncode, usage.ru_maxrss


def sample(argv: Sequence[str], runs: int, **kwargs: object) -> list[float]:
    run_timed(argv, **kwargs)  # type: ignore[arg-type]  # warm the page cache
    return [run_timed(argv, **kwargs)[0] for _ in range(runs)]  # type: ignore[arg-type]


def p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    lines = ["| " + " | ".join(str(h).ljust(w) for h, w in zip(headers, widths, strict=True)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in rows]
    return "\n".join(lines)


def summary_row(label: str, values: Sequence[float]) -> list[str]:
    return [label, ms(statistics.median(values)), ms(p95(values)), ms(min(values))]


def reference_bin(name: str) -> str | None:
    """The reference tools, installed from npm into a scratch folder (never into the repo)."""
    path = PEERS / "node_modules" / ".bin" / name
    if path.exists():
        return str(path)
    if shutil.which("npm") is None or os.environ.get("CODEX_ORCHESTRATOR_BENCH_NO_PEERS"):
        return None
    print(f"installing {' '.join(REFERENCE_PACKAGES)} into {PEERS} ...", file=sys.stderr)
    PEERS.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(PEERS),
                             *REFERENCE_PACKAGES], capture_output=True, text=True)
    if result.returncode != 0:
        print(f"npm install failed; the reference rows are skipped:\n{result.stderr[-2000:]}", file=sys.stderr)
        return None
    return str(path) if path.exists() else None


def update_doc_section(doc: Path, marker: str, body: str) -> None:
    """Replace the text between `<!-- marker:start -->` and `<!-- marker:end -->` in docs/benchmarks.md."""
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    text = doc.read_text() if doc.exists() else "# Benchmarks\n"
    block = f"{start}\n{body.rstrip()}\n{end}"
    if start in text and end in text:
        before, _, rest = text.partition(start)
        _, _, after = rest.partition(end)
        text = before + block + after
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    doc.write_text(text)
