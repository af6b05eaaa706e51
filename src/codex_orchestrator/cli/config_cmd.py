"""`config show`: every effective setting and the source it came from."""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "config", help="show the effective configuration", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Configuration precedence, highest first: flags > CODEX_ORCHESTRATOR_* environment > repo "
                    "config (codex.orchestrator.json or config/orchestrator.json) > $CODEX_HOME/config.toml > "
                    "defaults. A repo config may only tighten (docs/security.md): a looser value is refused "
                    "with a note, unless config.toml marks the project trusted. See docs/configuration.md.",
        epilog="examples:\n  codex-orchestrator config show\n  codex-orchestrator config show --format json",
    )
    actions = p.add_subparsers(title="actions", metavar="ACTION")
    show = actions.add_parser("show", help="print every effective value with its source",
                              formatter_class=argparse.RawDescriptionHelpFormatter,
                              epilog="examples:\n  codex-orchestrator config show\n"
                                     "  codex-orchestrator config show --format json\n"
                                     "  codex-orchestrator config show -p ci -c approval_policy=never")
    show.add_argument("--format", choices=("text", "json"), default="text")
    show.add_argument("--approval-policy", "-a", dest="approval_policy", help=argparse.SUPPRESS)
    show.add_argument("--sandbox", "-s", dest="sandbox", help=argparse.SUPPRESS)
    from .common import add_codex_options

    add_codex_options(show, policy=False)
    show.set_defaults(handler=run_show)
    p.set_defaults(handler=lambda args: _usage(p))


def run_show(args: argparse.Namespace) -> int:
    from ..redact import redact_tree
    from .common import load_config

    config = load_config(args)
    observed = _observed(config)
    rows = [{"key": s.key, "value": redact_tree(s.value), "source": s.source, **({"note": s.note} if s.note else {})}
            for s in config.settings.values()]
    if args.format == "json":
        print(json.dumps({
            "repo_root": str(config.repo_root),
            "repo_config": str(config.repo_config_path) if config.repo_config_path else None,
            "codex_config": str(config.codex_config_path),
            "project_trusted": config.project_trusted,
            "profile": config.profile,
            "project_codex_config": str(config.project_config_path) if config.project_config_path else None,
            "layers": config.layers,
            "home_config": str(config.home_config_path),
            **observed,
            "settings": rows,
        }, indent=2))
        return 0
    print(f"repo root:    {config.repo_root}")
    print(f"repo config:  {config.repo_config_path or '(none)'}")
    print(f"codex config: {config.codex_config_path}{'' if config.codex_config_path.is_file() else ' (absent)'}")
    trust = "trusted in config.toml: its repo config may loosen" if config.project_trusted else \
        "not trusted: its repo config may only tighten"
    print(f"project:      {trust}")
    print(f"profile:      {config.profile or '(none)'}"
          + (f" ({config.codex_home / (config.profile + '.config.toml')})" if config.profile else ""))
    if config.project_config_path:
        print(f"project codex config: {config.project_config_path}")
    print(f"telemetry:    {observed['telemetry']['reason']}"
          + (f" (from {observed['telemetry']['source']})" if observed["telemetry"]["source"] else ""))
    notes = observed["notifications"]
    targets = ([f"notify {notes['notify'][0]}"] if notes["notify"] else []) + \
        [f"webhook {hook['url']} ({', '.join(hook['events'])})" for hook in notes["webhooks"]]
    print(f"notifications: {'; '.join(targets) if targets else 'none'}")
    width = max(len(row["key"]) for row in rows)
    for row in rows:
        value = json.dumps(row["value"])
        print(f"  {row['key']:<{width}}  {value:<24} {row['source']}")
        if "note" in row:
            print(f"  {'':<{width}}  note: {row['note']}")
    return 0


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _observed(config: Any) -> dict[str, Any]:
    """What is really in force: telemetry on or off and why, and the notification targets (no secrets)."""
    import os

    from ..notify.deliver import EVENTS, display_target
    from ..redact import redact_argv
    from ..telemetry.settings import resolve

    hooks = [{"url": display_target(hook["url"])[len("webhook:"):], "events": list(hook.get("events", EVENTS)),
              "signed": bool(hook.get("secret")), "timeout_seconds": hook.get("timeout_seconds", 5)}
             for hook in config.get("notifications.webhooks")]
    return {"telemetry": resolve(config, os.environ).describe(),
            "notifications": {"notify": redact_argv(list(config.get("notify"))), "webhooks": hooks}}
