"""`sandbox check`: what the sandbox can enforce on this machine."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("sandbox", help="inspect the sandbox",
                       description="Inspect the OS sandbox backends (Landlock + namespaces, bubblewrap). "
                                   "See docs/sandbox.md.")
    actions = p.add_subparsers(title="actions", metavar="ACTION")
    check = actions.add_parser("check", help="report which backends work here and which modes they enforce",
                               description="Probe each backend for real (a sandboxed write and connect are tried) "
                                           "and report what works. Exit 0 if the default backend can enforce "
                                           "workspace-write, 71 otherwise.")
    check.add_argument("--format", choices=("text", "json"), default="text")
    check.set_defaults(handler=run_check)
    p.set_defaults(handler=lambda args: _usage(p))


def run_check(args: argparse.Namespace) -> int:
    from ..errors import EXIT_SANDBOX
    from ..sandbox import check_report

    report = check_report()
    if args.format == "json":
        print(json.dumps(report, indent=2, default=str))
    else:
        for key, value in report.items():
            if isinstance(value, list | dict):
                print(f"{key}:")
                items = value.items() if isinstance(value, dict) else enumerate(value)
                for sub_key, sub_value in items:
                    print(f"  {sub_key}: {json.dumps(sub_value, default=str)}")
            else:
                print(f"{key}: {value}")
    return 0 if report.get("default") not in (None, "none") else EXIT_SANDBOX


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2
