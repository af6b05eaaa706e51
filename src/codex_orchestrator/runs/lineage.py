"""Run lineage: a run's parent (a subpipeline stage, or `--parent-run`), and the tree `status --tree` shows.

A `--parent-run` parent may be any run of the repository, in any task; it must exist when the child
is linked, so a typo is an error rather than a dangling link. The parent's manifest is never written
by the child (it belongs to the parent's process): the tree is found by reading every manifest under
`.runs/` and following `parent_run_id`. Those files are in the repository, so a shipped `.runs/` may
hold crafted manifests: the walk keeps a visited set, stops at MAX_DEPTH, and skips what it cannot read.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._record import record
from ..errors import OrchestratorError, UsageError
from .ids import validate_run_id, validate_task_id

if TYPE_CHECKING:  # pragma: no cover
    from .manifest import Manifest, ParentLink
    from .store import RunPaths

MAX_DEPTH = 64  # ancestors shown above a run, and levels of children below it


@record(frozen=True)
class ParentRef:
    run_id: str
    task_id: str
    kind: ParentLink

    def link(self, manifest: Manifest) -> None:
        """Record this parent in a child's manifest."""
        manifest.parent_run_id, manifest.parent_task_id, manifest.parent_link = self.run_id, self.task_id, self.kind


def resolve_parent(root: Path, run_id: str, *, child: dict[str, Any] | None = None) -> ParentRef:
    """The run `--parent-run RUN_ID` names (NotFoundError, exit 66, if it is not in this repository's
    run store). With `child` (the manifest of a run being resumed): refuse linking a run to itself,
    to one of its own descendants, or to a second parent."""
    from .store import RunStore, read_manifest_dict

    paths = RunStore(root).find(validate_run_id(run_id))
    if child is None:
        return ParentRef(run_id, paths.task_id, "parent-run")
    if run_id == child["run_id"]:
        raise UsageError(f"--parent-run {run_id}: a run cannot be its own parent")
    current = child.get("parent_run_id")
    if current and current != run_id:
        raise UsageError(f"--parent-run {run_id}: run {child['run_id']} already has parent {current}")
    seen = {child["run_id"]}
    ancestor: dict[str, Any] | None = read_manifest_dict(paths)
    while ancestor is not None and len(seen) <= MAX_DEPTH:
        if ancestor["run_id"] in seen:
            raise UsageError(f"--parent-run {run_id}: run {child['run_id']} is an ancestor of it (a cycle)")
        seen.add(ancestor["run_id"])
        ancestor = _parent_manifest(root, ancestor)
    return ParentRef(run_id, paths.task_id, "parent-run")


def _parent_manifest(root: Path, manifest: dict[str, Any]) -> dict[str, Any] | None:
    from .store import RunStore, read_manifest_dict

    parent_id = manifest.get("parent_run_id")
    if not isinstance(parent_id, str):
        return None
    try:
        return read_manifest_dict(RunStore(root).find(parent_id))
    except (OrchestratorError, OSError):
        return None


def is_subpipeline_child(manifest: dict[str, Any]) -> bool:
    """A subpipeline's child run (resumed and listed through its parent), not a `--parent-run` link.
    Manifests from before `parent_link` existed only had subpipeline parents."""
    return bool(manifest.get("parent_run_id")) and manifest.get("parent_link", "subpipeline") != "parent-run"


# ---------------------------------------------------------------------- the tree


class RunIndex:
    """Every readable manifest under `<root>/.runs/*/cli/*`, and who is whose child."""

    def __init__(self, root: Path) -> None:

        self.runs: dict[str, tuple[RunPaths, dict[str, Any]]] = {}
        self.children: dict[str, list[str]] = {}
        for paths in _all_runs(root):
            manifest = _read(paths)
            if manifest is None or manifest.get("run_id") != paths.run_id:
                continue
            self.runs[paths.run_id] = (paths, manifest)
        for run_id, (_, manifest) in sorted(self.runs.items()):
            parent = manifest.get("parent_run_id")
            if isinstance(parent, str) and parent != run_id:
                self.children.setdefault(parent, []).append(run_id)

    def ancestors(self, run_id: str) -> list[str]:
        """The run's parent, its parent's parent ..., outermost first."""
        chain: list[str] = []
        seen = {run_id}
        parent = self.runs[run_id][1].get("parent_run_id")
        while isinstance(parent, str) and parent in self.runs and parent not in seen and len(chain) < MAX_DEPTH:
            chain.append(parent)
            seen.add(parent)
            parent = self.runs[parent][1].get("parent_run_id")
        return chain[::-1]

    def node(self, run_id: str, *, depth: int = 0, seen: set[str] | None = None,
             with_children: bool = True) -> dict[str, Any]:
        """One run as a tree node: its status, how it is linked, its resumes, and (recursively) its children."""
        from .recorder import effective_status

        seen = set() if seen is None else seen
        seen.add(run_id)
        paths, manifest = self.runs[run_id]
        status, detail = effective_status(manifest, paths=paths)
        node: dict[str, Any] = {
            "run_id": run_id, "task_id": paths.task_id, "pipeline": manifest["pipeline"]["id"],
            "status": status, "status_detail": detail, "exit_code": manifest.get("exit_code"),
            "started_at": manifest.get("started_at"), "manifest": str(paths.manifest),
            "parent_run_id": manifest.get("parent_run_id"), "parent_link": _link(manifest),
            "parent_stage_id": self._parent_stage(manifest), "target_stage_id": manifest.get("target_stage_id"),
            "resumes": [{"timestamp": r.get("timestamp"), "from_stage": r.get("from_stage"),
                         "previous_status": r.get("previous_status")}
                        for r in manifest.get("resume_events") or [] if isinstance(r, dict)],
        }
        if with_children:
            kids = [kid for kid in self.children.get(run_id, []) if kid not in seen]
            node["children"] = [self.node(kid, depth=depth + 1, seen=seen) for kid in kids] \
                if depth < MAX_DEPTH else []
        return node

    def _parent_stage(self, manifest: dict[str, Any]) -> str | None:
        """For a subpipeline's child run: the parent's stage that started it."""
        parent = self.runs.get(str(manifest.get("parent_run_id")))
        if parent is None:
            return None
        for child in parent[1].get("child_runs") or []:
            if isinstance(child, dict) and child.get("run_id") == manifest["run_id"]:
                stage = child.get("stage_id")
                return stage if isinstance(stage, str) else None
        return None


def _link(manifest: dict[str, Any]) -> str | None:
    if not manifest.get("parent_run_id"):
        return None
    return "subpipeline" if is_subpipeline_child(manifest) else "parent-run"


def _all_runs(root: Path) -> list[RunPaths]:
    from .store import RunPaths

    found: list[RunPaths] = []
    runs_dir = root / ".runs"
    for task_dir in sorted(runs_dir.iterdir()) if runs_dir.is_dir() and not runs_dir.is_symlink() else []:
        try:
            validate_task_id(task_dir.name, "the run store")
            cli_dir = task_dir / "cli"
            names = sorted(p.name for p in cli_dir.iterdir()) if cli_dir.is_dir() else []
        except (UsageError, OSError):
            continue
        for name in names:
            if not name.startswith("."):
                try:
                    found.append(RunPaths(root, task_dir.name, validate_run_id(name)))
                except UsageError:
                    continue
    return found


def _read(paths: RunPaths) -> dict[str, Any] | None:
    from .store import read_manifest_dict

    try:
        return read_manifest_dict(paths)
    except (OrchestratorError, OSError):
        return None
