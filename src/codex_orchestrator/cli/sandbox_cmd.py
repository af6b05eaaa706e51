"""`sandbox check`: what the sandbox can enforce on this machine."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("sandbox", help="inspect the sandbox",
                       description="Inspect the OS sandbox backends (Landlock + namespaces, bubblewrap). "
                                   "See docs/sandbox.md.", formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="example:\n  codex-orchestrator sandbox check")
    actions = p.add_subparsers(title="actions", metavar="ACTION")
    check = actions.add_parser("check", help="report which backends work here and which modes they enforce",
                               description="Probe each backend for real (a sandboxed write and connect are tried) "
                                           "and report what works. Exit 0 if the default backend can enforce "
                                           "workspace-write, 71 otherwise.",
                               formatter_class=argparse.RawDescriptionHelpFormatter,
                               epilog="examples:\n  codex-orchestrator sandbox check\n"
                                      "  codex-orchestrator sandbox check --format json | jq .backends")
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
        _print_report(report)
    return 0 if report.get("default") not in (None, "none") else EXIT_SANDBOX


def _print_report(report: dict[str, object]) -> None:
    """One block per backend: usable or not and why, then what a real escape attempt did per mode."""
    print(f"kernel {report.get('kernel')} · Landlock ABI {report.get('landlock_abi')} · "
          f"user namespaces {'yes' if report.get('user_namespaces') else 'no'}")
    backends = report.get("backends")
    for name, info in (backends.items() if isinstance(backends, dict) else []):
        mark = "ok " if info.get("available") else "n/a"
        version = f" {info['version']}" if info.get("version") else ""
        print(f"[{mark}] {name}{version}: {info.get('detail', '')}")
        verified = info.get("verified") or {}
        for mode, outcome in verified.items():
            attempts = outcome.get("attempts", {})
            tried = ", ".join(f"{what} {'allowed' if allowed else 'blocked'}" for what, allowed in attempts.items())
            print(f"      {mode}: {'enforced' if outcome.get('ok') else 'NOT enforced'} ({tried})")
        for what, how in (info.get("containment") or {}).items():
            print(f"      {what}: {how}")
    print(f"default: {report.get('default')} ({report.get('default_reason')})")


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2
