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
    from typing import NoReturn

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
  codex-orchestrator serve --stdio            a long-lived JSON-RPC server for SDKs (docs/serve.md)
  codex-orchestrator metrics --since 7d       approval reuse, tool latency P50/P95, JSONL adoption
  codex mcp add orchestrator -- codex-orchestrator mcp serve   Codex runs its commands through us

exit codes: a command's own exit code is passed through; 2 bad input or config,
66 not found, 70 internal error, 71 sandbox unavailable, 75 run busy, 77 not approved,
124 timed out, 130/143 stopped by SIGINT/SIGTERM. See docs/cli.md."""


# Which module registers each command. Only the module of the command being run is
# loaded and registered (argparse spends ~10 ms building all of them here); the full
# parser is built for `--help`, for no command, and for an unknown one.
COMMAND_MODULES = {
    "start": "pipeline_cmds", "plan": "pipeline_cmds", "status": "pipeline_cmds", "resume": "pipeline_cmds",
    "pipelines": "pipeline_cmds", "exec": "exec_cmd", "config": "config_cmd", "approvals": "approvals_cmd",
    "sandbox": "sandbox_cmd", "instructions": "instructions_cmd", "serve": "serve_cmd", "metrics": "metrics_cmd",
    "mcp": "mcp_cmd",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The CLI parser; with `command`, only that command is registered."""
    import argparse
    from importlib import import_module
    from typing import cast

    # argparse asks gettext to translate every help string as it is added, and gettext imports
    # `locale` (~1.5 ms) to look for catalogues that CPython does not ship for argparse.
    argparse._ = lambda message: message  # type: ignore[attr-defined]
    argparse.ngettext = lambda singular, plural, n: singular if n == 1 else plural  # type: ignore[attr-defined]

    class Parser(argparse.ArgumentParser):
        def _get_formatter(self) -> argparse.HelpFormatter:
            # argparse imports shutil (and its compression modules, ~3 ms) to learn the
            # terminal width, even when no help is printed; os gives the same answer.
            return self.formatter_class(prog=self.prog, width=_terminal_width())  # type: ignore[call-arg]

        def error(self, message: str) -> NoReturn:
            """The usage of the command at fault (not the whole CLI's), and a "did you mean" when a
            command, choice or flag is one typo away from a real one. Exit 2."""
            at_fault = _subcommand_parser(self, command) or self
            at_fault.print_usage(sys.stderr)
            at_fault.exit(EXIT_USAGE, f"{at_fault.prog}: error: {message}{_did_you_mean(message, at_fault)}\n")

    parser = Parser(
        prog="codex-orchestrator", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"codex-orchestrator {__version__}")
    sub = cast("argparse._SubParsersAction[argparse.ArgumentParser]",
               parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=Parser))
    names = [COMMAND_MODULES[command]] if command in COMMAND_MODULES else list(dict.fromkeys(COMMAND_MODULES.values()))
    for name in names:
        import_module(f".{name}", __package__).register(sub)
    return parser


def _subcommand_parser(parser: argparse.ArgumentParser, command: str | None) -> argparse.ArgumentParser | None:
    """The parser of `command` (for `config show`, of `show`), found through argparse's subparsers."""
    import argparse

    if command is None:
        return None
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            found: argparse.ArgumentParser = action.choices[command]
            words = sys.argv[2:] if len(sys.argv) > 2 else []
            for sub_action in found._actions:  # one level deeper: `config show`, `approvals list`
                if isinstance(sub_action, argparse._SubParsersAction) and words and words[0] in sub_action.choices:
                    deeper: argparse.ArgumentParser = sub_action.choices[words[0]]
                    return deeper
            return found
    return None


def _did_you_mean(message: str, parser: argparse.ArgumentParser) -> str:
    """` (did you mean 'start'?)` for a mistyped command, choice or flag; "" otherwise. Only loaded on error."""
    import difflib
    import re

    choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
    if choice:
        word, candidates = choice.group(1), re.findall(r"'([^']*)'", choice.group(2))
    else:
        unknown = re.search(r"unrecognized arguments: (\S+)", message)
        if not unknown:
            return ""
        word = unknown.group(1).split("=")[0]
        candidates = [option for action in parser._actions for option in action.option_strings]
    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _terminal_width() -> int:
    import os

    try:
        columns = int(os.environ.get("COLUMNS", "0")) or os.get_terminal_size(sys.stdout.fileno()).columns
    except (OSError, ValueError):
        columns = 80
    return max(columns - 2, 40)


def _command_of(args: list[str]) -> str | None:
    """The command being run: the first argument, when it names one."""
    return args[0] if args and args[0] in COMMAND_MODULES else None


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list in (["--version"], ["-V"]):  # the fast path: no command modules load
        print(f"codex-orchestrator {__version__}")
        return 0
    parser = build_parser(_command_of(args_list))
    args = parser.parse_args(args_list)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        if getattr(args, "cd", None):
            _change_directory(args.cd)
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


def _change_directory(path: str) -> None:
    """`-C/--cd DIR`, as in Codex: the command runs as if started in DIR."""
    import os

    from ..errors import UsageError

    try:
        os.chdir(path)
    except OSError as exc:
        raise UsageError(f"-C {path}: {exc.strerror}") from None
    os.environ["PWD"] = os.getcwd()


def entry() -> None:
    """Console-script entry: run, flush, and leave without interpreter teardown.

    Every file the run writes is closed and renamed into place before `main`
    returns, so skipping the finalizer loses nothing and saves ~20 ms per call.
    """
    import os

    code = main()
    _at_exit()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        code = code or 141
    os._exit(code)


def _at_exit() -> None:
    """What the run store registers with `atexit`, which `os._exit` skips: a server's last lines of the
    shared files and its marks (runs/views.py), this process's reserves (runs/store.py). Only if loaded."""
    views = sys.modules.get("codex_orchestrator.runs.views")
    if views is not None:
        views.close()
    store = sys.modules.get("codex_orchestrator.runs.store")
    if store is not None:
        store.drop_reserves()


if __name__ == "__main__":  # pragma: no cover
    entry()
