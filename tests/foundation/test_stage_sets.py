"""The reference's config shape: stageSets, pipeline and stage keys it has, and "did you mean" for the rest."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ..conftest import Repo


def _config(repo: Repo, stages: list[Any], sets: dict[str, Any] | None = None, **pipeline: Any) -> None:
    repo.config({"stageSets": sets or {}, "pipelines": [{"id": "p", "stages": stages, **pipeline}],
                 "defaultPipeline": "p"})


def test_stage_sets_expand_in_place_and_plan_shows_where_each_stage_came_from(repo: Repo) -> None:
    _config(repo, [{"id": "first", "command": "true"}, {"kind": "stage-set", "ref": "checks"},
                   {"id": "last", "command": "true"}],
            {"checks": [{"id": "lint", "command": "true"}, {"kind": "stage-set", "ref": "tests"}],
             "tests": [{"id": "unit", "command": "true", "summaryHint": "unit tests passed"}]})
    plan = json.loads(repo.run("plan", "--format", "json").stdout)
    assert [(s["id"], s.get("origin", [])) for s in plan["stages"]] == [
        ("first", []), ("lint", ["checks"]), ("unit", ["checks", "tests"]), ("last", [])]
    text = repo.run("plan").stdout
    assert "2. lint: true  (stage set checks)" in text
    assert "3. unit: true  (stage set checks > tests)" in text and "summaryHint: unit tests passed" in text
    result = repo.run("start", "--format", "json")
    assert result.returncode == 0, result.stderr
    stages = json.loads(result.stdout)["stages"]
    assert [s["stageId"] for s in stages] == ["first", "lint", "unit", "last"]
    assert stages[2]["summary"] == "unit tests passed"  # summaryHint sums up a stage that succeeded


@pytest.mark.parametrize(("stages", "sets", "message"), [
    ([{"kind": "stage-set", "ref": "chekcs"}], {"checks": []},
     "$.pipelines[0].stages[0].ref: unknown stage set 'chekcs' (did you mean 'checks'?)"),
    ([{"kind": "stage-set", "ref": "a"}], {"a": [{"kind": "stage-set", "ref": "b"}],
                                           "b": [{"kind": "stage-set", "ref": "a"}]},
     "stage set cycle: a -> b -> a"),
    ([{"id": "x", "command": "true"}], {"unused": [{"kind": "stage-set", "ref": "unused"}]},
     "$.stageSets.unused[0].ref: stage set cycle: unused -> unused"),
    ([{"kind": "stage-set", "ref": "a"}, {"kind": "stage-set", "ref": "a"}], {"a": [{"id": "x", "command": "true"}]},
     "duplicate stage id 'x' (from stage set a and stage set a)"),
    ([{"kind": "stage-set", "ref": "a", "id": "named"}], {"a": []}, "$.pipelines[0].stages[0].id: unknown key"),
    ([{"kind": "stageset", "ref": "a"}], {"a": []}, "(did you mean 'stage-set'?)"),
    ([{"id": "x", "command": "true", "allowfailure": True}], None, "unknown key (did you mean 'allowFailure'?)"),
    ([{"id": "x", "command": "true", "timeout": 5, "timeoutMs": 5000}], None, "not both"),
    ([{"id": "x", "command": "true", "summaryHint": 3}], None, "summaryHint: expected str, got int"),
])
def test_broken_stage_sets_and_keys_are_refused_before_anything_runs(
        repo: Repo, stages: list[Any], sets: dict[str, Any] | None, message: str) -> None:
    _config(repo, stages, sets)
    for command in (("pipelines",), ("plan",), ("start",)):
        result = repo.run(*command)
        assert result.returncode == 2, (command, result.stderr)
        assert message in result.stderr and "codex.orchestrator.json" in result.stderr
    assert not (repo.root / ".runs").exists()


@pytest.mark.parametrize(("document", "message"), [
    ({"stageSet": {}, "pipelines": []}, "unknown key 'stageSet' (did you mean 'stageSets'?)"),
    ({"pipelines": [{"id": "p", "tag": [], "stages": []}]}, "$.pipelines[0].tag: unknown key (did you mean 'tags'?)"),
    ({"pipelines": [{"id": "p", "tags": [1], "stages": []}]}, "tags: expected a list of strings"),
    ({"pipelines": [{"id": "p", "metadata": [], "stages": []}]}, "metadata: expected dict, got list"),
    ({"pipelines": [{"id": "p", "guardrailsRequired": "no", "stages": []}]}, "guardrailsRequired: expected bool"),
    ({"sandbox_workspace_write": {"network_acess": True}},
     "unknown key 'sandbox_workspace_write.network_acess' (did you mean 'sandbox_workspace_write.network_access'?)"),
    ({"stageSets": [], "pipelines": []}, "$.stageSets: expected an object of stage arrays"),
    ({"runtimeMode": "vm", "pipelines": []}, "$.runtimeMode: must be 'cli' or 'appserver'"),
])
def test_top_level_and_pipeline_keys(repo: Repo, document: dict[str, Any], message: str) -> None:
    repo.config(document)
    result = repo.run("pipelines")
    assert result.returncode == 2 and message in result.stderr, result.stderr


def test_descriptive_pipeline_keys_are_shown_and_runtime_mode_warns(repo: Repo) -> None:
    repo.config({"runtimeMode": "appserver", "pipelines": [{
        "id": "p", "title": "P", "description": "does p", "tags": ["ci", "fast"], "guardrailsRequired": False,
        "metadata": {"owner": "me", "api_token": "s3cret"}, "stages": [{"id": "x", "command": "true"}]}]})
    listed = repo.run("pipelines", "--format", "json")
    assert listed.returncode == 0
    assert "warning:" in listed.stderr and "runtimeMode: ignored" in listed.stderr
    row = next(r for r in json.loads(listed.stdout) if r["id"] == "p")
    assert row["description"] == "does p" and row["tags"] == ["ci", "fast"]
    plan = json.loads(repo.run("plan", "p", "--format", "json").stdout)
    assert plan["guardrailsRequired"] is False
    assert plan["metadata"] == {"owner": "me", "api_token": "[REDACTED]"}
    text = repo.run("plan", "p").stdout
    assert "  does p" in text and "tags: ci, fast" in text
    assert repo.run("start", "p", "--format", "json").returncode == 0


def test_timeout_ms_is_the_reference_spelling_of_timeout(repo: Repo) -> None:
    repo.pipeline({"id": "slow", "command": "sleep 5", "timeoutMs": 300})
    result = repo.run("start", "--format", "json")
    assert result.returncode == 124, result.stderr
    assert json.loads(result.stdout)["stages"][0]["status"] == "failed"
    assert "timeout=0.3s" in repo.run("plan").stdout


def test_summary_hint_does_not_hide_a_failure(repo: Repo) -> None:
    repo.pipeline({"id": "bad", "command": "echo broken >&2; exit 3", "summaryHint": "all good",
                   "allowFailure": True})
    result = repo.run("start", "--format", "json")
    (stage,) = json.loads(result.stdout)["stages"]
    assert stage["status"] == "failed" and "broken" in stage["summary"] and "all good" not in stage["summary"]


def test_unknown_pipeline_and_subpipeline_say_did_you_mean(repo: Repo) -> None:
    repo.config({"pipelines": [{"id": "deploy", "stages": [{"id": "x", "command": "true"}]}]})
    result = repo.run("plan", "dpeloy")
    assert result.returncode == 66 and "(did you mean 'deploy'?)" in result.stderr
    repo.config({"pipelines": [{"id": "deploy", "stages": [{"kind": "subpipeline", "id": "s", "pipeline": "deplyo"}]}]})
    result = repo.run("plan", "deploy")
    assert result.returncode == 2 and "unknown subpipeline 'deplyo' (did you mean 'deploy'?)" in result.stderr
