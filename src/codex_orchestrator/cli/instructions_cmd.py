"""`instructions`: show the AGENTS.md guidance that applies here, or how it drifted since a run."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path

    from ..instructions import InstructionSet

DESCRIPTION = """\
Show the AGENTS.md guidance a run started here would hand to its stages: the
files found (global $CODEX_HOME file, each folder from the git root down to the
working directory, docs/AGENTS.md, the nearest .agent/AGENTS.md), any warnings,
the hash recorded in run manifests, and the composed text.

Instruction files are guidance only: nothing in them can change the approval
policy, the sandbox mode or stored approvals. See docs/instructions.md."""

EPILOG = """\
examples:
  codex-orchestrator instructions
  codex-orchestrator instructions --cwd services/api --format json
  codex-orchestrator instructions --against 2026-11-23T19-59-45-401Z-3d499af8

exit codes: 0 shown (also when --against finds drift), 2 bad input or config, 66 unknown run."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "instructions", help="show the AGENTS.md guidance that applies here",
        description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--cwd", metavar="DIR", help="working directory to resolve for (default: the current one)")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="text for people (default) or one JSON object")
    p.add_argument("--against", metavar="RUN_ID",
                   help="compare with the instructions recorded in that run's manifest")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import json
    import os
    from pathlib import Path

    from ..errors import UsageError
    from ..instructions import drift, find_git_root, load_instructions

    cwd = Path(args.cwd).expanduser() if args.cwd else Path.cwd()
    if not cwd.is_dir():
        raise UsageError(f"--cwd {cwd}: not a directory")
    cwd = cwd.resolve()
    codex_home, max_bytes, fallback_names, config_root = _settings(cwd, os.environ)
    current = load_instructions(
        cwd, codex_home=codex_home, max_bytes=max_bytes, fallback_names=fallback_names
    )

    report: dict[str, Any] | None = None
    manifest_path: Path | None = None
    if args.against:
        roots = [root for root in (config_root, find_git_root(cwd) or cwd) if root is not None]
        manifest_path = _find_manifest(args.against, roots)
        previous = _recorded_instructions(manifest_path)
        report = drift(previous, current)

    if args.format == "json":
        document: dict[str, Any] = {"cwd": str(cwd), **current.to_manifest(), "text": current.text}
        if report is not None:
            document["against"] = {"run_id": args.against, "manifest": str(manifest_path), **report}
        print(json.dumps(document, indent=2, ensure_ascii=False))
        return 0
    _print_text(current, report, args.against)
    return 0


def _settings(cwd: Path, env: Any) -> tuple[Path, int, list[str], Path | None]:
    """codex_home, project_doc_max_bytes, fallback names and the project root, from the shared resolver."""
    from pathlib import Path

    from ..config import load_config

    config = load_config(cwd)
    fallback = config.get("project_doc_fallback_filenames") or []
    return (
        Path(config.codex_home),
        int(config.get("project_doc_max_bytes")),
        [str(name) for name in fallback],
        Path(config.repo_root),
    )


def _find_manifest(run_id: str, roots: list[Path]) -> Path:
    from ..errors import NotFoundError, UsageError

    if not run_id or run_id.startswith(".") or any(c in run_id for c in "/\\\0*?["):
        raise UsageError(f"--against {run_id!r}: not a run id")
    searched: list[str] = []
    for root in dict.fromkeys(roots):  # keeps order, drops a repeated root
        runs = root / ".runs"
        searched.append(str(runs))
        matches = sorted(runs.glob(f"*/cli/{run_id}/manifest.json")) if runs.is_dir() else []
        if matches:
            return matches[0]
    raise NotFoundError(f"run {run_id} not found: no .runs/<task>/cli/{run_id}/manifest.json under "
                        + " or ".join(searched))


def _recorded_instructions(path: Path) -> dict[str, Any]:
    from .._files import read_json
    from ..errors import NotFoundError

    try:
        manifest = read_json(path)
    except (OSError, ValueError) as exc:
        raise NotFoundError(f"{path}: cannot read the manifest: {exc}") from exc
    if not isinstance(manifest, dict):
        raise NotFoundError(f"{path}: not a manifest")
    recorded = manifest.get("instructions")
    return recorded if isinstance(recorded, dict) else {}


def _print_text(current: InstructionSet, report: dict[str, Any] | None, run_id: str | None) -> None:
    print(f"sources ({len(current.sources)}):" if current.sources else "sources: none found")
    for source in current.sources:
        flag = "  truncated" if source.truncated else ""
        print(f"  {source.scope:<7} {source.path}  {source.bytes} B  sha256:{source.sha256[:12]}{flag}")
    if current.warnings:
        print(f"warnings ({len(current.warnings)}):")
        for warning in current.warnings:
            print(f"  {warning}")
    print(f"hash: {current.hash}")
    if report is not None:
        if not report["drifted"]:
            print(f"drift since run {run_id}: none")
        else:
            print(f"drift since run {run_id}: hash {report['previous_hash']} -> {report['current_hash']}")
            for kind in ("added", "removed", "changed"):
                for path in report[kind]:
                    print(f"  {kind:<7} {path}")
    print()
    print(current.text if current.text else "(no instructions)", end="" if current.text else "\n")
