"""Options and plumbing shared by the commands that run things (start, resume, exec)."""

from __future__ import annotations

import argparse
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config.keys import APPROVAL_POLICIES, SANDBOX_MODES

if TYPE_CHECKING:  # pragma: no cover
    from ..config import Config
    from ..exec.cancel import CancelToken


def add_policy_options(parser: argparse.ArgumentParser, *, channel: bool = True) -> None:
    """`-a`, `-s`, `--full-auto` and, where a person may answer on this process's stdin or terminal,
    `--approvals` (`mcp serve` asks its client instead)."""
    group = parser.add_argument_group("approvals and sandbox")
    group.add_argument("--approval-policy", "-a", choices=APPROVAL_POLICIES, metavar="POLICY",
                       help="untrusted | on-failure | on-request | never (default from config: on-request)")
    group.add_argument("--sandbox", "-s", choices=SANDBOX_MODES, metavar="MODE",
                       help="read-only | workspace-write | danger-full-access (default from config: workspace-write)")
    group.add_argument("--full-auto", action="store_true",
                       help="shorthand for --sandbox workspace-write --approval-policy on-request")
    if not channel:
        return
    group.add_argument("--approvals", choices=("stdin", "tty", "none"),
                       help="where approval answers come from: stdin (JSON approval:response lines, for SDKs), "
                            "tty (a prompt; the default on a terminal) or none (fail closed)")


def add_codex_options(parser: argparse.ArgumentParser, *, policy: bool = True) -> None:
    """The Codex CLI's config flags, with its meaning (docs/cli.md): `-p`, `-c`, `-C`, `--add-dir` and,
    where a command runs things, `--dangerously-bypass-approvals-and-sandbox`."""
    group = parser.add_argument_group("Codex configuration flags")
    group.add_argument("-p", "--profile", metavar="NAME",
                       help="layer $CODEX_HOME/NAME.config.toml on top of $CODEX_HOME/config.toml")
    group.add_argument("-c", "--config", dest="config_overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override one setting with a dotted key; VALUE is TOML, else a literal string "
                            "(repeatable), e.g. -c sandbox_mode='\"read-only\"'")
    group.add_argument("-C", "--cd", metavar="DIR", help="run as if started in DIR")
    if policy:
        group.add_argument("--add-dir", dest="add_dirs", action="append", default=[], metavar="DIR",
                           help="another directory a command may write, besides the workspace (repeatable)")
        group.add_argument("--dangerously-bypass-approvals-and-sandbox", dest="bypass", action="store_true",
                           help="run every command without asking and without the sandbox (approval_policy "
                                "never, sandbox danger-full-access); only inside a sandbox of your own")
def add_telemetry_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("telemetry")
    group.add_argument("--otel-endpoint", metavar="URL",
                       help="export traces and metrics as OTLP/HTTP protobuf to this collector (e.g. "
                            "http://localhost:4318); default: OTEL_EXPORTER_OTLP_ENDPOINT or [otel] in your "
                            "config.toml; never from the repo (docs/telemetry.md)")


def observers(args: argparse.Namespace, config: Config) -> Any:
    """Telemetry and notifications for this command (None when neither is configured)."""
    from ..observe import build

    return build(config, otel_endpoint=getattr(args, "otel_endpoint", None))


def seconds(text: str) -> float:
    """argparse `type=` for a duration: a finite number > 0 (`inf`, `nan`, `0` and negatives are refused)."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number of seconds greater than 0, got {text!r}")
    return value


def output_format(explicit: str | None) -> str:
    """One rule for `start`, `resume` and `exec` (docs/cli.md): an explicit --format/--jsonl/--json wins;
    otherwise the live text view on a terminal and under CI=true (people read CI logs); otherwise JSONL,
    for the program reading our stdout."""
    import sys

    if explicit:
        return explicit
    if sys.stdout.isatty() or os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        return "text"
    return "jsonl"


def add_task_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", help="task id (default: $MCP_RUNNER_TASK_ID, else the configured default_task)")


BYPASS_WARNING = ("codex-orchestrator: warning: --dangerously-bypass-approvals-and-sandbox: commands run "
                  "without approval and without the sandbox")


def add_parent_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--parent-run", metavar="RUN_ID",
                        help="link this run to a parent run of this repository (any task): recorded in the "
                             "manifest, run:start and status; `status --tree` shows the family")


def add_target_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", "--target-stage", dest="target", metavar="STAGE_ID",
                        help="only the pipeline's stages up to and including this one")


def config_flags(args: argparse.Namespace) -> dict[str, Any]:
    flags: dict[str, Any] = {}
    if getattr(args, "bypass", False):
        from ..errors import UsageError

        clash = [name for name, on in (("--approval-policy", getattr(args, "approval_policy", None)),
                                       ("--sandbox", getattr(args, "sandbox", None)),
                                       ("--full-auto", getattr(args, "full_auto", False))) if on]
        if clash:
            raise UsageError(f"--dangerously-bypass-approvals-and-sandbox cannot be combined with {clash[0]}")
        return {"approval_policy": "never", "sandbox_mode": "danger-full-access"}
    if getattr(args, "full_auto", False):
        flags["sandbox_mode"] = "workspace-write"
        flags["approval_policy"] = "on-request"
    if getattr(args, "approval_policy", None):
        flags["approval_policy"] = args.approval_policy
    if getattr(args, "sandbox", None):
        flags["sandbox_mode"] = args.sandbox
    return flags


def load_config(args: argparse.Namespace, cwd: Path | None = None) -> Config:
    """The configuration for this command line: flags, `-p`, `-c` and `--add-dir` included."""
    import sys

    from ..config import load_config as resolve

    flags = config_flags(args)
    config = resolve(cwd, flags, profile=getattr(args, "profile", None),
                     overrides=list(getattr(args, "config_overrides", None) or ()))
    if getattr(args, "bypass", False):
        config.bypass = True
        print(BYPASS_WARNING, file=sys.stderr)
    add_dirs = list(getattr(args, "add_dirs", None) or ())
    if add_dirs:
        _add_dirs(config, add_dirs, cwd or Path.cwd())
    return config


def _add_dirs(config: Config, dirs: list[str], cwd: Path) -> None:
    """`--add-dir`: more writable roots on top of the configured ones (Codex's meaning), at the flag layer."""
    from ..config import Setting
    from ..errors import UsageError

    key = "sandbox_workspace_write.writable_roots"
    current = config.settings[key]
    added = []
    for item in dirs:
        path = (cwd / item).resolve()
        if not path.is_dir():
            raise UsageError(f"--add-dir {item}: not a directory")
        added.append(str(path))
    config.settings[key] = Setting(key, [*current.value, *added], "flag:--add-dir",
                                   f"{current.source} plus --add-dir" if current.value else None)


def task_id(args: argparse.Namespace, config: Config) -> str:
    from ..runs.ids import resolve_task_id

    return resolve_task_id(getattr(args, "task", None), dict(os.environ), config.get("default_task"))


def install_signal_handlers(token: CancelToken) -> Callable[[], None]:
    """SIGINT/SIGTERM cancel the run (the stage's process group is stopped, records are written).

    A second signal while cancelling is ignored: the cleanup is short and bounded.
    Returns a function that restores the previous handlers.
    """

    def handler(signum: int, frame: Any) -> None:
        if not token.cancelled:
            token.cancel(signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore
