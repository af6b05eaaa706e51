"""The codex.orchestrator.json that @kbediako/codex-orchestrator 0.2.1 ships, unchanged, planned and run by us.

The package comes from npm (tests/peers, installed by `scripts/setup.sh --dev`); under CI=true a missing
package fails the suite (tests/peers/__init__.py).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from ..conftest import Repo
from ..peers import reference_package


@pytest.fixture
def shipped(repo: Repo) -> dict[str, Any]:
    """The reference's own config, copied byte for byte into a scratch repository."""
    source = reference_package() / "codex.orchestrator.json"
    shutil.copyfile(source, repo.root / "codex.orchestrator.json")
    document: dict[str, Any] = json.loads(source.read_text())
    return document


def _expected_stages(document: dict[str, Any], pipeline: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """Expand the file by hand: what the reference's loader does (a set's stages in place of the ref)."""
    out: list[tuple[str, list[str]]] = []
    for stage in pipeline["stages"]:
        if stage.get("kind") == "stage-set":
            out += [(s["id"], [stage["ref"]]) for s in document["stageSets"][stage["ref"]]]
        else:
            out.append((stage["id"], []))
    return out


def test_every_pipeline_of_the_shipped_config_lists_and_plans(repo: Repo, shipped: dict[str, Any]) -> None:
    assert "stageSets" in shipped  # the key that used to be refused
    listed = repo.run("pipelines", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["id"]: row for row in json.loads(listed.stdout)}
    assert list(rows) == [p["id"] for p in shipped["pipelines"]]
    assert rows["diagnostics"]["default"]  # no defaultPipeline: the first, as in the reference
    for pipeline in shipped["pipelines"]:
        plan = repo.run("plan", pipeline["id"], "--format", "json")
        assert plan.returncode == 0, (pipeline["id"], plan.stderr)
        data = json.loads(plan.stdout)
        assert [(s["id"], s.get("origin", [])) for s in data["stages"]] == _expected_stages(shipped, pipeline)
        assert data.get("description") == pipeline.get("description")
        assert data.get("tags", []) == pipeline.get("tags", [])
        assert data.get("guardrailsRequired") == pipeline.get("guardrailsRequired")
        assert ("metadata" in data) == ("metadata" in pipeline)
        hints = {s["id"]: s["summary_hint"] for s in data["stages"] if "summary_hint" in s}
        expected_hints = {s["id"]: s["summaryHint"] for s in pipeline["stages"] if "summaryHint" in s}
        assert expected_hints.items() <= hints.items()
        text = repo.run("plan", pipeline["id"])
        assert text.returncode == 0 and "(nothing was run)" in text.stdout
    assert not (repo.root / ".runs").exists()
    plan = repo.run("plan", "diagnostics").stdout
    assert "build: npm run build  (stage set build-lint-test)" in plan


GUARD = """\
import { writeFileSync } from 'node:fs';
const keys = Object.keys(process.env).filter((k) => k.startsWith('CODEX_ORCHESTRATOR_') || k === 'MCP_RUNNER_TASK_ID');
console.log('GUARD ' + JSON.stringify(Object.fromEntries(keys.sort().map((k) => [k, process.env[k]]))));
"""


def test_its_diagnostics_pipeline_runs_every_command_stage(repo: Repo, shipped: dict[str, Any]) -> None:
    """`npm run build|lint|test` are stub scripts that echo; the guard stages run the reference's own runners
    from its package (CODEX_ORCHESTRATOR_PACKAGE_ROOT, your environment), which find the repository through
    the variables we set and run its `scripts/*-guard.mjs` (here: stubs that print what they were given)."""
    scripts = {"build": "echo build-ran", "lint": "echo lint-ran",
               "test": "echo test-ran run=[$CODEX_ORCHESTRATOR_RUN_ID] stage=[$CODEX_ORCHESTRATOR_STAGE_ID]"}
    (repo.root / "package.json").write_text(json.dumps({"name": "scratch", "private": True, "scripts": scripts}))
    (repo.root / "scripts").mkdir()
    for name in ("delegation-guard.mjs", "spec-guard.mjs"):
        (repo.root / "scripts" / name).write_text(GUARD)
    env = {"CODEX_ORCHESTRATOR_PACKAGE_ROOT": str(reference_package())}
    result = repo.run("start", "diagnostics", "--task", "ref-diag", "--format", "json", env=env, timeout=120)
    assert result.returncode == 0, result.stderr + result.stdout
    summary = json.loads(result.stdout)
    stages = summary["stages"]
    assert [s["stageId"] for s in stages] == ["delegation-guard", "build", "lint", "test", "spec-guard"]
    assert all(s["status"] == "succeeded" for s in stages), stages
    (manifest,) = repo.manifests("ref-diag")
    run_dir = Path(manifest["events_path"]).parent
    logs = {path.name.split("-", 1)[1][:-4]: path.read_text() for path in (run_dir / "commands").glob("*.log")}
    assert "build-ran" in logs["build"] and "lint-ran" in logs["lint"]
    # The reference's own `test` stage blanks the run variables (its env), and a stage env wins, as there.
    assert "test-ran run=[] stage=[test]" in logs["test"]
    for stage in ("delegation-guard", "spec-guard"):
        line = next(line for line in logs[stage].splitlines() if line.startswith("GUARD "))
        seen = json.loads(line[len("GUARD "):])
        assert seen["MCP_RUNNER_TASK_ID"] == "ref-diag" and seen["CODEX_ORCHESTRATOR_TASK_ID"] == "ref-diag"
        assert seen["CODEX_ORCHESTRATOR_RUN_ID"] == manifest["run_id"]
        assert seen["CODEX_ORCHESTRATOR_PIPELINE_ID"] == "diagnostics"
        assert seen["CODEX_ORCHESTRATOR_ROOT"] == str(repo.root)
        assert seen["CODEX_ORCHESTRATOR_STAGE_ID"] == stage
        assert Path(seen["CODEX_ORCHESTRATOR_MANIFEST_PATH"]) == run_dir / "manifest.json"


def test_the_shipped_config_is_valid_against_our_json_schema(shipped: dict[str, Any]) -> None:
    import jsonschema

    schema_path = Path(__file__).resolve().parents[2] / "schemas" / "repo-config.schema.json"
    jsonschema.validate(shipped, json.loads(schema_path.read_text()))
    broken = {"stageSets": {"s": [{"kind": "stage-set", "ref": "s", "id": "x"}]}, "pipelines": []}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, json.loads(schema_path.read_text()))
