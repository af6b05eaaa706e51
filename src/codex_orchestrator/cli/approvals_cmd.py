"""`approvals list|revoke|clear`: look at and take back "approved always" answers."""

from __future__ import annotations

import argparse

DESCRIPTION = """\
Approvals answered "approved always" are kept in $CODEX_ORCHESTRATOR_HOME/approvals.json
(default ~/.codex-orchestrator/approvals.json) and reused by later runs for the same
command, working directory and sandbox escalation. Approvals "for this session" and
"once" are never stored. See docs/approvals.md."""

EPILOG = """\
examples:
  codex-orchestrator approvals list                  what is approved, for which directory
  codex-orchestrator approvals list --format json    the same, for scripts
  codex-orchestrator approvals revoke apr_0123456789ab
  codex-orchestrator approvals clear --yes           forget every stored approval"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "approvals", help="list or revoke stored approvals", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = p.add_subparsers(title="actions", metavar="ACTION", dest="approvals_action")
    listing = actions.add_parser("list", help="show stored approvals", description="Show stored approvals, "
                                 "oldest first: id, when, whether it runs outside the sandbox, cwd, command.",
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="examples:\n  codex-orchestrator approvals list\n"
                                        "  codex-orchestrator approvals list --format json")
    listing.add_argument("--format", choices=("text", "json"), default="text")
    revoke = actions.add_parser("revoke", help="forget one stored approval",
                                description="Forget one stored approval; that command is asked about again.",
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="example:\n  codex-orchestrator approvals revoke apr_3f2a9c0d1b7e")
    revoke.add_argument("id", metavar="ID", help="an approval id from `approvals list` (apr_...)")
    clear = actions.add_parser("clear", help="forget every stored approval",
                               description="Forget every stored approval and print how many were removed. "
                                           "On a terminal it asks first unless --yes is given; elsewhere it "
                                           "just clears (taking permissions away needs no confirmation).",
                               formatter_class=argparse.RawDescriptionHelpFormatter,
                               epilog="example:\n  codex-orchestrator approvals clear --yes")
    clear.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p.set_defaults(handler=run, approvals_help=p.format_help)


def run(args: argparse.Namespace) -> int:
    import json
    import shlex
    import sys

    from ..errors import NotFoundError
    from ..tools.approvals.store import ApprovalStore, record_to_json

    action = getattr(args, "approvals_action", None)
    if action is None:
        print(args.approvals_help(), end="")
        return 2
    store = ApprovalStore.default()
    if action == "list":
        records = store.list()
        if args.format == "json":
            print(json.dumps({"path": str(store.path), "approvals": [record_to_json(r) for r in records]},
                             indent=2, ensure_ascii=False))
        elif not records:
            print(f"no stored approvals ({store.path})")
        else:
            for r in records:
                where = "outside the sandbox" if r.escalated else "sandboxed"
                print(f"{r.id}  {r.created_at}  {where:<19}  {r.cwd}\n    {shlex.join(r.command)}")
        return 0
    if action == "revoke":
        if not store.revoke(args.id):
            raise NotFoundError(f"no stored approval {args.id!r} (see `codex-orchestrator approvals list`)")
        print(f"revoked {args.id}")
        return 0
    # clear
    count = len(store.list())
    if count and not args.yes and sys.stdin is not None and sys.stdin.isatty():
        answer = input(f"forget {count} stored approval{'s' if count != 1 else ''}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing removed")
            return 1
    removed = store.clear()
    print(f"removed {removed} stored approval{'s' if removed != 1 else ''}")
    return 0
