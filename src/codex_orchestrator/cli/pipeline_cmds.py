"""`start`, `plan`, `status`, `resume` and `pipelines`."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING, Any

from .common import (
    add_codex_options,
    add_parent_option,
    add_policy_options,
    add_target_option,
    add_task_option,
    add_telemetry_options,
    seconds,
)

RAW = argparse.RawDescriptionHelpFormatter


if TYPE_CHECKING:  # pragma: no cover (the class is not subscriptable at run time)
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]


def register(sub: Subparsers) -> None:
    _register_start(sub)
    _register_plan(sub)
    _register_status(sub)
    _register_resume(sub)
    p = sub.add_parser("pipelines", help="list the pipelines and where they come from", formatter_class=RAW,
                       description="List every pipeline `start` can run, with its source (repo config or builtin).",
                       epilog="examples:\n  codex-orchestrator pipelines\n  codex-orchestrator pipelines --format json")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(handler=run_pipelines)


def _register_start(sub: Subparsers) -> None:
    p = sub.add_parser(
        "start", help="run a pipeline", formatter_class=RAW,
        description="Run a pipeline's stages in order, each through the ToolOrchestrator (approvals, sandbox, "
                    "events). Without a name, runs the repo's defaultPipeline, else the built-in diagnostics.",
        epilog="examples:\n  codex-orchestrator start\n  codex-orchestrator start ci --task pr-123 --format jsonl\n"
               "  codex-orchestrator start ci --otel-endpoint http://localhost:4318\n"
               "  codex-orchestrator start ci --target lint      (only the stages up to `lint`)\n"
               "  codex-orchestrator start ci --parent-run \"$CODEX_ORCHESTRATOR_RUN_ID\"\n"
               "\nexit codes: 0 succeeded; the failing stage's own code (124 timed out, 77 not approved); "
               "130/143 stopped by SIGINT/SIGTERM (docs/cli.md).",
    )
    p.add_argument("pipeline", nargs="?", help="pipeline id (see `codex-orchestrator pipelines`)")
    add_task_option(p)
    p.add_argument("--format", choices=("text", "json", "jsonl"), default=None,
                   help="text: live view (default on a terminal); jsonl: every event as it happens "
                        "(default when stdout is not a terminal); json: one final summary")
    add_target_option(p)
    add_parent_option(p)
    add_policy_options(p)
    add_codex_options(p)
    add_telemetry_options(p)
    p.set_defaults(handler=run_start)


def _register_plan(sub: Subparsers) -> None:
    p = sub.add_parser("plan", help="show a pipeline's stages without running anything", formatter_class=RAW,
                       description="Print the stages `start` would run, with their commands, cwd and options, and "
                                   "the stage set each one came from.",
                       epilog="examples:\n  codex-orchestrator plan\n  codex-orchestrator plan ci --format json\n"
                              "  codex-orchestrator plan ci --target test")
    p.add_argument("pipeline", nargs="?", help="pipeline id")
    p.add_argument("--format", choices=("text", "json"), default="text")
    add_target_option(p)
    add_task_option(p)  # accepted for the reference's scripts: a plan does not depend on the task
    p.set_defaults(handler=run_plan)


def _register_status(sub: Subparsers) -> None:
    p = sub.add_parser(
        "status", help="show a run's status", formatter_class=RAW,
        description="Show the status of a run from its manifest. A run whose process died is reported as "
                    "`interrupted`, never as running.",
        epilog="examples:\n  codex-orchestrator status --run 2026-11-23T19-59-45-401Z-3d499af8\n"
               "  codex-orchestrator status --task pr-123 --watch --interval 1\n"
               "  codex-orchestrator status --run 2026-11-23T19-59-45-401Z-3d499af8 --tree",
    )
    p.add_argument("--run", help="run id (default: the task's latest run)")
    add_task_option(p)
    p.add_argument("--watch", action="store_true", help="keep printing until the run ends")
    p.add_argument("--interval", type=seconds, default=2.0, help="seconds between refreshes with --watch")
    p.add_argument("--tree", action="store_true",
                   help="the run with its parents, child runs (subpipelines and --parent-run links, any task) "
                        "and resumes")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(handler=run_status)


def _register_resume(sub: Subparsers) -> None:
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
    add_parent_option(p)
    add_policy_options(p)
    add_codex_options(p)
    add_telemetry_options(p)
    p.set_defaults(handler=run_resume)


# ---------------------------------------------------------------------- start / resume


def _output_format(args: argparse.Namespace) -> str:
    from .common import output_format

    return output_format(args.format)


def _make_runner(args: argparse.Namespace, fmt: str) -> Any:
    import signal

    from ..api.pipeline import make_runner
    from ..exec.cancel import CancelToken
    from ..tools.asker import choose_asker
    from .common import load_config, observers, task_id

    config = load_config(args)
    cancel = CancelToken()
    stream: Any = None
    if fmt == "jsonl":
        from ..events.sinks import StdoutJsonlSink

        stream = StdoutJsonlSink(cancel=cancel, on_closed=lambda: cancel.cancel(signal.SIGPIPE))
    elif fmt == "text":
        from .render import HumanView

        stream = HumanView()
    runner = make_runner(config, task_id=task_id(args, config), cancel=cancel, asker=choose_asker(args.approvals),
                         stream=stream, output_format=fmt, observers=observers(args, config))
    runner.registry.warn()
    return runner


def _finish(outcome: Any, fmt: str) -> int:
    if fmt == "json":
        from .._files import read_json

        print(json.dumps(read_json(outcome.run.paths.run_summary), indent=2))
    code: int = outcome.exit_code
    return code


def run_start(args: argparse.Namespace) -> int:
    from ..api.pipeline import run_pipeline
    from ..runs.lineage import resolve_parent
    from .common import install_signal_handlers

    fmt = _output_format(args)
    runner = _make_runner(args, fmt)
    pipeline = runner.registry.get(args.pipeline)  # an unknown pipeline is a usage error before any signal handling
    if args.target is not None:
        pipeline.up_to(args.target)  # so is an unknown --target stage
        runner.target_stage = args.target
    if args.parent_run is not None:
        runner.parent_run = resolve_parent(runner.config.repo_root, args.parent_run)
    restore = install_signal_handlers(runner.cancel)
    try:
        outcome = run_pipeline(runner, args.pipeline)
    finally:
        restore()
    return _finish(outcome, fmt)


def run_resume(args: argparse.Namespace) -> int:
    from ..api.pipeline import open_for_resume, resume_run
    from ..runs.lineage import resolve_parent
    from .common import install_signal_handlers

    fmt = _output_format(args)
    runner = _make_runner(args, fmt)
    resumable = open_for_resume(runner.config, args.run, args.task, args.token)
    if resumable.lock is None:
        unlinked = " (so --parent-run was not recorded)" if args.parent_run else ""
        print(f"run {args.run} already succeeded; nothing to resume{unlinked}", file=sys.stderr)
        return 0
    if args.parent_run is not None:
        try:
            runner.parent_run = resolve_parent(runner.config.repo_root, args.parent_run, child=resumable.manifest)
        except BaseException:
            resumable.lock.release()
            raise
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


def _pipeline_dict(pipeline: Any) -> dict[str, Any]:
    """What `plan --format json` says about a pipeline besides its stages (descriptive keys only)."""
    from ..redact import redact_tree

    data: dict[str, Any] = {"id": pipeline.id, "title": pipeline.title, "source": pipeline.source}
    if pipeline.description:
        data["description"] = pipeline.description
    if pipeline.tags:
        data["tags"] = list(pipeline.tags)
    if pipeline.guardrails_required is not None:
        data["guardrailsRequired"] = pipeline.guardrails_required
    if pipeline.metadata:
        data["metadata"] = redact_tree(pipeline.metadata)
    return data


def _stage_line(index: int, stage: Any) -> list[str]:
    """A stage as `plan` prints it: one line, then its summaryHint if any (all of it shown escaped)."""
    from ..pipelines.model import CodexStage, SubpipelineStage
    from ..redact import redact_env
    from ..tools.asker import printable

    origin = f"  (stage set {' > '.join(stage.origin)})" if stage.origin else ""
    if isinstance(stage, SubpipelineStage):
        optional = " (optional)" if stage.optional else ""
        return [printable(f"  {index}. {stage.id}: subpipeline {stage.pipeline}{optional}{origin}")]
    if isinstance(stage, CodexStage):
        options = [f"{name}={value}" for name, value in (("model", stage.model), ("profile", stage.profile),
                   ("outputSchema", stage.output_schema), ("cwd", stage.cwd)) if value]
        options += [f"timeout={stage.timeout:g}s"] if stage.timeout else []
        options += ["allowFailure"] if stage.allow_failure else []
        prompt = " ".join(stage.prompt.split())
        shown = f"  [{', '.join(options)}]" if options else ""
        return [printable(f"  {index}. {stage.id}: codex: {prompt[:100]}{shown}{origin}")]
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
        extras.extend(f"{name}={value}" for name, value in redact_env(stage.env).items())
    suffix = f"  [{', '.join(extras)}]" if extras else ""
    lines = [printable(f"  {index}. {stage.id}: {stage.command}{suffix}{origin}")]
    if stage.summary_hint:
        lines.append(printable(f"       summaryHint: {stage.summary_hint}"))
    return lines


def run_plan(args: argparse.Namespace) -> int:
    from ..pipelines.registry import Registry
    from ..tools.asker import printable
    from .common import load_config

    config = load_config(args)
    if args.task is not None:
        from ..runs.ids import validate_task_id

        validate_task_id(args.task)
    registry = Registry.load(config)
    registry.warn()
    pipeline = registry.get(args.pipeline)
    whole = len(pipeline.stages)
    if args.target is not None:
        pipeline = pipeline.up_to(args.target)
    if args.format == "json":
        extra = {"target": args.target} if args.target is not None else {}
        print(json.dumps({**_pipeline_dict(pipeline), **extra, "stages": [_stage_dict(s) for s in pipeline.stages]},
                         indent=2))
        return 0
    print(printable(f"{pipeline.id}: {pipeline.title}  ({pipeline.source})"))
    if pipeline.description:
        print(printable(f"  {pipeline.description}"))
    if pipeline.tags:
        print(printable(f"  tags: {', '.join(pipeline.tags)}"))
    for index, stage in enumerate(pipeline.stages, start=1):
        print("\n".join(_stage_line(index, stage)))
    if args.target is not None:
        print(f"(--target {args.target}: stages {len(pipeline.stages) + 1}-{whole} left out)"
              if whole > len(pipeline.stages) else f"(--target {args.target} is the last stage)")
    print("(nothing was run)")
    return 0


def run_pipelines(args: argparse.Namespace) -> int:
    from ..pipelines.registry import Registry
    from ..tools.asker import printable
    from .common import load_config

    config = load_config(args)
    registry = Registry.load(config)
    registry.warn()
    rows: list[dict[str, Any]] = [{"id": p.id, "title": p.title, "source": p.source, "stages": len(p.stages),
             "default": p.id == registry.default_id,
             **({"description": p.description} if p.description else {}),
             **({"tags": list(p.tags)} if p.tags else {})} for p in registry.pipelines.values()]
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(row["id"]) for row in rows)
    for row in rows:
        mark = "*" if row["default"] else " "
        print(printable(f"{mark} {row['id']:<{width}}  {row['stages']:>2} stages  {row['title']}  ({row['source']})"))
    return 0


# ---------------------------------------------------------------------- status


def _print_status(view: dict[str, Any]) -> None:
    pipeline = f"{view['pipeline']}, " if view["pipeline"] else ""
    print(f"run {view['run_id']} ({pipeline}task {view['task_id']}): {view['status']}")
    if view["status_detail"]:
        print(f"  {view['status_detail']}")
    if view.get("parent_run_id"):
        how = "subpipeline of" if view.get("parent_link") in (None, "subpipeline") else "linked to"
        task = f" (task {view['parent_task_id']})" if view.get("parent_task_id") else ""
        print(f"  {how} parent run {view['parent_run_id']}{task}")
    if view.get("target_stage_id"):
        print(f"  --target {view['target_stage_id']}: stages after it are not part of this run")
    for stage in view["stages"]:
        print(f"  - {stage['id']}: {stage['summary'] or stage['status']}")
        if stage.get("codex_thread_id"):
            print(f"    codex thread {stage['codex_thread_id']}")


def run_status(args: argparse.Namespace) -> int:
    from ..api.pipeline import status_view
    from ..runs.store import RunStore
    from .common import load_config, task_id

    if args.tree and args.watch:
        from ..errors import UsageError

        raise UsageError("--tree shows the family of runs once; it cannot be combined with --watch")
    config = load_config(args)
    store = RunStore(config.repo_root)
    paths = store.find(args.run, args.task) if args.run else store.latest(task_id(args, config))
    if args.tree:
        return _print_tree(config.repo_root, paths, args.format)
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


# ---------------------------------------------------------------------- status --tree


def _print_tree(root: Any, paths: Any, fmt: str) -> int:
    from ..errors import DamagedError
    from ..runs.lineage import RunIndex
    from ..runs.store import read_manifest_dict

    index = RunIndex(root)
    if paths.run_id not in index.runs:
        read_manifest_dict(paths)  # says why (damaged, unreadable)
        raise DamagedError(f"{paths.manifest}: not readable as a manifest")
    ancestors = [index.node(run_id, with_children=False) for run_id in index.ancestors(paths.run_id)]
    node = index.node(paths.run_id)
    if fmt == "json":
        print(json.dumps({"ancestors": ancestors, "run": node}, indent=2))
        return 0
    for depth, ancestor in enumerate(ancestors):  # outermost first, each the parent of the next
        print(f"{'    ' * (depth - 1)}└── {_tree_label(ancestor)}" if depth else _tree_label(ancestor))
    n = len(ancestors)
    _print_node(node, "    " * (n - 1) if n else "", "└── " if n else "", is_root=True)
    return 0


def _tree_label(node: dict[str, Any]) -> str:
    from ..tools.asker import printable

    code = f", exit {node['exit_code']}" if node.get("exit_code") not in (None, 0) else ""
    link = ""
    if node.get("parent_link") == "subpipeline":
        stage = f" {node['parent_stage_id']!r}" if node.get("parent_stage_id") else ""
        link = f"  [subpipeline stage{stage}]"
    elif node.get("parent_link") == "parent-run":
        link = "  [--parent-run]"
    target = f"  [--target {node['target_stage_id']}]" if node.get("target_stage_id") else ""
    return printable(f"{node['run_id']}  {node['pipeline']} (task {node['task_id']}): "
                     f"{node['status']}{code}{link}{target}")


def _print_node(node: dict[str, Any], indent: str, branch: str, *, is_root: bool = False) -> None:
    """A run, its resumes, then its children, drawn as a tree below it."""
    from ..tools.asker import printable

    print(f"{indent}{branch}{_tree_label(node)}{'  <- this run' if is_root else ''}")
    below = indent + ("" if not branch else "    " if branch.startswith("└") else "│   ")
    children = node.get("children", [])
    for resume in node["resumes"]:
        bar = "│ " if children else "  "
        print(printable(f"{below}{bar} resumed {resume['timestamp']} from stage {resume['from_stage']!r} "
                        f"(was {resume['previous_status']})"))
    for i, child in enumerate(children):
        _print_node(child, below, "└── " if i == len(children) - 1 else "├── ")
