"""Start-up overhead: `--version`, `start` of a one-stage `true` pipeline and `exec -- true`,
against bare `true` and the reference orchestrator.

    .venv/bin/python bench/bench_startup.py [--runs 30] [--write]

`--write` puts the table into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
from pathlib import Path

from _harness import CLI, ROOT, ms, reference_bin, sample, summary_row, table, update_doc_section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument("--no-reference", action="store_true")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="co-bench-"))
    (work / ".git").mkdir()
    (work / "codex.orchestrator.json").write_text(json.dumps(
        {"pipelines": [{"id": "t", "title": "true", "stages": [{"kind": "command", "id": "t", "title": "t",
                                                               "command": "true"}]}], "defaultPipeline": "t"}))
    env = {**os.environ, "CODEX_HOME": str(work / "codex-home"), "HOME": str(work)}
    true = shutil.which("true") or "/bin/true"
    cases: list[tuple[str, list[str]]] = [
        ("bare `true`", [true]),
        ("`codex-orchestrator --version`", [CLI, "--version"]),
        ("`codex-orchestrator start` (1 stage: true)", [CLI, "start", "--format", "jsonl", "--task", "bench"]),
        ("`codex-orchestrator exec --jsonl -- true`", [CLI, "exec", "--jsonl", "--task", "bench", "--", "true"]),
        # Telemetry named but switched off: the settings are read, OpenTelemetry is never imported.
        ("`exec --jsonl -- true`, OTEL_SDK_DISABLED=true", ["env", "OTEL_SDK_DISABLED=true",
                                                           "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:9",
                                                           CLI, "exec", "--jsonl", "--task", "bench", "--", "true"]),
    ]
    reference = None if args.no_reference else reference_bin("codex-orchestrator")
    if reference:
        cases.append(("reference 0.2.1 `exec --jsonl -- true`",
                      [reference, "exec", "--jsonl", "--task", "bench", "--", "true"]))
    results = {label: sample(argv, args.runs, cwd=work, env=env) for label, argv in cases}
    bare = statistics.median(results["bare `true`"])
    rows = []
    for label, values in results.items():
        row = summary_row(label, values)
        row.append(ms(statistics.median(values) - bare))
        rows.append(row)
    text = table(["command", "median ms", "p95 ms", "min ms", "overhead vs bare (median) ms"], rows)
    ours = statistics.median(results["`codex-orchestrator exec --jsonl -- true`"])
    if reference:
        ref = statistics.median(results["reference 0.2.1 `exec --jsonl -- true`"])
        text += f"\n\n`exec -- true`: ours {ms(ours)} ms vs reference {ms(ref)} ms = {ref / ours:.1f}x faster."
    text += (f"\n\n{args.runs} runs each after one warm-up, {platform.machine()} {os.cpu_count()} cores, "
             f"Python {platform.python_version()}. Reproduce: `.venv/bin/python bench/bench_startup.py "
             f"--runs {args.runs}`.")
    print(text)
    if args.write:
        update_doc_section(ROOT / "docs" / "benchmarks.md", "startup", "## Start-up\n\n" + text)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
