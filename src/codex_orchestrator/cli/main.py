"""`codex-orchestrator` / `codex-orch`: the entry point.

Only argparse and the command modules' `register` functions load at start-up;
each command imports what it needs when it runs. Every OrchestratorError
becomes one line on stderr and its documented exit code, never a traceback.
"""

from __future__ import annotations

import sys

from .. import __version__
from ..errors import EXIT_INTERNAL, EXIT_USAGE, OrchestratorError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy knows the name)
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

DESCRIPTION = """\
Run the commands of coding-agent work through one autonomy layer: your approval
policy (and approvals you already gave), a real OS sandbox, live JSONL events,
and an auditable manifest per run under .runs/<task>/cli/<run-id>/."""

EPILOG = """\
examples:
  codex-orchestrator start                    run the default pipeline (diagnostics if none is configured)
  codex-orchestrator plan                     show the stages without running anything
  codex-orchestrator exec --jsonl -- make test
  codex-orchestrator status --run RUN_ID --watch
  codex-orchestrator config show              every effective setting and where it came from
  codex-orchestrator sandbox check            what the sandbox can enforce on this machine

exit codes: a command's own exit code is passed through; 2 bad input or config,
66 not found, 70 internal error, 71 sandbox unavailable, 77 not approved,
130/143 stopped by SIGINT/SIGTERM. See docs/cli.md."""


def build_parser() -> argparse.ArgumentParser:
    import argparse

    from . import approvals_cmd, config_cmd, exec_cmd, instructions_cmd, pipeline_cmds, sandbox_cmd

    parser = argparse.ArgumentParser(
        prog="codex-orchestrator", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"codex-orchestrator {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    pipeline_cmds.register(sub)
    exec_cmd.register(sub)
    config_cmd.register(sub)
    approvals_cmd.register(sub)
    sandbox_cmd.register(sub)
    instructions_cmd.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list in (["--version"], ["-V"]):  # the fast path: no command modules load
        print(f"codex-orchestrator {__version__}")
        return 0
    parser = build_parser()
    args = parser.parse_args(args_list)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        code: int = handler(args)
        return code
    except OrchestratorError as exc:
        print(f"codex-orchestrator: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("codex-orchestrator: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 141
    except Exception as exc:  # a bug: say so in one line; the traceback only on request
        import os

        if os.environ.get("CODEX_ORCHESTRATOR_DEBUG"):
            raise
        print(f"codex-orchestrator: internal error: {type(exc).__name__}: {exc} "
              "(set CODEX_ORCHESTRATOR_DEBUG=1 for a traceback)", file=sys.stderr)
        return EXIT_INTERNAL


def entry() -> None:
    """Console-script entry: run, flush, and leave without interpreter teardown.

    Every file the run writes is closed and renamed into place before `main`
    returns, so skipping the finalizer loses nothing and saves ~20 ms per call.
    """
    import os

    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        code = code or 141
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    entry()
