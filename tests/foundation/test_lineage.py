"""Run lineage from the command line: --parent-run on start, exec and resume, `status --tree`, and --target."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..conftest import Repo, events
from .schema_check import assert_valid_manifest


def _manifest(repo: Repo, run_id: str, task: str = "default") -> dict[str, Any]:
    path = repo.root / ".runs" / task / "cli" / run_id / "manifest.json"
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _start(repo: Repo, *args: str) -> dict[str, Any]:
    result = repo.run("start", "--format", "json", *args)
    assert result.returncode in (0, 1, 3), result.stderr
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


def test_parent_run_links_start_exec_and_resume_across_tasks(repo: Repo) -> None:
    repo.pipeline({"id": "one", "command": "true"}, {"id": "two", "command": "test -f ok"})
    parent = _start(repo, "--task", "parent-task")["run"]["id"]

    started = repo.run("start", "--format", "jsonl", "--task", "child-task", "--parent-run", parent)
    assert started.returncode == 1, started.stderr  # `test -f ok` fails: resumed below
    run_start = events(started.stdout)[0]["payload"]
    assert run_start["parentRunId"] == parent
    assert run_start["parentLink"] == "parent-run" and run_start["parentTaskId"] == "parent-task"
    child = run_start["runId"]
    manifest = _manifest(repo, child, "child-task")
    assert_valid_manifest(manifest)
    assert (manifest["parent_run_id"], manifest["parent_task_id"], manifest["parent_link"]) == \
        (parent, "parent-task", "parent-run")

    ran = repo.run("exec", "--format", "summary", "--task", "third", "--parent-run", child, "--", "true")
    assert ran.returncode == 0, ran.stderr
    exec_run = json.loads(ran.stdout)["run"]["id"]
    assert _manifest(repo, exec_run, "third")["parent_run_id"] == child

    # A run linked with --parent-run is a top-level run of its task: `status` finds it and it resumes.
    status = repo.run("status", "--task", "child-task", "--format", "json")
    view = json.loads(status.stdout)
    assert view["run_id"] == child and view["parent_run_id"] == parent and view["parent_link"] == "parent-run"
    text = repo.run("status", "--task", "child-task").stdout
    assert f"linked to parent run {parent} (task parent-task)" in text
    (repo.root / "ok").write_text("")
    resumed = repo.run("resume", "--run", child, "--format", "jsonl")
    assert resumed.returncode == 0, resumed.stderr
    assert events(resumed.stdout)[0]["payload"]["parentRunId"] == parent


def test_resume_can_link_a_run_once_and_never_into_a_cycle(repo: Repo) -> None:
    repo.pipeline({"id": "gate", "command": "test -f ok"})
    first = _start(repo)["run"]["id"]
    second = _start(repo, "--parent-run", first)["run"]["id"]

    own = repo.run("resume", "--run", first, "--parent-run", first)
    assert own.returncode == 2 and "its own parent" in own.stderr
    cycle = repo.run("resume", "--run", first, "--parent-run", second)
    assert cycle.returncode == 2 and "cycle" in cycle.stderr
    other = _start(repo)["run"]["id"]
    twice = repo.run("resume", "--run", second, "--parent-run", other)
    assert twice.returncode == 2 and f"already has parent {first}" in twice.stderr

    (repo.root / "ok").write_text("")
    linked = repo.run("resume", "--run", other, "--parent-run", first, "--format", "json")
    assert linked.returncode == 0, linked.stderr
    manifest = _manifest(repo, other)
    assert manifest["parent_run_id"] == first and manifest["parent_link"] == "parent-run"
    assert len(manifest["resume_events"]) == 1


def test_parent_run_must_exist_and_be_a_run_id(repo: Repo) -> None:
    repo.pipeline({"id": "one", "command": "true"})
    missing = repo.run("start", "--parent-run", "2026-01-01T00-00-00-000Z-00000000")
    assert missing.returncode == 66 and "not found" in missing.stderr
    bad = repo.run("exec", "--parent-run", "../etc", "--", "true")
    assert bad.returncode == 2 and "invalid run id" in bad.stderr
    assert repo.manifests() == []  # nothing was created


def test_status_tree_shows_parents_children_subpipelines_and_resumes(repo: Repo) -> None:
    repo.config({"pipelines": [
        {"id": "main", "stages": [{"id": "gate", "command": "test -f ok"},
                                  {"kind": "subpipeline", "id": "sub", "pipeline": "lint"}]},
        {"id": "lint", "stages": [{"id": "l", "command": "true"}]},
    ], "defaultPipeline": "main"})
    root = _start(repo, "--task", "a")["run"]["id"]
    middle = _start(repo, "--task", "b", "--parent-run", root)["run"]["id"]  # fails at `gate`
    (repo.root / "ok").write_text("")
    assert repo.run("resume", "--run", middle).returncode == 0  # runs the subpipeline: a child run
    leaf = json.loads(repo.run("exec", "--format", "summary", "--task", "c", "--parent-run", middle, "--",
                               "true").stdout)

    tree = json.loads(repo.run("status", "--run", middle, "--tree", "--format", "json").stdout)
    assert [a["run_id"] for a in tree["ancestors"]] == [root]
    node = tree["run"]
    assert node["run_id"] == middle and node["task_id"] == "b" and node["status"] == "succeeded"
    assert node["resumes"][0]["from_stage"] == "gate" and node["resumes"][0]["previous_status"] == "failed"
    kinds = {(c["pipeline"], c["parent_link"], c["task_id"], c["parent_stage_id"]) for c in node["children"]}
    assert kinds == {("lint", "subpipeline", "b", "sub"), ("exec", "parent-run", "c", None)}
    assert leaf["run"]["id"] in {c["run_id"] for c in node["children"]}

    text = repo.run("status", "--run", root, "--tree")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].startswith(root) and lines[0].endswith("<- this run")
    assert any(middle in line and "[--parent-run]" in line for line in lines)
    assert any("[subpipeline stage 'sub']" in line for line in lines)
    assert any("resumed" in line and "from stage 'gate' (was failed)" in line for line in lines)
    assert repo.run("status", "--tree", "--watch").returncode == 2


def test_status_tree_survives_crafted_manifests_that_loop(repo: Repo) -> None:
    """A repository can ship `.runs/` with manifests whose parents point at each other."""
    repo.pipeline({"id": "one", "command": "true"})
    first = _start(repo)["run"]["id"]
    second = _start(repo, "--parent-run", first)["run"]["id"]
    path = repo.root / ".runs" / "default" / "cli" / first / "manifest.json"
    crafted = json.loads(path.read_text())
    crafted["parent_run_id"], crafted["parent_link"] = second, "parent-run"
    path.write_text(json.dumps(crafted))
    result = repo.run("status", "--run", second, "--tree", "--format", "json", timeout=20)
    assert result.returncode == 0, result.stderr
    tree = json.loads(result.stdout)
    assert [a["run_id"] for a in tree["ancestors"]] == [first]
    assert [c["run_id"] for c in tree["run"]["children"]] == [first]
    assert tree["run"]["children"][0]["children"] == []  # the loop is cut, not followed


def test_target_runs_and_plans_up_to_a_stage_and_resume_keeps_it(repo: Repo) -> None:
    repo.pipeline({"id": "build", "command": "true"}, {"id": "test", "command": "test -f ok"},
                  {"id": "deploy", "command": "touch deployed"})
    plan = json.loads(repo.run("plan", "--target-stage", "test", "--format", "json").stdout)
    assert [s["id"] for s in plan["stages"]] == ["build", "test"] and plan["target"] == "test"
    assert "stages 3-3 left out" in repo.run("plan", "--target", "test").stdout

    failed = repo.run("start", "--target", "test", "--format", "jsonl")
    assert failed.returncode == 1
    stream = events(failed.stdout)
    assert stream[0]["payload"]["targetStageId"] == "test"
    run_id = stream[0]["payload"]["runId"]
    manifest = _manifest(repo, run_id)
    assert manifest["target_stage_id"] == "test" and [c["id"] for c in manifest["commands"]] == ["build", "test"]
    (repo.root / "ok").write_text("")
    assert repo.run("resume", "--run", run_id).returncode == 0
    assert _manifest(repo, run_id)["status"] == "succeeded"
    assert not (repo.root / "deployed").exists()  # resume stopped at the target too

    unknown = repo.run("start", "--target", "tset")
    assert unknown.returncode == 2 and "did you mean 'test'" in unknown.stderr
    assert len(repo.manifests()) == 1
    assert repo.run("plan", "--target", "nope").returncode == 2


def test_a_subpipeline_child_still_resumes_through_its_parent(repo: Repo) -> None:
    repo.config({"pipelines": [
        {"id": "main", "stages": [{"kind": "subpipeline", "id": "sub", "pipeline": "inner"}]},
        {"id": "inner", "stages": [{"id": "i", "command": "test -f ok"}]},
    ], "defaultPipeline": "main"})
    summary = _start(repo)
    child = summary["stages"][0]["childRunId"]
    refused = repo.run("resume", "--run", child)
    assert refused.returncode == 2 and "resume its parent" in refused.stderr
    latest = json.loads(repo.run("status", "--format", "json").stdout)
    assert latest["run_id"] == summary["run"]["id"]  # the child is not the task's latest top-level run
    assert Path(latest["manifest"]).is_file()
