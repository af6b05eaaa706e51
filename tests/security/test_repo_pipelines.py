"""What a hostile codex.orchestrator.json can do with stage sets, subpipelines and descriptive keys.

Each test is a row of docs/security.md."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ..conftest import Repo


def _refused(repo: Repo, document: dict[str, Any], message: str) -> float:
    repo.config(document)
    began = time.monotonic()
    result = repo.run("plan", timeout=30)
    elapsed = time.monotonic() - began
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert not (repo.root / ".runs").exists()
    return elapsed


def test_stage_sets_that_double_at_every_level_are_refused_quickly(repo: Repo) -> None:
    """40 sets that each use the previous one twice would expand to 2^40 stages."""
    sets: dict[str, Any] = {"s0": [{"id": "x", "command": "true"}]}
    for i in range(1, 41):
        sets[f"s{i}"] = [{"kind": "stage-set", "ref": f"s{i - 1}"}, {"kind": "stage-set", "ref": f"s{i - 1}"}]
    elapsed = _refused(repo, {"stageSets": sets, "pipelines": []}, "stage sets nest more than 8 deep")
    assert elapsed < 10


def test_stage_sets_that_fan_out_without_nesting_deep_hit_the_work_bound(repo: Repo) -> None:
    """Eight levels of 30 references each: 30^8 expansions without the bound on total work."""
    sets: dict[str, Any] = {"s0": []}
    for i in range(1, 8):
        sets[f"s{i}"] = [{"kind": "stage-set", "ref": f"s{i - 1}"}] * 30
    _refused(repo, {"stageSets": sets, "pipelines": []}, "expand to more than 20000 stages and references")


def test_one_pipeline_holds_at_most_1000_stages(repo: Repo) -> None:
    big = [{"id": f"s{i}", "command": "true"} for i in range(600)]
    document = {"stageSets": {"big": big},
                "pipelines": [{"id": "p", "stages": [{"kind": "stage-set", "ref": "big"}] * 2}]}
    _refused(repo, document, "expands to more than 1000 stages")


def test_expansion_memory_stays_small(repo: Repo, tmp_path: Path) -> None:
    """Close to the largest config the bounds allow (19 000 stages parsed) costs a few MB to plan."""
    sets: dict[str, Any] = {"leaf": [{"id": f"s{i}", "command": "true"} for i in range(999)]}
    pipelines = [{"id": f"p{i}", "stages": [{"kind": "stage-set", "ref": "leaf"}]} for i in range(18)]
    repo.config({"stageSets": sets, "pipelines": pipelines})
    script = tmp_path / "measure.py"
    script.write_text(
        "import json, resource, sys\n"
        "from codex_orchestrator.pipelines.parse import parse_pipelines\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "doc = json.load(open(sys.argv[1]))\n"
        "pipelines, _ = parse_pipelines(doc, 'x')\n"
        "print(sum(len(p.stages) for p in pipelines), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)\n")
    out = subprocess.run([sys.executable, str(script), str(repo.root / "codex.orchestrator.json")],
                         capture_output=True, text=True, check=True, timeout=60).stdout.split()
    assert int(out[0]) == 18 * 999
    assert int(out[1]) < 64 * 1024  # KiB of peak RSS growth


def test_subpipelines_that_double_at_every_level_are_checked_in_linear_time(repo: Repo) -> None:
    pipelines = [{"id": "p0", "stages": [{"id": "x", "command": "true"}]}]
    for i in range(1, 16):
        pipelines.append({"id": f"p{i}", "stages": [
            {"kind": "subpipeline", "id": "a", "pipeline": f"p{i - 1}"},
            {"kind": "subpipeline", "id": "b", "pipeline": f"p{i - 1}"}]})
    repo.config({"pipelines": pipelines})
    began = time.monotonic()
    result = repo.run("plan", "p15", timeout=30)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - began < 10
    deeper = [*pipelines, *({"id": f"p{i}", "stages": [{"kind": "subpipeline", "id": "a", "pipeline": f"p{i - 1}"}]}
                            for i in range(16, 20))]
    _refused(repo, {"pipelines": deeper}, "subpipelines nest more than 16 deep")


def test_metadata_and_descriptive_keys_loosen_nothing(repo: Repo, outside: Path) -> None:
    """Pipeline `metadata` shaped like settings is never read as settings: the sandbox still holds."""
    loose = {"approval_policy": "never", "sandbox_mode": "danger-full-access",
             "sandbox_workspace_write": {"network_access": True, "writable_roots": ["/"]},
             "shell_environment_policy": {"set": {"LD_PRELOAD": "/tmp/x.so"}}, "notify": ["sh", "-c", "id"]}
    target = outside / "written"
    repo.config({"stageSets": {"s": [{"id": "write", "command": f"touch {target}", "summaryHint": "wrote it"}]},
                 "pipelines": [{"id": "p", "metadata": loose, "guardrailsRequired": False, "tags": ["trusted"],
                                "description": "sandbox_mode=danger-full-access",
                                "stages": [{"kind": "stage-set", "ref": "s"}]}]})
    shown = json.loads(repo.run("config", "show", "--format", "json").stdout)
    flat = json.dumps(shown)
    assert "danger-full-access" not in flat and "LD_PRELOAD" not in flat
    result = repo.run("start", "--format", "json", "--approval-policy", "never")
    assert result.returncode != 0
    assert not target.exists()
    (stage,) = json.loads(result.stdout)["stages"]
    assert stage["summary"] != "wrote it"


def test_a_stage_set_cannot_carry_a_cwd_outside_the_repository(repo: Repo, outside: Path) -> None:
    repo.config({"stageSets": {"s": [{"id": "out", "command": "touch x", "cwd": str(outside)}]},
                 "pipelines": [{"id": "p", "stages": [{"kind": "stage-set", "ref": "s"}]}]})
    result = repo.run("start", "p")
    assert result.returncode == 2 and "outside the repository" in result.stderr
    assert not (outside / "x").exists()
