"""The configuration precedence matrix, with a real Codex config.toml."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codex_orchestrator.config import load_config
from codex_orchestrator.errors import ConfigError

from ..conftest import Repo, run_cli


def codex_toml(home: Path, text: str) -> None:
    (home / ".codex" / "config.toml").write_text(text)


def test_defaults(repo: Repo) -> None:
    config = load_config(repo.root, env={"CODEX_HOME": str(repo.root / "nohome")})
    assert config.get("approval_policy") == "on-request"
    assert config.get("sandbox_mode") == "workspace-write"
    assert config.get("sandbox_workspace_write.network_access") is False
    assert config.settings["approval_policy"].source == "default"


@pytest.mark.parametrize(
    ("codex", "repo_value", "env", "flag", "expected", "source"),
    [
        ("untrusted", None, None, None, "untrusted", "codex"),
        ("never", "on-request", None, None, "on-request", "repo"),  # repo tightens the global choice
        ("untrusted", "never", None, None, "untrusted", "codex"),  # repo may not loosen it
        ("untrusted", "never", "on-failure", None, "on-failure", "env"),
        ("untrusted", "never", "on-failure", "never", "never", "flag"),
        (None, "never", None, None, "on-request", "default"),  # nothing set by the user: the default holds
        (None, None, "untrusted", None, "untrusted", "env"),
    ],
)
def test_approval_policy_precedence(
    repo: Repo, isolated_home: Path, codex: str | None, repo_value: str | None, env: str | None,
    flag: str | None, expected: str, source: str,
) -> None:
    if codex:
        codex_toml(isolated_home, f'approval_policy = "{codex}"\nmodel = "ignored-by-us"\n')
    if repo_value:
        repo.config({"approval_policy": repo_value})
    environ = {"CODEX_HOME": str(isolated_home / ".codex")}
    if env:
        environ["CODEX_ORCHESTRATOR_APPROVAL_POLICY"] = env
    config = load_config(repo.root, {"approval_policy": flag} if flag else None, environ)
    assert config.get("approval_policy") == expected
    assert config.settings["approval_policy"].source.startswith(source)


def test_sandbox_and_network_from_codex_toml(repo: Repo, isolated_home: Path) -> None:
    codex_toml(isolated_home, 'sandbox_mode = "read-only"\n[sandbox_workspace_write]\nnetwork_access = false\n'
                              'writable_roots = ["/srv/cache"]\n')
    repo.config({"sandbox_mode": "danger-full-access", "sandbox_workspace_write": {"network_access": True}})
    config = load_config(repo.root, env={"CODEX_HOME": str(isolated_home / ".codex")})
    assert config.get("sandbox_mode") == "read-only"
    assert config.settings["sandbox_mode"].note  # says why the repo value was ignored
    assert config.get("sandbox_workspace_write.network_access") is False
    assert config.get("sandbox_workspace_write.writable_roots") == ["/srv/cache"]


def test_codex_profiles_are_files_as_in_codex_0_169(repo: Repo, isolated_home: Path) -> None:
    """W2-5: Codex 0.169 refuses the legacy `profile = "x"` selector and layers NAME.config.toml with -p."""
    env = {"CODEX_HOME": str(isolated_home / ".codex")}
    codex_toml(isolated_home, 'profile = "safe"\napproval_policy = "never"\n'
                              '[profiles.safe]\napproval_policy = "untrusted"\n')
    with pytest.raises(ConfigError, match="legacy `profile = 'safe'` config is no longer supported"):
        load_config(repo.root, env=env)
    codex_toml(isolated_home, 'approval_policy = "never"\n[profiles.safe]\napproval_policy = "untrusted"\n')
    assert load_config(repo.root, env=env).get("approval_policy") == "never"  # the table alone is ignored
    with pytest.raises(ConfigError, match=r"legacy \[profiles.safe\] table"):
        load_config(repo.root, env=env, profile="safe")
    codex_toml(isolated_home, 'approval_policy = "never"\n')
    (isolated_home / ".codex" / "safe.config.toml").write_text('approval_policy = "untrusted"\n')
    config = load_config(repo.root, env=env, profile="safe")
    assert config.get("approval_policy") == "untrusted" and config.profile == "safe"
    assert config.settings["approval_policy"].source.endswith("safe.config.toml")
    assert load_config(repo.root, env=env, profile="absent").get("approval_policy") == "never"  # an empty layer


def test_repo_writable_root_outside_repo_is_refused(repo: Repo) -> None:
    repo.config({"sandbox_workspace_write": {"writable_roots": ["../../etc"]}})
    with pytest.raises(ConfigError, match="outside the repository"):
        load_config(repo.root, env={})


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{not json", "invalid JSON"),
        ('{"approval_policy": "sometimes"}', "approval_policy: must be one of"),
        ('{"colour": "blue"}', "unknown key 'colour'"),
        ('{"sandbox_workspace_write": {"network_access": "yes"}}',
         "sandbox_workspace_write.network_access: expected boolean"),
        ('{"pipelines": [{"id": "a", "stages": [{"id": "s"}]}]}', "$.pipelines[0].stages[0].command: is required"),
        ('{"pipelines": [{"id": "a", "stages": [{"id": "s", "command": "x", "timout": 3}]}]}',
         "$.pipelines[0].stages[0].timout: unknown key"),
        ('[1, 2]', "expected a JSON object"),
    ],
)
def test_invalid_repo_config_is_one_clear_line(repo: Repo, document: str, message: str) -> None:
    (repo.root / "codex.orchestrator.json").write_text(document)
    result = repo.run("plan")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "codex.orchestrator.json" in lines[0]
    assert message in lines[0]


def test_invalid_codex_toml_is_one_clear_line(repo: Repo, isolated_home: Path) -> None:
    codex_toml(isolated_home, "approval_policy = \n")
    result = repo.run("config", "show")
    assert result.returncode == 2
    assert "config.toml: invalid TOML" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_env_value(repo: Repo) -> None:
    result = repo.run("config", "show", env={"CODEX_ORCHESTRATOR_RETRY_MAX_ATTEMPTS": "lots"})
    assert result.returncode == 2
    assert "CODEX_ORCHESTRATOR_RETRY_MAX_ATTEMPTS" in result.stderr


def test_config_show_json_names_sources(repo: Repo, isolated_home: Path) -> None:
    codex_toml(isolated_home, 'approval_policy = "untrusted"\n')
    repo.config({"project_doc_max_bytes": 1000})
    result = repo.run("config", "show", "--format", "json",
                      env={"CODEX_ORCHESTRATOR_SANDBOX_MODE": "read-only"})
    assert result.returncode == 0, result.stderr
    settings = {row["key"]: row for row in json.loads(result.stdout)["settings"]}
    assert settings["approval_policy"]["source"].startswith("codex:")
    assert settings["project_doc_max_bytes"]["source"].startswith("repo:")
    assert settings["sandbox_mode"]["source"] == "env:CODEX_ORCHESTRATOR_SANDBOX_MODE"
    assert settings["retry.backoff_ms"]["source"] == "default"


def test_config_alternate_location(repo: Repo) -> None:
    (repo.root / "config").mkdir()
    (repo.root / "config" / "orchestrator.json").write_text(json.dumps({"approval_policy": "untrusted"}))
    config = load_config(repo.root, env={})
    assert config.get("approval_policy") == "untrusted"


def test_flags_reach_config_show(tmp_path: Path) -> None:
    result = run_cli("config", "show", "--format", "json", "-a", "never", cwd=tmp_path)
    settings = {row["key"]: row for row in json.loads(result.stdout)["settings"]}
    assert settings["approval_policy"] == {"key": "approval_policy", "value": "never", "source": "flag"}
