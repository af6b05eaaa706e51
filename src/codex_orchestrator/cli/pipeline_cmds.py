"""`start`, `plan`, `status`, `resume` and `pipelines`."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from .common import add_policy_options, add_task_option, seconds

RAW = argparse.RawDescriptionHelpFormatter


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "start", help="run a pipeline", formatter_class=RAW,
        description="Run a pipeline's stages in order, each through the ToolOrchestrator (approvals, sandbox, "
                    "events). Without a name, runs the repo's defaultPipeline, else the built-in diagnostics.",
        epilog="examples:\n  codex-orchestrator start\n  codex-orchestrator start ci --task pr-123 --format jsonl\n"
               "\nexit codes: 0 succeeded; the failing stage's own code (124 timed out, 77 not approved); "
               "130/143 stopped by SIGINT/SIGTERM (docs/cli.md).",
    )
    p.add_argument("pipeline", nargs="?", help="pipeline id (see `codex-orchestrator pipelines`)")
    add_task_option(p)
    p.add_argument("--format", choices=("text", "json", "jsonl"), default=None,
                   help="text: live view (default on a terminal); jsonl: every event as it happens "
                        "(default when stdout is not a terminal); json: one final summary")
    add_policy_options(p)
    p.set_defaults(handler=run_start)

    p = sub.add_parser("plan", help="show a pipeline's stages without running anything", formatter_class=RAW,
                       description="Print the stages `start` would run, with their commands, cwd and options.",
                       epilog="examples:\n  codex-orchestrator plan\n  codex-orchestrator plan ci --format json")
    p.add_argument("pipeline", nargs="?", help="pipeline id")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(handler=run_plan)

    p = sub.add_parser(
        "status", help="show a run's status", formatter_class=RAW,
        description="Show the status of a run from its manifest. A run whose process died is reported as "
                    "`interrupted`, never as running.",
        epilog="examples:\n  codex-orchestrator status --run 2026-11-23T19-59-45-401Z-3d499af8\n"
               "  codex-orchestrator status --task pr-123 --watch --interval 1",
    )
    p.add_argument("--run", help="run id (default: the task's latest run)")
    add_task_option(p)
    p.add_argument("--watch", action="store_true", help="keep printing until the run ends")
    p.add_argument("--interval", type=seconds, default=2.0, help="seconds between refreshes with --watch")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(handler=run_status)

    p = sub.add_parser(
        "resume", help="continue a run from its first stage that has not succeeded", formatter_class=RAW,
        description="Re-run a failed, cancelled or interrupted run from the first stage not yet succeeded; "
                    "stages that succeeded are not run again. A resume event is recorded in the manifest. "
                    "A run that already succeeded is left alone.",
        epilog="example:\n  codex-orchestrator resume --run 2026-11-23T19-59-45-401Z-3d499af8 "
               "--token $(cat .runs/<task>/cli/<run>/.resume-token)",
    )
    p.add_argument("--run", required=True, help="run id")
    p.add_argument("--token", help="the run's resume token (from its .resume-token file); checked when given")
    add_task_option(p)
    p.add_argument("--format", choices=("text", "json", "jsonl"), default=None)
    add_policy_options(p)
    p.set_defaults(handler=run_resume)

    p = sub.add_parser("pipelines", help="list the pipelines and where they come from", formatter_class=RAW,
                       description="List every pipeline `start` can run, with its source (repo config or builtin).",
                       epilog="examples:\n  codex-orchestrator pipelines\n  codex-orchestrator pipelines --format json")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(handler=run_pipelines)


# ---------------------------------------------------------------------- start / resume


def _output_format(args: argparse.Namespace) -> str:
    from .common import output_format

    return output_format(args.format)


def _make_runner(args: argparse.Namespace, fmt: str) -> Any:
    import signal

    from ..api.pipeline import make_runner
    from ..exec.cancel import CancelToken
    from ..tools.asker import choose_asker
    from .common import load_config, task_id

    config = load_config(args)
    cancel = CancelToken()
    stream: Any = None
    if fmt == "jsonl":
        from ..events.sinks import StdoutJsonlSink

        stream = StdoutJsonlSink(cancel=cancel, on_closed=lambda: cancel.cancel(signal.SIGPIPE))
    elif fmt == "text":
        from .render import HumanView

        stream = HumanView()
    return make_runner(config, task_id=task_id(args, config), cancel=cancel, asker=choose_asker(args.approvals),
                       stream=stream)


def _finish(outcome: Any, fmt: str) -> int:
    if fmt == "json":
        from .._files import read_json

        print(json.dumps(read_json(outcome.run.paths.run_summary), indent=2))
    code: int = outcome.exit_code
    return code


def run_start(args: argparse.Namespace) -> int:
    from ..api.pipeline import run_pipeline
    from .common import install_signal_handlers

    fmt = _output_format(args)
    runner = _make_runner(args, fmt)
    runner.registry.get(args.pipeline)  # an unknown pipeline is a usage error before any signal handling
    restore = install_signal_handlers(runner.cancel)
    try:
        outcome = run_pipeline(runner, args.pipeline)
    finally:
        restore()
    return _finish(outcome, fmt)


def run_resume(args: argparse.Namespace) -> int:
    from ..api.pipeline import open_for_resume, resume_run
    from .common import install_signal_handlers

    fmt = _output_format(args)
    runner = _make_runner(args, fmt)
    resumable = open_for_resume(runner.config, args.run, args.task, args.token)
    if resumable.lock is None:
        print(f"run {args.run} already succeeded; nothing to resume", file=sys.stderr)
        return 0
    restore = install_signal_handlers(runner.cancel)
    try:
        outcome = resume_run(runner, resumable)
    finally:
        restore()
    return _finish(outcome, fmt)


# ---------------------------------------------------------------------- plan / pipelines


def _stage_dict(stage: Any) -> dict[str, Any]:
    from .._record import asdict
    from ..redact import redact_env

    data = asdict(stage)
    if data.get("env"):
        data["env"] = redact_env(data["env"])  # a stage's env may carry a token: never echo it
    return {k: v for k, v in data.items() if v not in (None, {}, (), [], False) or k in ("id", "kind")}


def run_plan(args: argparse.Namespace) -> int:
    from ..pipelines.model import SubpipelineStage
    from ..pipelines.registry import Registry
    from .common import load_config

    config = load_config(args)
    registry = Registry.load(config)
    pipeline = registry.get(args.pipeline)
    if args.format == "json":
        print(json.dumps({"id": pipeline.id, "title": pipeline.title, "source": pipeline.source,
                          "stages": [_stage_dict(s) for s in pipeline.stages]}, indent=2))
        return 0
    print(f"{pipeline.id}: {pipeline.title}  ({pipeline.source})")
    for index, stage in enumerate(pipeline.stages, start=1):
        if isinstance(stage, SubpipelineStage):
            optional = " (optional)" if stage.optional else ""
            print(f"  {index}. {stage.id}: subpipeline {stage.pipeline}{optional}")
            continue
        extras = []
        if stage.cwd:
            extras.append(f"cwd={stage.cwd}")
        if stage.allow_failure:
            extras.append("allowFailure")
        if stage.timeout:
            extras.append(f"timeout={stage.timeout:g}s")
        if stage.session:
            extras.append(f"session={stage.session.id}")
        if stage.env:
            from ..redact import redact_env

            extras.extend(f"{name}={value}" for name, value in redact_env(stage.env).items())
        suffix = f"  [{', '.join(extras)}]" if extras else ""
        print(f"  {index}. {stage.id}: {stage.command}{suffix}")
    print("(nothing was run)")
    return 0


def run_pipelines(args: argparse.Namespace) -> int:
    from ..pipelines.registry import Registry
    from .common import load_config

    config = load_config(args)
    registry = Registry.load(config)
    rows: list[dict[str, Any]] = [{"id": p.id, "title": p.title, "source": p.source, "stages": len(p.stages),
             "default": p.id == registry.default_id} for p in registry.pipelines.values()]
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(row["id"]) for row in rows)
    for row in rows:
        mark = "*" if row["default"] else " "
        print(f"{mark} {row['id']:<{width}}  {row['stages']:>2} stages  {row['title']}  ({row['source']})")
    return 0


# ---------------------------------------------------------------------- status


def _print_status(view: dict[str, Any]) -> None:
    pipeline = f"{view['pipeline']}, " if view["pipeline"] else ""
    print(f"run {view['run_id']} ({pipeline}task {view['task_id']}): {view['status']}")
    if view["status_detail"]:
        print(f"  {view['status_detail']}")
    for stage in view["stages"]:
        print(f"  - {stage['id']}: {stage['summary'] or stage['status']}")


def run_status(args: argparse.Namespace) -> int:
    from ..api.pipeline import status_view
    from ..runs.store import RunStore
    from .common import load_config, task_id

    config = load_config(args)
    store = RunStore(config.repo_root)
    paths = store.find(args.run, args.task) if args.run else store.latest(task_id(args, config))
    last = None
    while True:
        view = status_view(paths)
        # What changes at every heartbeat is not news: --watch prints again only when something else did.
        shown = {k: v for k, v in view.items() if k not in ("heartbeat_at", "updated_at")}
        if shown != last:
            if args.format == "json":
                print(json.dumps(view, indent=None if args.watch else 2), flush=True)
            else:
                _print_status(view)
                sys.stdout.flush()
        last = shown
        if view["status"] == "damaged":
            from ..errors import EXIT_DATA

            return EXIT_DATA
        if not args.watch or view["status"] not in ("queued", "in_progress"):
            return 0
        try:
            time.sleep(args.interval)
        except KeyboardInterrupt:
            return 130
