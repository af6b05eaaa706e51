"""Checked-in schemas match the typed models, and real streams validate against them."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from referencing import Registry, Resource

from codex_orchestrator.schemas import all_schemas, main

from ..conftest import Repo, events

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def test_checked_in_schemas_match_models() -> None:
    assert main(["--check", str(SCHEMAS)]) == 0, "run `python -m codex_orchestrator.schemas`"


def test_check_detects_drift(tmp_path: Path) -> None:
    main([str(tmp_path)])
    assert main(["--check", str(tmp_path)]) == 0
    path = tmp_path / "manifest.schema.json"
    path.write_text(path.read_text().replace('"task_id"', '"taskid"', 1))
    assert main(["--check", str(tmp_path)]) == 1


@pytest.fixture(scope="module")
def envelope_validator() -> jsonschema.Draft202012Validator:
    schemas = all_schemas()
    registry: Registry = Registry()  # type: ignore[type-arg]
    for schema in schemas.values():
        registry = registry.with_resource(schema["$id"], Resource.from_contents(schema))
    return jsonschema.Draft202012Validator(schemas["events/envelope.schema.json"], registry=registry)


def test_every_streamed_event_validates(repo: Repo, envelope_validator: jsonschema.Draft202012Validator) -> None:
    repo.config({"pipelines": [
        {"id": "main", "stages": [{"id": "out", "command": "printf 'a\\xffb'; echo err >&2"},
                                  {"kind": "subpipeline", "id": "sub", "pipeline": "child"},
                                  {"id": "fail", "command": "exit 5", "allowFailure": True}]},
        {"id": "child", "stages": [{"id": "inner", "command": "echo inner"}]},
    ], "defaultPipeline": "main"})
    result = repo.run("start", "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    stream = events(result.stdout)
    seen = set()
    for event in stream:
        errors = list(envelope_validator.iter_errors(event))
        assert not errors, (event, [e.message for e in errors])
        seen.add(event["type"])
    assert {"run:start", "stage:start", "tool:start", "exec:begin", "exec:chunk", "exec:end",
            "tool:complete", "stage:end", "run:summary"} <= seen
    exec_out = repo.run("exec", "--jsonl", "--", "sh", "-c", "echo hi")
    for event in events(exec_out.stdout):
        assert not list(envelope_validator.iter_errors(event)), event


def test_repo_config_schema_accepts_reference_shape() -> None:
    schema = all_schemas()["repo-config.schema.json"]
    reference = {
        "pipelines": [{"id": "ci", "title": "CI", "stages": [
            {"kind": "command", "id": "build", "title": "Build", "command": "npm run build",
             "cwd": "web", "env": {"A": "1"}, "allowFailure": False, "session": {"id": "s", "reuse": True,
                                                                                  "persist": False}},
            {"kind": "subpipeline", "id": "more", "title": "More", "pipeline": "other", "optional": True}]}],
        "defaultPipeline": "ci",
    }
    jsonschema.validate(reference, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"pipelines": [], "bogus": 1}, schema)
    assert json.dumps(schema)
