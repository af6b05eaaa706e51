"""The CI guide's workflow files are real: actionlint passes the GitHub ones, the GitLab one is valid
YAML of the right shape, and docs/guides/ci.md shows each file unchanged."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "guides" / "examples"
GITHUB = ("github-ci.yml", "matrix.yml")


def _actionlint() -> str:
    found = shutil.which("actionlint", path=str(Path(sys.executable).parent)) or shutil.which("actionlint")
    if found:
        return found
    reason = "actionlint is not installed: run `bash scripts/setup.sh --dev`"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def _lint(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_actionlint(), "-no-color", *map(str, paths)], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


@pytest.mark.parametrize("name", GITHUB)
def test_github_workflow_passes_actionlint(name: str) -> None:
    result = _lint(EXAMPLES / name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    """The lint above can fail: the same workflow with an undefined step output and a bad key does."""
    text = (EXAMPLES / "github-ci.yml").read_text()
    broken = text.replace("steps.run.outputs.exit-code", "steps.nope.outputs.exit-code")
    broken = broken.replace("timeout-minutes: 30", "timeout-minutes: 30\n    run-on: ubuntu-24.04")
    path = tmp_path / "broken.yml"
    path.write_text(broken)
    result = _lint(path)
    assert result.returncode != 0
    assert "nope" in result.stdout and "run-on" in result.stdout, result.stdout


def _steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


@pytest.mark.parametrize("name", GITHUB)
def test_github_workflow_keeps_the_runs_and_fails_on_the_summary(name: str) -> None:
    workflow = yaml.safe_load((EXAMPLES / name).read_text())
    runs = "\n".join(step.get("run", "") for step in _steps(workflow))
    assert "--format jsonl" in runs
    assert '"run:summary"' in runs and ".payload.status" in runs and "succeeded" in runs
    uploads = [s for s in _steps(workflow) if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert uploads
    for step in uploads:
        assert step["if"] == "always()"
        assert ".runs/" in step["with"]["path"]
        assert step["with"]["include-hidden-files"] is True


def test_gitlab_ci_is_valid_yaml_of_the_right_shape() -> None:
    document = yaml.safe_load((EXAMPLES / "gitlab-ci.yml").read_text())
    stages = document["stages"]
    jobs = {name: job for name, job in document.items() if isinstance(job, dict) and "script" in job}
    assert set(jobs) == {"pipeline", "report"}
    for job in jobs.values():
        assert job["stage"] in stages
        assert all(isinstance(line, str) for line in job["script"])
    pipeline = jobs["pipeline"]
    assert pipeline["extends"] == ".orchestrated"
    assert pipeline["artifacts"]["when"] == "always"
    assert ".runs/" in pipeline["artifacts"]["paths"]
    script = "\n".join(pipeline["script"])
    assert "--format jsonl" in script and "run:summary" in script
    assert pipeline["parallel"]["matrix"][0]["PIPELINE"]


def test_the_guide_shows_each_file_unchanged() -> None:
    guide = (ROOT / "docs" / "guides" / "ci.md").read_text()
    pattern = re.compile(r"<!-- include: (\S+) -->\n```\w*\n(.*?)```\n<!-- end include -->", re.S)
    shown = {name: body for name, body in pattern.findall(guide)}
    expected = {f"examples/{p.name}" for p in EXAMPLES.iterdir()}
    assert set(shown) == expected
    for name, body in shown.items():
        assert body == (ROOT / "docs" / "guides" / name).read_text(), f"{name}: the guide shows an old copy"
