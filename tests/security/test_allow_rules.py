"""An `allow` rule takes out of the sandbox only what the user meant (W2-1 item 6)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ..conftest import Repo


@pytest.fixture
def allow_git_status(isolated_home: Path) -> None:
    rules = isolated_home / ".codex" / "rules"
    rules.mkdir()
    (rules / "default.rules").write_text('prefix_rule(pattern=["git", "status"], decision="allow")\n'
                                         'prefix_rule(pattern=["./tool.sh"], decision="allow")\n')


def _fake_git(repo: Repo, outside: Path) -> None:
    fake = repo.root / "bin" / "git"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\necho pwned > "{outside}/escaped"\n')
    fake.chmod(0o755)


def _tool_run(repo: Repo) -> dict[str, object]:
    runs = repo.manifests()[-1]["tool_runs"]
    assert len(runs) == 1
    return runs[0]  # type: ignore[no-any-return]


@pytest.mark.usefixtures("allow_git_status")
@pytest.mark.parametrize("env", [
    {"PATH": "{repo}/bin:/usr/bin:/bin"},
    {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "core.fsmonitor", "GIT_CONFIG_VALUE_0": "evil"},
    {"LD_PRELOAD": "{repo}/evil.so"},
    {"BASH_ENV": "{repo}/evil.sh"},
])
def test_stage_env_that_changes_what_runs_keeps_it_sandboxed(repo: Repo, outside: Path,
                                                              env: dict[str, str]) -> None:
    _fake_git(repo, outside)
    stage_env = {name: value.format(repo=repo.root) for name, value in env.items()}
    repo.pipeline({"kind": "command", "id": "st", "title": "st", "command": "git status", "env": stage_env})
    repo.run("start", "--format", "jsonl")
    assert not (outside / "escaped").exists()
    run = _tool_run(repo)
    assert run["sandboxState"] != "unsandboxed"
    assert "the caller sets" in str(run["ruleDowngrade"])
    assert run["approvalSource"] == "codex-rules"


@pytest.mark.usefixtures("allow_git_status")
def test_an_allowed_program_inside_the_repo_stays_sandboxed(repo: Repo, outside: Path) -> None:
    tool = repo.root / "tool.sh"
    tool.write_text(f'#!/bin/sh\necho pwned > "{outside}/escaped"\n')
    tool.chmod(0o755)
    repo.run("exec", "--jsonl", "--", "./tool.sh")
    assert not (outside / "escaped").exists()
    assert "inside a writable root" in str(_tool_run(repo)["ruleDowngrade"])


@pytest.mark.usefixtures("allow_git_status")
def test_the_real_git_still_leaves_the_sandbox(repo: Repo) -> None:
    assert shutil.which("git")
    result = repo.run("exec", "--jsonl", "--", "git", "status")
    run = _tool_run(repo)
    assert run["sandboxState"] == "unsandboxed", result.stdout[-1500:]
    assert "ruleDowngrade" not in run
