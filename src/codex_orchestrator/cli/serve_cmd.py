"""`serve --stdio`: keep one orchestrator alive and take JSON-RPC requests on stdin (docs/serve.md)."""

from __future__ import annotations

import argparse

EPILOG = """\
The protocol: JSON-RPC 2.0, one object per line, on stdin/stdout (docs/serve.md).
Methods: initialize, exec, session/open|run|write|poll|close|list, run/start|status|resume|cancel,
shutdown; notifications `event` and requests `approval/request` go to the client.

example:
  printf '%s\\n' '{"jsonrpc":"2.0","id":1,"method":"exec","params":{"command":["echo","hi"]}}' \\
      | codex-orchestrator serve --stdio

exit codes: 0 at the end of input or after `shutdown`; 130/143 on SIGINT/SIGTERM; 2 bad usage."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "serve", help="a long-lived orchestrator for SDKs: JSON-RPC on stdin/stdout",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Serve JSON-RPC requests on stdin/stdout: every call runs with approvals (answered by the "
                    "client), the sandbox, events and a manifest, as the CLI's would, without a process start.",
    )
    p.add_argument("--stdio", action="store_true", required=True, help="speak JSON-RPC on stdin/stdout (required)")
    p.add_argument("--cwd", help="the directory calls run in by default (default: the current one)")
    from .common import add_telemetry_options

    add_telemetry_options(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from ..errors import UsageError
    from ..server.rpc import stdio
    from ..server.server import Server

    cwd = Path(args.cwd or os.getcwd()).resolve()
    if not cwd.is_dir():
        raise UsageError(f"--cwd {args.cwd}: not a directory")
    from ..config import load_config
    from .common import observers

    observed = observers(args, load_config(cwd))  # telemetry and notifications for every call's run
    reader, writer = stdio()
    return Server(reader, writer, cwd=cwd, env=dict(os.environ), observers=observed).serve()
