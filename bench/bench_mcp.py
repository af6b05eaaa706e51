"""What our MCP server adds to a Codex `exec_command` call: Codex's own tool against ours, in one session each.

    .venv/bin/python bench/bench_mcp.py [--calls N] [--cmd CMD]

One `codex exec` session calls Codex's own `exec_command {cmd}` N times; another calls our
`mcp__orchestrator.exec_command {cmd}` N times (the server added with `codex mcp add`, started once).
A call is timed from the fake model's side, as Codex lives it: from the end of the response that asked
for the tool to the next request, which carries the output. Both run the command in a sandbox
(Codex's own, ours), by default without a login shell (`--login` to include one: both then read your
profile once, into a shell snapshot: Codex's per session, ours per server, docs/exec.md "Shell
snapshots"); the difference is the MCP round trip, our records (a run, its manifest and events per
call) and our sandbox set-up. Needs `bash scripts/setup.sh --dev`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakemodel import FakeModel, Turn  # noqa: E402


def session(model: FakeModel, codex: Path, repo: Path, env: dict[str, str], turns: list[Turn]) -> list[float]:
    """Run one Codex session of `turns` (then a final message); the milliseconds of each tool call."""
    model.script(*turns, Turn.message("done"))
    done = subprocess.run([str(codex), "exec", "--json", "--skip-git-repo-check", "-s", "workspace-write",
                    "-c", 'mcp_servers.orchestrator.default_tools_approval_mode="approve"', "--", "go"],
                   cwd=repo, env=env, capture_output=True, check=True, stdin=subprocess.DEVNULL, timeout=600,
                   text=True)
    failed = [line for line in done.stdout.splitlines() if '"status":"failed"' in line]
    if failed:
        print(f"{len(failed)} calls failed, e.g. {failed[0][:600]}", file=sys.stderr)
    # The last len(turns) answers before the final message called the tool; the request after each brought back
    # its output (earlier answers, if any, were the fake model's waits for the MCP server to start).
    arrived, answered, n = model.arrived, model.answered, len(turns)
    return [(arrived[len(arrived) - n + i] - answered[len(answered) - n - 1 + i]) * 1000 for i in range(n)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--cmd", default="true")
    parser.add_argument("--login", action=argparse.BooleanOptionalAction, default=False,
                        help="run the command in a login shell (Codex's default; both tools then read your shell "
                             "profile once, into a shell snapshot); default: --no-login")
    args = parser.parse_args()
    call = {"cmd": args.cmd, "login": args.login}
    codex = ROOT / "tests" / "peers" / "node_modules" / ".bin" / "codex"
    cli = Path(sys.executable).parent / "codex-orchestrator"
    home = ROOT / "bench" / ".peers" / f"codex-home-{os.getpid()}"  # not under /tmp: Codex's sandbox needs that
    (ROOT / "bench" / ".peers").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=ROOT / "bench" / ".peers") as tmp, FakeModel() as model:
        repo = Path(tmp)
        (repo / ".git").mkdir()
        model.codex_home(home)
        env = {**os.environ, "CODEX_HOME": str(home)}
        subprocess.run([str(codex), "mcp", "add", "orchestrator", "--", str(cli), "mcp", "serve"], env=env,
                       capture_output=True, check=True)
        try:
            bare = session(model, codex, repo, env, [Turn.exec_command(**call) for _ in range(args.calls)])
            model.await_tool = "mcp__orchestrator"
            ours = session(model, codex, repo, env, [Turn.mcp_call("orchestrator", "exec_command", call)
                                                     for _ in range(args.calls)])
            runs = len(list((repo / ".runs" / "mcp" / "cli").iterdir()))
        finally:
            shutil.rmtree(home, ignore_errors=True)
    if runs != args.calls:
        print(f"expected {args.calls} recorded runs, found {runs}", file=sys.stderr)
        return 1
    bare_ms, ours_ms = statistics.median(bare), statistics.median(ours)
    print(f"`{args.cmd}` (login={args.login}), {args.calls} calls in one Codex session each; "
          "median ms per tool call as Codex sees it\n")
    print("| tool | median ms | p90 ms |\n|---|---|---|")
    print(f"| Codex's own `exec_command` | {bare_ms:.1f} | {_p90(bare):.1f} |")
    print(f"| our `exec_command` over MCP (a recorded, sandboxed run each) | {ours_ms:.1f} | {_p90(ours):.1f} |")
    print(f"| overhead | {ours_ms - bare_ms:.1f} | |")
    return 0


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


if __name__ == "__main__":
    sys.exit(main())
