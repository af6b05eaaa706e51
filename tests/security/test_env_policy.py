"""Codex's shell_environment_policy, honoured step for step; secrets stay out of what we print."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codex_orchestrator.exec.env import EnvPolicy, apply_policy

from ..conftest import Repo, events

BASE = {"PATH": "/usr/bin", "HOME": "/home/u", "OPENAI_API_KEY": "sk-1", "AWS_SECRET_ACCESS_KEY": "a",
        "GH_TOKEN": "t", "path_lower": "x", "FOO": "bar", "lc_all": "C"}


def test_default_is_codex_default_everything_passes() -> None:
    assert apply_policy(BASE, EnvPolicy()) == BASE


def test_default_excludes_when_not_ignored() -> None:
    env = apply_policy(BASE, EnvPolicy(ignore_default_excludes=False))
    assert set(env) == {"PATH", "HOME", "path_lower", "FOO", "lc_all"}


def test_inherit_core_is_case_insensitive_and_none_is_empty() -> None:
    assert set(apply_policy(BASE, EnvPolicy(inherit="core"))) == {"PATH", "HOME", "lc_all"}
    assert apply_policy(BASE, EnvPolicy(inherit="none", set={"ONLY": "1"})) == {"ONLY": "1"}


def test_exclude_then_set_then_include_only() -> None:
    policy = EnvPolicy(exclude=("foo", "*_key"), set={"NEW": "1", "FOO": "set-wins-over-exclude"},
                       include_only=("*o*", "new"))
    # Codex order: exclude drops FOO and OPENAI_API_KEY, set puts FOO back, include_only keeps names with o / NEW.
    assert apply_policy(BASE, policy) == {"FOO": "set-wins-over-exclude", "NEW": "1", "GH_TOKEN": "t",
                                          "HOME": "/home/u", "path_lower": "x"}


def test_the_policy_reaches_the_command(repo: Repo, isolated_home: Path) -> None:
    (isolated_home / ".codex" / "config.toml").write_text(
        '[shell_environment_policy]\nignore_default_excludes = false\nexclude = ["MY_*"]\nset = { ADDED = "yes" }\n')
    result = repo.run("exec", "--jsonl", "--", "env",
                      env={"OPENAI_API_KEY": "sk-live-123", "MY_VAR": "drop", "KEEP_ME": "ok"})
    assert result.returncode == 0, result.stderr
    out = "".join(e["payload"].get("data", "") for e in events(result.stdout) if e["type"] == "exec:chunk")
    assert "KEEP_ME=ok" in out and "ADDED=yes" in out
    assert "OPENAI_API_KEY" not in out and "MY_VAR" not in out


def test_a_repo_may_add_excludes_but_not_set(repo: Repo) -> None:
    repo.config({"shell_environment_policy": {"exclude": ["KEEP_*"]}})
    result = repo.run("exec", "--jsonl", "--", "env", env={"KEEP_ME": "ok", "OTHER": "1"})
    out = "".join(e["payload"].get("data", "") for e in events(result.stdout) if e["type"] == "exec:chunk")
    assert "KEEP_ME" not in out and "OTHER=1" in out
    repo.config({"shell_environment_policy": {"set": {"LD_PRELOAD": "evil.so"}}})
    result = repo.run("exec", "--jsonl", "--", "env")
    out = "".join(e["payload"].get("data", "") for e in events(result.stdout) if e["type"] == "exec:chunk")
    assert "LD_PRELOAD" not in out


@pytest.mark.parametrize("where", ["exec-env", "stage-env", "policy-set", "otel-header"])
def test_secret_values_never_reach_our_own_records(repo: Repo, isolated_home: Path, where: str) -> None:
    secret = "sk-SECRET-VALUE-4242"
    (isolated_home / ".codex" / "config.toml").write_text(
        f'[shell_environment_policy]\nset = {{ SERVICE_TOKEN = "{secret}" }}\n'
        f'[otel.exporter.otlp-http]\nendpoint = "http://127.0.0.1:1"\nheaders = {{ authorization = "{secret}" }}\n')
    if where == "stage-env":
        repo.pipeline({"kind": "command", "id": "s", "title": "s", "command": "true",
                       "env": {"API_TOKEN": secret}})
        outputs = [repo.run("start", "--format", "jsonl").stdout, repo.run("plan").stdout,
                   repo.run("plan", "--format", "json").stdout]
    else:
        outputs = [repo.run("exec", "--jsonl", "--env", f"API_TOKEN={secret}", "--", "true").stdout]
    outputs += [repo.run("config", "show").stdout, repo.run("config", "show", "--format", "json").stdout]
    for run_dir in (repo.root / ".runs").glob("*/cli/*"):
        outputs += [p.read_text() for p in run_dir.iterdir() if p.is_file() and p.suffix in (".json", ".jsonl")]
    for text in outputs:
        assert secret not in text
    shown = json.loads(repo.run("config", "show", "--format", "json").stdout)
    values = {row["key"]: row["value"] for row in shown["settings"]}
    assert values["shell_environment_policy.set"] == {"SERVICE_TOKEN": "[REDACTED]"}
