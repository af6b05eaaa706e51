"""What a hostile repository could try with a codex stage (docs/security.md, "codex stages"), each refused.

Every field of a codex stage comes from the repository. Codex never gets more than the user's policy,
the schema file cannot lead outside the repository, the profile must be one the user allowed, the
program is the user's, and no stage `env` reaches Codex.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Any

import pytest

from ..conftest import Repo, events
from ..fakemodel import FakeModel, Turn


def codex_stage(**extra: Any) -> dict[str, Any]:
    return {"kind": "codex", "id": "fix", "title": "Fix", "prompt": "Do the work", "timeout": 120, **extra}


def _command_runs(repo: Repo) -> list[dict[str, Any]]:
    return [t for t in repo.manifests()[-1]["tool_runs"] if t["tool"] == "command_execution"]


def test_codex_cannot_write_outside_the_workspace_even_if_the_repo_asks_for_full_access(
        repo: Repo, model: FakeModel, codex_env: dict[str, str], tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    # The repo asks for danger-full-access; the user's default is workspace-write, and a repo only tightens.
    repo.config({"sandbox_mode": "danger-full-access",
                 "pipelines": [{"id": "p", "title": "p", "stages": [codex_stage()]}], "defaultPipeline": "p"})
    config = Path(codex_env["CODEX_HOME"]) / "config.toml"
    config.write_text(config.read_text().replace(
        "[model_providers", "[sandbox_workspace_write]\nexclude_slash_tmp = true\nexclude_tmpdir_env_var = true\n"
        "[model_providers", 1))
    model.script(Turn.exec_command(f"echo pwned > {outside}/escaped.txt", call_id="escape"),
                 Turn.exec_command("echo ok > inside.txt"), Turn.message("tried"))
    result = repo.run("start", "--format", "jsonl", env=codex_env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert not (outside / "escaped.txt").exists()
    assert (repo.root / "inside.txt").exists()
    codex_start = next(e["payload"] for e in events(result.stdout)
                       if e["type"] == "tool:start" and e["payload"]["tool"] == "codex")
    argv = codex_start["command"]
    assert argv[argv.index("--sandbox") + 1] == "workspace-write"
    assert "sandbox_workspace_write.exclude_slash_tmp=true" in argv
    # Codex's sandbox refused it. (Codex 0.169 leaves a command its sandbox denied out of `exec --json`, so
    # the model's side of the exchange is where the refusal shows; docs/codex.md, "Known gaps".)
    assert "Read-only file system" in model.outputs("escape")[0]
    assert [run["command"] for run in _command_runs(repo)] == ["/bin/bash -lc 'echo ok > inside.txt'"]


def test_codex_gets_no_network_when_the_policy_has_none(repo: Repo, model: FakeModel,
                                                        codex_env: dict[str, str]) -> None:
    repo.config({"sandbox_workspace_write": {"network_access": True},  # refused: a repo may only tighten
                 "pipelines": [{"id": "p", "title": "p", "stages": [codex_stage()]}], "defaultPipeline": "p"})
    probe = f"import socket; socket.create_connection(('127.0.0.1', {model.port}), timeout=5); print('connected')"
    model.script(Turn.exec_command(f"python3 -c \"{probe}\""), Turn.message("tried the network"))
    result = repo.run("start", "--format", "jsonl", env=codex_env, timeout=120)
    assert result.returncode == 0, result.stderr
    output = model.outputs(model.requests[1]["input"][-1]["call_id"])[0]
    assert "connected" not in output and "exited with code 1" in output, output
    assert len(model.requests) == 2  # only Codex itself reached the model, never the command


def test_read_only_policy_reaches_codex(repo: Repo, model: FakeModel, codex_env: dict[str, str]) -> None:
    repo.pipeline(codex_stage())
    model.script(Turn.exec_command("echo x > written.txt"), Turn.message("tried"))
    result = repo.run("start", "--format", "jsonl", env={**codex_env, "CODEX_ORCHESTRATOR_SANDBOX_MODE": "read-only"},
                      timeout=120)
    assert result.returncode == 0, result.stderr
    assert not (repo.root / "written.txt").exists()
    assert "Read-only file system" in model.outputs(model.requests[1]["input"][-1]["call_id"])[0]


@pytest.mark.parametrize("path", ["../secret.json", "/etc/passwd", "link.json"])
def test_output_schema_must_stay_inside_the_repository(repo: Repo, model: FakeModel, codex_env: dict[str, str],
                                                       tmp_path: Path, path: str) -> None:
    secret = tmp_path / "secret.json"
    secret.write_text('{"type": "object", "description": "SECRET"}')
    (repo.root / "link.json").symlink_to(secret)
    repo.pipeline(codex_stage(outputSchema=path))
    result = repo.run("start", env=codex_env)
    assert result.returncode == 2
    assert ("outside the repository" in result.stderr or "relative to the repository" in result.stderr), \
        result.stderr
    assert model.requests == [] and not (repo.root / ".runs").exists()


def test_output_schema_that_is_not_a_schema_is_refused(repo: Repo, model: FakeModel,
                                                       codex_env: dict[str, str]) -> None:
    (repo.root / "s.json").write_text('{"type": 12}')
    repo.pipeline(codex_stage(outputSchema="s.json"))
    result = repo.run("start", env=codex_env)
    assert result.returncode == 2 and "not a valid JSON Schema" in result.stderr
    assert model.requests == []


def test_a_profile_must_be_allowed_by_the_user(repo: Repo, model: FakeModel, codex_env: dict[str, str]) -> None:
    home = Path(codex_env["CODEX_HOME"])
    (home / "wide.config.toml").write_text('notify = ["touch", "notified"]\n')
    repo.pipeline(codex_stage(profile="wide"))
    result = repo.run("start", env=codex_env)
    assert result.returncode == 2 and "profile 'wide'" in result.stderr
    assert model.requests == [] and not (repo.root / ".runs").exists()
    # Allowed by the user (trusted environment): Codex runs with it, still under our bounds (the profile file
    # names no sandbox setting, so they go as our permission profile).
    model.script(Turn.message("with the profile"))
    allowed = {**codex_env, "CODEX_ORCHESTRATOR_CODEX_ALLOWED_PROFILES": "wide"}
    result = repo.run("start", "--format", "jsonl", env=allowed, timeout=120)
    assert result.returncode == 0, result.stderr
    argv = next(e["payload"]["command"] for e in events(result.stdout)
                if e["type"] == "tool:start" and e["payload"]["tool"] == "codex")
    assert "--profile=wide" in argv and 'default_permissions="codex-orchestrator-stage"' in argv


def test_the_repo_cannot_allow_profiles_or_pick_the_codex_program(repo: Repo, model: FakeModel,
                                                                  codex_env: dict[str, str]) -> None:
    fake = repo.root / "fake-codex"
    fake.write_text("#!/bin/sh\ntouch \"$(dirname \"$0\")/HIJACKED\"\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    repo.config({"codex": {"bin": str(fake), "allowed_profiles": ["wide"]},
                 "pipelines": [{"id": "p", "title": "p", "stages": [codex_stage()]}], "defaultPipeline": "p"})
    model.script(Turn.message("the real codex"))
    result = repo.run("start", "--format", "jsonl", env=codex_env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert not (repo.root / "HIJACKED").exists()
    repo.pipeline(codex_stage(profile="wide"))
    result = repo.run("start", env=codex_env)
    assert result.returncode == 2


@pytest.mark.parametrize(("field", "value", "message"), [
    ("model", "--dangerously-bypass-approvals-and-sandbox", "not a model name"),
    ("model", "gpt-5 -c x=1", "not a model name"),
    ("profile", "../../etc/evil", "not a profile name"),
    ("env", {"OPENAI_BASE_URL": "http://evil.example"}, "takes no env"),
    ("outputSchema", "/etc/passwd", "relative to the repository"),
])
def test_stage_fields_that_could_act_as_flags_or_paths_are_refused(repo: Repo, codex_env: dict[str, str],
                                                                   field: str, value: Any, message: str) -> None:
    repo.pipeline(codex_stage(**{field: value}))
    result = repo.run("plan", env=codex_env)
    assert result.returncode == 2 and message in result.stderr


def test_untrusted_policy_asks_before_codex_starts(repo: Repo, model: FakeModel, codex_env: dict[str, str]) -> None:
    repo.pipeline(codex_stage())
    untrusted = {**codex_env, "CODEX_ORCHESTRATOR_APPROVAL_POLICY": "untrusted"}
    result = repo.run("start", "--format", "jsonl", env=untrusted, timeout=120)
    assert result.returncode == 77
    stream = events(result.stdout)
    decision = next(e["payload"] for e in stream if e["type"] == "approval:decision")
    assert decision["decision"] == "denied" and decision["approvalSource"] == "no-channel"
    assert model.requests == []  # Codex never started
    assert repo.manifests()[0]["commands"][0]["status"] == "failed"


def test_the_prompt_cannot_smuggle_flags(repo: Repo, model: FakeModel, codex_env: dict[str, str]) -> None:
    repo.pipeline(codex_stage(prompt="--dangerously-bypass-approvals-and-sandbox"))
    model.script(Turn.exec_command("echo x > /etc/codex-orch-test-should-fail"), Turn.message("done"))
    result = repo.run("start", "--format", "jsonl", env=codex_env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "--dangerously-bypass-approvals-and-sandbox" in model.texts(0)[-1]  # it arrived as the prompt
    assert "Read-only file system" in model.outputs(model.requests[1]["input"][-1]["call_id"])[0]
    assert not os.path.exists("/etc/codex-orch-test-should-fail")


def test_codex_commands_cannot_write_the_run_store(repo: Repo, model: FakeModel, codex_env: dict[str, str]) -> None:
    """Our sandbox keeps the run store read-only for every command; Codex's --sandbox workspace-write does
    not, so the stage passes a permission profile that does (codex/permissions.py)."""
    repo.pipeline(codex_stage())
    model.script(Turn.exec_command("touch .runs/forged.json", call_id="forge"),
                 Turn.exec_command("echo '{}' > out/default/state.json", call_id="state"),
                 Turn.exec_command("echo ok > inside.txt"), Turn.message("tried"))
    result = repo.run("start", "--format", "jsonl", env=codex_env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert not (repo.root / ".runs" / "forged.json").exists()
    assert "Read-only file system" in model.outputs("forge")[0]
    assert "Read-only file system" in model.outputs("state")[0]
    assert json.loads((repo.root / "out" / "default" / "state.json").read_text())["runs"]
    assert (repo.root / "inside.txt").exists()  # the workspace itself stays writable
    argv = next(e["payload"]["command"] for e in events(result.stdout)
                if e["type"] == "tool:start" and e["payload"]["tool"] == "codex")
    assert "--sandbox" not in argv and 'default_permissions="codex-orchestrator-stage"' in argv


@pytest.mark.parametrize("layer", ["user", "project"])
def test_a_codex_layer_with_the_older_sandbox_settings_keeps_the_sandbox_flag(
        repo: Repo, model: FakeModel, codex_env: dict[str, str], layer: str) -> None:
    """Codex ignores a permission profile once any layer sets sandbox_mode; were --sandbox dropped then, a
    layer's `danger-full-access` would win over our policy (here workspace-write, from the user's
    environment, over the user's own Codex config). So the stage keeps --sandbox."""
    line = 'sandbox_mode = "danger-full-access"\n'
    codex_env = {**codex_env, "CODEX_ORCHESTRATOR_SANDBOX_MODE": "workspace-write"}
    if layer == "user":
        config = Path(codex_env["CODEX_HOME"]) / "config.toml"
        config.write_text(line + config.read_text())
    else:
        (repo.root / ".codex").mkdir()
        (repo.root / ".codex" / "config.toml").write_text(line)
    outside = Path(tempfile.mkdtemp(dir="/var/tmp"))  # not /tmp: workspace-write lets Codex write there
    repo.pipeline(codex_stage())
    model.script(Turn.exec_command(f"echo pwned > {outside}/escaped.txt", call_id="escape"), Turn.message("tried"))
    result = repo.run("start", "--format", "jsonl", env=codex_env, timeout=120)
    assert result.returncode == 0, result.stderr
    argv = next(e["payload"]["command"] for e in events(result.stdout)
                if e["type"] == "tool:start" and e["payload"]["tool"] == "codex")
    assert argv[argv.index("--sandbox") + 1] == "workspace-write"
    assert not any(arg.startswith("default_permissions=") for arg in argv)
    try:
        assert not (outside / "escaped.txt").exists()
        assert "Read-only file system" in model.outputs("escape")[0]
    finally:
        shutil.rmtree(outside)
