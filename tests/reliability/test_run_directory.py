"""A new run's directory is hidden until `run:start` writes its first manifest and renames it into place:
a run directory never exists without a manifest, and a run that fails before it starts leaves nothing
any reader lists."""

from __future__ import annotations

import json
import os
import time

from codex_orchestrator.config import load_config
from codex_orchestrator.runs.active import ActiveRun
from codex_orchestrator.runs.manifest import CommandRecord, PipelineRef

from ..conftest import Repo


def _create(repo: Repo) -> ActiveRun:
    config = load_config(repo.root, env=dict(os.environ))
    return ActiveRun.create(
        config=config, task_id="default", pipeline=PipelineRef("exec", "exec", "exec"), cwd=repo.root,
        commands=[CommandRecord(index=1, id="exec", title="exec", kind="command", command="true",
                                status="pending")],
        approval_policy="never", sandbox_mode="read-only",
    )


def test_the_directory_appears_with_its_first_manifest_and_keeps_what_was_opened_before(repo: Repo) -> None:
    (repo.root / "AGENTS.md").write_text("Be brief.\n")
    run = _create(repo)
    cli = repo.root / ".runs" / "default" / "cli"
    assert [p.name for p in cli.iterdir()] == [f".{run.paths.run_id}.creating"]  # hidden: nothing to list
    assert repo.manifests() == [] and not run.paths.run_dir.exists()
    assert "Be brief." in (run.where.run_dir / "instructions.md").read_text()

    run.start()
    assert [p.name for p in cli.iterdir()] == [run.paths.run_id] and run.where == run.paths
    (manifest,) = repo.manifests()
    assert manifest["status"] == "in_progress" and manifest["instructions"]["path"] == str(run.paths.instructions)
    assert (run.paths.run_dir / "instructions.md").is_file()
    # The directory is the run's lock, and an `exec` run, which cannot be resumed, has no resume token.
    assert sorted(p.name for p in run.paths.run_dir.iterdir()) == [
        "commands", "events.jsonl", "instructions.md", "manifest.json"]
    run.finish(run.summary("succeeded", None, exit_code=0))
    events = [json.loads(line)["type"] for line in run.paths.events.read_text().splitlines()]
    assert events == ["run:start", "run:summary"]  # the events file opened in the hidden folder, kept
    assert json.loads(run.paths.manifest.read_text())["status"] == "succeeded"


def test_a_run_that_never_starts_leaves_no_run_directory(repo: Repo) -> None:
    run = _create(repo)
    run.lock.release()  # what the process's end does, after an error before run:start
    assert repo.manifests() == []
    assert repo.run("status", "--format", "json").returncode != 0  # the task has no runs
    assert _create(repo).paths.run_id != run.paths.run_id


def test_a_process_takes_its_reserve_away_when_it_exits(repo: Repo) -> None:
    """The room kept for a process's last records (docs/manifest.md) goes with the process: the CLI leaves
    through `os._exit`, which runs no `atexit` handler, so it takes it away itself."""
    assert repo.run("exec", "--", "true").returncode == 0
    task = repo.root / ".runs" / "default"
    assert sorted(p.name for p in task.iterdir() if p.name.startswith(".")) == []  # no .reserve.*, no .views-*


def test_the_final_summary_is_in_place_before_the_final_manifest_and_both_are_flushed(repo: Repo, monkeypatch) -> None:
    """The two final files are written (and fsynced) at once, the summary on a side thread; the manifest that
    names the summary replaces the in-progress one only once the summary is in place."""
    from codex_orchestrator import _files

    run = _create(repo)
    run.start()
    seen: list[tuple[bool, str]] = []
    synced: list[str] = []
    real_replace, real_fsync = os.replace, os.fsync

    def replace(src: str, dst: str, **kwargs: object) -> None:
        if dst == "manifest.json":
            seen.append((run.paths.run_summary.is_file(), json.loads(run.paths.manifest.read_text())["status"]))
        real_replace(src, dst, **kwargs)  # type: ignore[arg-type]

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}").rsplit("/", 1)[-1])
        if "run-summary" in synced[-1]:
            time.sleep(0.2)  # a slow flush of the summary: the manifest must still wait for it
        real_fsync(fd)

    monkeypatch.setattr(_files.os, "replace", replace)
    monkeypatch.setattr(_files.os, "fsync", fsync)
    run.finish(run.summary("succeeded", None, exit_code=0))
    assert seen == [(True, "in_progress")]  # the summary was there before the manifest turned final
    assert {"manifest", "run-summary"} <= {name.split(".")[1] for name in synced}  # temporaries: .<name>.<pid>...
    assert json.loads(run.paths.manifest.read_text())["status"] == "succeeded"


def test_a_summary_that_cannot_be_written_leaves_the_manifest_in_progress_and_raises(repo: Repo) -> None:
    """An error on the side thread reaches the run as the summary's own error; the final manifest is then not
    written (it would name a summary that is not there), as when the two were written one after the other."""
    from codex_orchestrator.errors import StorageError

    run = _create(repo)
    run.start()
    run.paths.run_summary.mkdir()  # the rename over it fails: EISDIR
    try:
        run.finish(run.summary("succeeded", None, exit_code=0))
    except (OSError, StorageError) as exc:
        assert "run-summary.json" in str(exc) or isinstance(exc, IsADirectoryError)
    else:
        raise AssertionError("the summary's error was lost")
    assert json.loads(run.paths.manifest.read_text())["status"] == "in_progress"
    assert [p.name for p in run.paths.run_dir.iterdir() if p.name.endswith(".tmp")] == []  # no temporary left


def test_a_first_manifest_cut_short_never_leaves_a_manifest_json(repo: Repo, monkeypatch) -> None:
    """The first manifest is written under a temporary name and renamed, even in the hidden directory: a
    write that stops half-way (a full disk here; a `kill -9` there) leaves no `manifest.json` that is not
    JSON, and the run directory is not published."""
    import errno

    from codex_orchestrator import _files
    from codex_orchestrator.errors import StorageError

    run = _create(repo)
    real_write = os.write

    def write(fd: int, data: bytes) -> int:
        if b'"run_id"' in bytes(data[:200]):
            real_write(fd, bytes(data[:100]))
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(_files.os, "write", write)
    try:
        run.start()
    except (OSError, StorageError):
        pass
    else:
        raise AssertionError("the failed write was not reported")
    monkeypatch.undo()
    run.lock.release()
    assert repo.manifests() == [] and not run.paths.run_dir.exists()
    for path in (repo.root / ".runs").rglob("*.json"):
        json.loads(path.read_text())  # every JSON file there is whole (no manifest.json cut short)
