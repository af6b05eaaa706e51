"""The Node SDK on a warm `serve --stdio`: one `orch.exec(["true"])` unsandboxed and sandboxed,
`session.run("true")`, against the reference SDK's `ExecClient.run({command: "true"})` (one CLI
process per call) and a bare spawn of `true` from Node; and the server's RSS after 10,000 execs
against its RSS after 100. Everything in one run of bench/sdk_bench.mjs.

    .venv/bin/python bench/bench_sdk.py [--runs 500] [--reference-runs 20] [--rss-execs 10000] [--write]

Aims (issue #10): P95 <= 5 ms unsandboxed, <= 15 ms sandboxed, session.run P95 <= 5 ms, the reference
>= 50x slower, RSS growth <= 10 MB. `--write` puts the table into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _harness import CLI, ROOT, p95, table, update_doc_section

SDK = ROOT / "sdk" / "node"
REFERENCE = ROOT / "tests" / "peers" / "node_modules" / "@kbediako" / "codex-orchestrator"
AIMS_MS = {"execUnsandboxed": 5.0, "execSandboxed": 15.0, "sessionRun": 5.0}
LABELS = {
    "bareSpawn": "bare `true` spawned from Node (execFile)",
    "fsProbe": "a run-like folder made from Node (2 folders, 5 files, 1 replace)",
    "rpc": "JSON-RPC round trip alone (`listSessions()`)",
    "execUnsandboxed": '`orch.exec(["true"])`, danger-full-access',
    "execSandboxed": '`orch.exec(["true"])`, workspace-write (sandboxed)',
    "sessionRun": '`session.run("true")`',
    "reference": 'reference 0.2.1 `ExecClient.run({command: "true"})`',
}


def _build_sdk() -> Path:
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("bench_sdk: npm is needed to build sdk/node")
    if not (SDK / "node_modules").exists():
        subprocess.run([npm, "install", "--no-audit", "--no-fund", "--silent"], cwd=SDK, check=True)
    subprocess.run([npm, "run", "--silent", "build"], cwd=SDK, check=True)
    return SDK / "dist" / "index.js"


def _ms(value: float) -> str:
    return f"{value:.2f}"


def _row(key: str, values: list[float], parts: dict[str, dict[str, list[float]]]) -> list[str]:
    aim = AIMS_MS.get(key)
    met = "" if aim is None else ("yes" if p95(values) <= aim else "**no**")
    run = _ms(statistics.median(parts[key]["run"])) if key in parts else ""
    command = _ms(statistics.median(parts[key]["command"])) if key in parts else ""
    return [LABELS[key], str(len(values)), _ms(statistics.median(values)), _ms(p95(values)), _ms(min(values)),
            "" if aim is None else f"<= {aim:g}", met, run, command]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--reference-runs", type=int, default=20)
    parser.add_argument("--rss-execs", type=int, default=10000, help="0 skips the RSS measurement")
    parser.add_argument("--session-sandbox", default="workspace-write")
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()

    sdk = _build_sdk()
    work = Path(tempfile.mkdtemp(prefix="co-bench-sdk-"))
    project = work / "project"
    (project / ".git").mkdir(parents=True)
    env = {"HOME": str(work), "CODEX_HOME": str(work / "codex-home"),
           "CODEX_ORCHESTRATOR_HOME": str(work / "orch-home")}
    reference = None
    if not args.no_reference and (REFERENCE / "dist").exists():
        reference = {"module": str(REFERENCE / "dist" / "packages" / "sdk-node" / "src" / "orchestrator.js"),
                     "cli": str(REFERENCE.parents[1] / ".bin" / "codex-orchestrator")}
    cli = os.environ.get("CODEX_ORCHESTRATOR_CLI", CLI)  # to measure another build of the CLI
    config = {"sdk": str(sdk), "cli": cli, "cwd": str(project), "env": env, "runs": args.runs,
              "referenceRuns": args.reference_runs, "reference": reference, "rssExecs": args.rss_execs,
              "sessionSandbox": args.session_sandbox}
    node_env = {k: v for k, v in os.environ.items() if k != "CI"}
    result = subprocess.run(["node", str(Path(__file__).with_name("sdk_bench.mjs")), json.dumps(config)],
                            capture_output=True, text=True, env=node_env)
    shutil.rmtree(work, ignore_errors=True)
    if result.returncode != 0:
        sys.exit(f"sdk_bench.mjs failed ({result.returncode}):\n{result.stderr[-4000:]}")
    data = json.loads(result.stdout)
    parts = data.get("parts", {})
    rows = [_row(key, data[key], parts) for key in LABELS if key in data]
    text = table(["call", "n", "median ms", "p95 ms", "min ms", "aim p95 ms", "met", "of which run, median",
                  "of which command, median"], rows)
    text += ("\n\n*run*: the run's own latency as recorded in its summary (`metrics.latencyMs`, run:start to "
             "run:summary); *command*: the tool run (`toolRun.durationMs`, spawn to exit, sandbox included). The "
             "rest of a call is the server's work before and after the run (config, run directory, state and "
             "metrics files) and the JSON-RPC round trip.")
    if "reference" in data:
        ratio = statistics.median(data["reference"]) / statistics.median(data["execUnsandboxed"])
        ratio_sb = statistics.median(data["reference"]) / statistics.median(data["execSandboxed"])
        text += (f"\n\nThe reference's process per call is {ratio:.0f}x slower than `orch.exec` unsandboxed and "
                 f"{ratio_sb:.0f}x slower than sandboxed (medians; aim >= 50x).")
    if "rss" in data:
        rss = data["rss"]
        growth = (rss["after"] - rss["after100"]) / 1024
        text += (f"\n\nServer RSS: {rss['after100'] / 1024:.1f} MiB after 100 execs, {rss['after'] / 1024:.1f} MiB "
                 f"after {rss['execs']:,} ({growth:+.1f} MiB; aim <= 10 MB) "
                 f"[{'met' if growth <= 10 * 1000 * 1000 / 1024 / 1024 else 'not met'}]; "
                 f"{rss['execs'] - 100:,} execs took {rss['seconds']:.1f} s. Every 1,000 execs, RSS and the "
                 "mean ms per exec over those 1,000 (the task's metrics.json grows by one record per run): "
                 + ", ".join(f"{n // 1000}k {kib / 1024:.1f} MiB {lap_ms:.1f} ms" for n, kib, lap_ms in rss["samples"])
                 + ".")
    text += (f"\n\nSequential calls after 20 warm-up calls on one server, {platform.machine()} {os.cpu_count()} "
             f"cores, Node {subprocess.run(['node', '--version'], capture_output=True, text=True).stdout.strip()}, "
             f"Python {platform.python_version()}. Session sandbox: {args.session_sandbox}. Reproduce: "
             f"`.venv/bin/python bench/bench_sdk.py --runs {args.runs} --rss-execs {args.rss_execs}`.")
    print(text)
    if args.write:
        update_doc_section(ROOT / "docs" / "benchmarks.md", "sdk", "## Node SDK on a warm server\n\n" + text)


if __name__ == "__main__":
    main()
