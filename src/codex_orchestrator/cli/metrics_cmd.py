"""`metrics`: approval reuse, tool latency, retries, denials and JSONL adoption over recorded runs."""

from __future__ import annotations

import argparse
import json
import sys


def _duration(text: str) -> str:
    from ..metrics.report import parse_duration

    try:
        parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "metrics", help="approval reuse, tool latency, retries, denials, JSONL adoption",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Figures over the runs recorded in .runs/<task>/metrics.json (every task by default): "
                    "approval reuse % ((session + store + rules) / all approvals needed), tool-run latency "
                    "P50 and P95, retries, denials, and JSONL adoption (runs whose output was JSONL / all runs).",
        epilog="examples:\n  codex-orchestrator metrics\n  codex-orchestrator metrics --task pr-123 --since 7d\n"
               "  codex-orchestrator metrics --since 12h --format json\n\n"
               "--since takes a number and a unit: s, m, h, d or w (docs/telemetry.md).",
    )
    p.add_argument("--task", help="only this task (default: every task under .runs/)")
    p.add_argument("--since", type=_duration, metavar="DURATION", help="only runs that ended in the last DURATION")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..metrics.report import load_records, parse_duration, render_text, summarize
    from ..runs.ids import validate_task_id
    from .common import load_config

    config = load_config(args)
    task = validate_task_id(args.task) if args.task else None
    since = parse_duration(args.since) if args.since else None
    tasks, records = load_records(config.repo_root, task, since,
                                  warn=lambda text: print(f"codex-orchestrator: warning: {text}", file=sys.stderr))
    summary = summarize(tasks, records, args.since)
    if args.format == "json":
        print(json.dumps(summary, indent=2))
    else:
        print(render_text(summary))
    return 0
