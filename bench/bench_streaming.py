"""Streaming through `exec --jsonl`: wall time and peak RSS against the bare command and the reference.

    .venv/bin/python bench/bench_streaming.py [--sizes 50M,1G] [--runs 3] [--write]

The command is the ANCHORS.md one: `head -c N /dev/zero | tr '\\0' a | fold -w 100`. Peak RSS is the
largest resident set of the measured process tree (wait4's ru_maxrss).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
from pathlib import Path

from _harness import CLI, ROOT, reference_bin, run_timed, table, update_doc_section

UNITS = {"K": 10**3, "M": 10**6, "G": 10**9}


def parse_size(text: str) -> int:
    return int(text[:-1]) * UNITS[text[-1].upper()] if text[-1].upper() in UNITS else int(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="50M,1G")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--no-reference", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="co-stream-"))
    env = {**os.environ, "CODEX_HOME": str(work / "codex-home"), "HOME": str(work)}
    reference = None if args.no_reference else reference_bin("codex-orchestrator")
    rows = []
    for size_text in args.sizes.split(","):
        size = parse_size(size_text)
        script = f"head -c {size} /dev/zero | tr '\\0' a | fold -w 100"
        cases = [("bare", ["sh", "-c", script]),
                 ("codex-orchestrator exec --jsonl", [CLI, "exec", "--jsonl", "--task", "bench", "--",
                                                      "sh", "-c", script])]
        if reference and size <= 100 * 10**6:  # the reference holds the whole output in memory
            cases.append(("reference 0.2.1 exec --jsonl", [reference, "exec", "--jsonl", "--task", "bench", "--",
                                                           "sh", "-c", script]))
        bare_wall = None
        for label, argv in cases:
            walls, rss = [], []
            for _ in range(args.runs):
                wall, code, peak_kib = run_timed(argv, cwd=work, env=env)
                assert code == 0, f"{label} exited {code}"
                walls.append(wall)
                rss.append(peak_kib / 1024)
            median = statistics.median(walls)
            bare_wall = median if label == "bare" else bare_wall
            ratio = f"{median / bare_wall:.2f}x" if bare_wall else ""
            rows.append([size_text, label, f"{median:.2f}", ratio, f"{max(rss):.1f}"])
            print(rows[-1], flush=True)
        shutil.rmtree(work / ".runs", ignore_errors=True)
    text = table(["output", "command", "wall s (median)", "vs bare", "peak RSS MiB"], rows)
    text += (f"\n\n{args.runs} runs per row, stdout to /dev/null. Reproduce: "
             f"`.venv/bin/python bench/bench_streaming.py --sizes {args.sizes} --runs {args.runs}`.")
    print(text)
    if args.write:
        update_doc_section(ROOT / "docs" / "benchmarks.md", "streaming", "## Streaming\n\n" + text)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
