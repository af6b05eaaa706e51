"""`exec -- CMD [ARGS...]`: one command through the ToolOrchestrator, as a JSONL stream for SDKs and CI."""

from __future__ import annotations

import argparse
import json
import signal as signals
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .._lazyre import LazyPattern
from .common import (
    add_codex_options,
    add_parent_option,
    add_policy_options,
    add_task_option,
    add_telemetry_options,
    seconds,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..api.exec import OutputSchema
    from ..events.bus import Subscriber
    from ..exec.cancel import CancelToken

EPILOG = """\
output modes (--format, or --jsonl / --json):
  jsonl    every event as one JSON line (the default when stdout is not a terminal and CI is not set)
  codex    the stream in `codex exec --json`'s dialect: thread.started, turn.started, item.started/
           item.completed (command_execution), turn.completed/turn.failed (--json, as in Codex)
  summary  one final JSON summary (the run:summary payload; `--format json` is its old name)
  text     live output and a final status line (the default on a terminal and under CI=true)

examples:
  codex-orchestrator exec -- pytest -q
  codex-orchestrator exec -- 'cd web && npm test'     (one argument with spaces: a shell command line)
  codex-orchestrator exec --jsonl --sandbox read-only -- git status
  codex-orchestrator exec --json -- npm test          (Codex's JSONL, for tools built for `codex exec --json`)
  codex-orchestrator exec --format summary --output-schema schema.json -- ./report.py
  codex-orchestrator exec -p ci -c sandbox_workspace_write.network_access=true -- npm ci
  codex-orchestrator exec --otel-endpoint http://localhost:4318 -- make test
  codex-orchestrator exec --parent-run "$CODEX_ORCHESTRATOR_RUN_ID" -- make docs   (from inside a stage)
  echo '{"type":"approval:response","requestId":"...","decision":"approved"}' | \\
      codex-orchestrator exec --approvals stdin --approval-policy on-failure -- ./deploy.sh

exit codes: the command's own (128+N when it died of signal N); 2 bad input;
65 stdout does not match --output-schema; 71 sandbox unavailable; 77 not approved;
124 timed out; 130/143 cancelled by SIGINT/SIGTERM (docs/cli.md)."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "exec", help="run one command with approvals, sandbox and JSONL events",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        usage="%(prog)s [options] -- CMD [ARGS...]",
        description="Run one command through the ToolOrchestrator: approval policy, OS sandbox, live "
                    "exec:chunk events (at most 8 KiB each), a manifest and a run:summary.",
    )
    mode = p.add_argument_group("output")
    mode.add_argument("--format", choices=("text", "jsonl", "codex", "summary", "json"), default=None,
                      help="text: live view; jsonl: every event as it happens; codex: Codex's `exec --json` "
                           "events; summary (or json, its old name): one final summary "
                           "(default: text on a terminal or under CI=true, else jsonl)")
    mode.add_argument("--jsonl", action="store_true", help="the same as --format jsonl")
    mode.add_argument("--json", action="store_true",
                      help="the same as --format codex: a JSONL stream as `codex exec --json` prints")
    add_task_option(p)
    p.add_argument("--cwd", type=Path, help="working directory (default: the current one, or -C DIR)")
    p.add_argument("--env", action="append", default=[], metavar="K=V", help="set a variable (repeatable)")
    p.add_argument("--timeout", type=seconds, help="seconds before the command's process group is stopped")
    p.add_argument("--session", metavar="ID", help="run in the PTY session ID (created on first use)")
    p.add_argument("--pty", action=argparse.BooleanOptionalAction, default=None,
                   help="run in a pseudo-terminal (stdout and stderr arrive merged as one `pty` stream)")
    p.add_argument("--output-schema", type=Path, metavar="FILE",
                   help="stdout must be JSON valid against this JSON Schema; it goes to outputs.structured")
    p.add_argument("--escalate", action="store_true", help="ask to run outside the sandbox (needs approval)")
    p.add_argument("--justification", help="why --escalate is needed (shown in the approval request)")
    add_parent_option(p)
    add_policy_options(p)
    add_codex_options(p)
    add_telemetry_options(p)
    p.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
    p.set_defaults(handler=run)


_ENV_NAME = LazyPattern(r"[A-Za-z_][A-Za-z0-9_]*")


def _parse_env(items: list[str]) -> dict[str, str]:
    from ..errors import UsageError

    env: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not _ENV_NAME.fullmatch(name):
            raise UsageError(f"--env {item!r}: expected NAME=VALUE with a valid variable name")
        env[name] = value
    return env


def run(args: argparse.Namespace) -> int:
    from ..errors import UsageError

    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise UsageError("exec needs a command after `--`, e.g. `codex-orchestrator exec -- make test`")
    shell_line: str | None = None
    if len(command) == 1 and any(c.isspace() for c in command[0]):
        shell_line = command[0]  # one quoted argument with spaces is a shell command line: `exec -- 'a && b'`
    explicit = "summary" if args.format == "json" else args.format  # `--format json`: the summary's old name
    chosen = {name for name, on in (("jsonl", args.jsonl), ("codex", args.json), (explicit, bool(explicit)))
              if on}
    if len(chosen) > 1:
        raise UsageError(f"--{' and --'.join(sorted(chosen))} are different output modes; choose one")
    if args.session is not None and args.pty is False:
        raise UsageError("--session runs in a PTY session; it cannot be combined with --no-pty")
    env = _parse_env(args.env)
    from ..api.exec import OutputSchema

    validator = OutputSchema.load(args.output_schema, "--output-schema") if args.output_schema else None
    cwd = (args.cwd or Path.cwd()).resolve()
    if not cwd.is_dir():
        raise UsageError(f"--cwd {args.cwd}: not a directory")
    from .common import output_format

    fmt = output_format("jsonl" if args.jsonl else "codex" if args.json else explicit)
    return _run(args, shell_line if shell_line is not None else command, env, cwd, fmt, validator)


def _run(args: argparse.Namespace, command: list[str] | str, env: dict[str, str], cwd: Path, fmt: str,
         validator: OutputSchema | None) -> int:
    """Signals are handled from before anything exists on disk until everything is written: a SIGTERM in
    the first milliseconds cancels the run (a finalised manifest), never leaves a run dir without one."""
    from ..exec.cancel import CancelToken
    from .common import install_signal_handlers

    cancel = CancelToken()
    restore = install_signal_handlers(cancel)
    try:
        return _run_with(args, command, env, cwd, fmt, validator, cancel)
    finally:
        restore()


def _run_with(args: argparse.Namespace, command: list[str] | str, env: dict[str, str], cwd: Path, fmt: str,
              validator: OutputSchema | None, cancel: CancelToken) -> int:
    from ..api.exec import ExecOptions, run_exec
    from ..tools.asker import choose_asker
    from .common import load_config, observers, task_id

    config = load_config(args, cwd)
    observed = observers(args, config)
    subscribers: list[Subscriber] = []
    if fmt in ("jsonl", "codex"):
        from ..events.sinks import StdoutJsonlSink

        stream = StdoutJsonlSink(cancel=cancel, on_closed=lambda: cancel.cancel(signals.SIGPIPE))
        if fmt == "codex":
            from ..events.codex_dialect import CodexDialectSink

            subscribers.append(CodexDialectSink(stream))
        else:
            subscribers.append(stream)
    elif fmt == "text":
        from .render import HumanView

        subscribers.append(HumanView())
    options = ExecOptions(
        command=command, cwd=cwd, task_id=task_id(args, config), env=env, timeout=args.timeout,
        session=args.session, pty=bool(args.pty), escalate=args.escalate, justification=args.justification,
        output_schema=validator, parent_run_id=args.parent_run,
    )
    report = run_exec(options, config=config, cancel=cancel, asker=choose_asker(args.approvals),
                      subscribers=subscribers, observers=observed, output_format=fmt)
    if fmt == "summary":
        sys.stdout.write(json.dumps(report.summary, indent=2) + "\n")
    return report.exit_code
