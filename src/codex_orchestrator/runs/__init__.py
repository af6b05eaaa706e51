"""The run store: run ids, manifests, and the files every run leaves behind."""

from .ids import new_run_id, resolve_task_id, validate_run_id, validate_task_id
from .manifest import Manifest
from .store import RunPaths, RunStore

__all__ = [
    "Manifest",
    "RunPaths",
    "RunStore",
    "new_run_id",
    "resolve_task_id",
    "validate_run_id",
    "validate_task_id",
]
