"""`mcp serve`: the orchestrator as an MCP server on stdin/stdout, e.g. for `codex mcp add` (docs/codex.md)."""

from __future__ import annotations

import argparse

from .common import add_codex_options, add_policy_options

EPILOG = """\
tools: exec_command, write_stdin (the same input as Codex's own unified-exec tools), list_sessions,
close_session, run_pipeline, run_status. Every command is one run under .runs/<task>/cli/ with your
approval policy and sandbox; approvals that need a person are asked through MCP elicitation, and
refused when the client cannot ask (docs/codex.md, docs/security.md).

examples:
  codex mcp add orchestrator -- codex-orchestrator mcp serve
  codex mcp add orchestrator -- codex-orchestrator mcp serve --task agent --approval-policy untrusted
  codex-orchestrator mcp serve --sandbox read-only      (a client on stdin/stdout)

exit codes: 0 when the client closes the connection; 130/143 on SIGINT/SIGTERM; 2 bad usage."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "mcp", help="serve the orchestrator to MCP clients (Codex and others)",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Model Context Protocol server: an agent's commands run through your approval policy, "
                    "the sandbox and the run records.",
    )
    actions = p.add_subparsers(title="actions", metavar="ACTION", required=True)
    serve = actions.add_parser(
        "serve", help="speak MCP on stdin/stdout (stdio transport)",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Serve MCP on stdin/stdout until the client closes it. Every tool call that runs a command "
                    "is recorded as a run of --task (default: mcp).",
    )
    serve.add_argument("--task", default=None, help="task the runs are recorded under (default: mcp)")
    serve.add_argument("--cwd", help="the workspace: commands run in it or below it (default: the current directory)")
    add_policy_options(serve, channel=False)  # approvals go to the MCP client (elicitation)
    add_codex_options(serve)
    serve.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import asyncio
    import os
    from pathlib import Path

    from .. import __version__
    from ..errors import UsageError
    from ..mcp_server.service import McpService
    from ..runs.ids import validate_task_id
    from .common import _add_dirs, load_config

    workspace = Path(os.path.realpath(args.cwd or os.getcwd()))
    if not workspace.is_dir():
        raise UsageError(f"--cwd {args.cwd}: not a directory")
    task_id = validate_task_id(args.task or "mcp")
    config = load_config(args, workspace)
    # A command may run in any folder of the workspace and still write all of it, as in Codex (whose
    # writable root is the session's folder, not the command's workdir).
    _add_dirs(config, [str(workspace)], workspace)
    service = McpService(config, workspace=workspace, task_id=task_id, env=dict(os.environ))
    try:
        import mcp  # noqa: F401  (a clear message, not a traceback, when the SDK is missing)
    except ImportError:
        raise UsageError("the `mcp` package is not installed: pip install 'mcp>=2.3,<3'") from None
    # Not asyncio.run: on a signal we stop without waiting for the SDK's stdin reader, a worker thread blocked
    # in read() that nothing can cancel; the runs are closed and recorded below, and the process exits.
    loop = asyncio.new_event_loop()
    signum = 0
    from ..runs import views
    from ..sandbox import warm

    views.defer()  # tool calls answer before their lines in state.json/metrics.json are written (views.py)
    warm.enable()  # sandboxed tool calls find their sandbox built ahead of need (sandbox/warm.py)
    try:
        signum = loop.run_until_complete(_serve(service, __version__))
    finally:
        service.close(signum)
        views.flush()
    return 128 + signum if signum else 0


async def _serve(service: object, version: str) -> int:
    """Serve until the client closes stdin (0) or SIGINT/SIGTERM arrives (the signal's number)."""
    import asyncio
    import signal

    from ..mcp_server.server import serve_stdio

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    received: list[int] = []

    def on_signal(signum: int) -> None:
        received.append(signum)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    serving = asyncio.ensure_future(serve_stdio(service, version))  # type: ignore[arg-type]
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if received:
        return received[0]
    stopping.cancel()
    serving.result()  # the client closed the connection; an error of the SDK is raised here
    return 0
