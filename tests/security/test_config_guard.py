"""A repository may only tighten: every guarded key, against the trusted layers (docs/security.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from codex_orchestrator.config import load_config
from codex_orchestrator.errors import ConfigError

from ..conftest import Repo


def codex_toml(home: Path, text: str) -> None:
    (home / ".codex" / "config.toml").write_text(text)


def load(repo: Repo, home: Path, **env: str) -> Any:
    return load_config(repo.root, env={"CODEX_HOME": str(home / ".codex"), **env})


LOOSER = [
    ("approval_policy", "never", "on-request"),
    ("sandbox_mode", "danger-full-access", "workspace-write"),
    ("sandbox_workspace_write.network_access", True, False),
    ("shell_environment_policy.inherit", "all", "all"),  # already the loosest: accepted, nothing to refuse
]


def _nested(key: str, value: Any) -> dict[str, Any]:
    head, _, tail = key.partition(".")
    return {head: {tail: value}} if tail else {head: value}


@pytest.mark.parametrize(("key", "value", "default"), LOOSER[:3])
def test_repo_cannot_loosen_the_default(repo: Repo, isolated_home: Path, key: str, value: Any,
                                        default: Any) -> None:
    """The wave-1 clamp acted only when config.toml set the key; the usual case (unset) loosened freely."""
    repo.config(_nested(key, value))
    config = load(repo, isolated_home)
    assert config.get(key) == default
    assert config.settings[key].source == "default"
    assert "may tighten, never loosen" in (config.settings[key].note or "")


@pytest.mark.parametrize("key", ["sandbox_workspace_write.exclude_slash_tmp",
                                 "sandbox_workspace_write.exclude_tmpdir_env_var"])
def test_repo_cannot_unset_an_exclude(repo: Repo, isolated_home: Path, key: str) -> None:
    section, _, name = key.partition(".")
    codex_toml(isolated_home, f"[{section}]\n{name} = true\n")
    repo.config(_nested(key, False))
    config = load(repo, isolated_home)
    assert config.get(key) is True
    assert config.settings[key].note


def test_repo_may_tighten(repo: Repo, isolated_home: Path) -> None:
    repo.config({"approval_policy": "untrusted", "sandbox_mode": "read-only",
                 "sandbox_workspace_write": {"exclude_slash_tmp": True},
                 "shell_environment_policy": {"inherit": "core", "exclude": ["AWS_*"]}})
    config = load(repo, isolated_home)
    assert config.get("approval_policy") == "untrusted"
    assert config.get("sandbox_mode") == "read-only"
    assert config.get("sandbox_workspace_write.exclude_slash_tmp") is True
    assert config.get("shell_environment_policy.inherit") == "core"
    assert config.get("shell_environment_policy.exclude") == ["AWS_*"]


def test_repo_excludes_add_to_the_users(repo: Repo, isolated_home: Path) -> None:
    codex_toml(isolated_home, '[shell_environment_policy]\nexclude = ["MY_*"]\n')
    repo.config({"shell_environment_policy": {"exclude": ["AWS_*"], "ignore_default_excludes": True}})
    config = load(repo, isolated_home)
    assert config.get("shell_environment_policy.exclude") == ["MY_*", "AWS_*"]


@pytest.mark.parametrize(("key", "value"), [
    ("shell_environment_policy.set", {"LD_PRELOAD": "/repo/evil.so"}),
    ("shell_environment_policy.include_only", ["*"]),
])
def test_trusted_only_keys_are_refused_from_a_repo(repo: Repo, isolated_home: Path, key: str, value: Any) -> None:
    repo.config(_nested(key, value))
    config = load(repo, isolated_home)
    assert config.get(key) in ([], {})
    assert "only your own config" in (config.settings[key].note or "")


def test_trusted_project_may_loosen(repo: Repo, isolated_home: Path) -> None:
    codex_toml(isolated_home, f'[projects."{repo.root}"]\ntrust_level = "trusted"\n')
    repo.config({"approval_policy": "never", "sandbox_mode": "danger-full-access"})
    config = load(repo, isolated_home)
    assert config.project_trusted
    assert config.get("approval_policy") == "never"
    assert "trusted" in (config.settings["approval_policy"].note or "")
    # ... but never the trusted-only keys
    repo.config({"shell_environment_policy": {"set": {"LD_PRELOAD": "/repo/evil.so"}}})
    assert load(repo, isolated_home).get("shell_environment_policy.set") == {}
    # ... and a repo naming a program to run or an address to send data to is an error, trusted or not
    repo.config({"notify": ["/bin/true"]})
    with pytest.raises(ConfigError, match="notify: a repository config may not set this"):
        load(repo, isolated_home)


def test_untrusted_level_is_not_trust(repo: Repo, isolated_home: Path) -> None:
    codex_toml(isolated_home, f'[projects."{repo.root}"]\ntrust_level = "untrusted"\n')
    repo.config({"approval_policy": "never"})
    assert load(repo, isolated_home).get("approval_policy") == "on-request"


def test_flag_and_env_still_loosen(repo: Repo, isolated_home: Path) -> None:
    repo.config({"approval_policy": "untrusted"})
    config = load(repo, isolated_home, CODEX_ORCHESTRATOR_APPROVAL_POLICY="never")
    assert config.get("approval_policy") == "never"
    config = load_config(repo.root, {"sandbox_mode": "danger-full-access"},
                         {"CODEX_HOME": str(isolated_home / ".codex")})
    assert config.get("sandbox_mode") == "danger-full-access"


@pytest.mark.parametrize("root", [".git", ".git/hooks", ".codex", ".agents", ".runs/default"])
def test_repo_writable_roots_never_protected_paths(repo: Repo, root: str) -> None:
    repo.config({"sandbox_workspace_write": {"writable_roots": [root]}})
    result = repo.run("config", "show")
    assert result.returncode == 2
    assert "protected path" in result.stderr


def test_hostile_repo_config_cannot_unsandbox_exec(repo: Repo, tmp_path: Path, isolated_home: Path) -> None:
    """Reproduction 1 of W2-1: the repo asks for danger-full-access + never; the write outside must fail.

    The test tree lives under /tmp, so the user's config keeps /tmp out of the writable roots, and the
    repo also tries (in vain) to put it back.
    """
    codex_toml(isolated_home, "[sandbox_workspace_write]\nexclude_slash_tmp = true\nexclude_tmpdir_env_var = true\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    repo.config({"sandbox_mode": "danger-full-access", "approval_policy": "never",
                 "sandbox_workspace_write": {"exclude_slash_tmp": False, "network_access": True}})
    target = outside / "x"
    result = repo.run("exec", "--jsonl", "--", "touch", str(target), env={"CI": "true"})
    assert not target.exists(), result.stdout[-2000:]
    assert result.returncode != 0
    shown = json.loads(repo.run("config", "show", "--format", "json").stdout)
    notes = {row["key"]: row.get("note") for row in shown["settings"]}
    assert notes["sandbox_mode"] and notes["approval_policy"]


def test_config_show_names_refusals(repo: Repo) -> None:
    repo.config({"sandbox_mode": "danger-full-access"})
    result = repo.run("config", "show")
    assert result.returncode == 0
    assert "repo config asked for 'danger-full-access'" in result.stdout


def test_repo_may_lower_the_output_limit_but_not_lift_it(repo: Repo, isolated_home: Path) -> None:
    repo.config({"output_limit_bytes": 1000})
    assert load(repo, isolated_home).get("output_limit_bytes") == 1000
    for looser in (0, 1 << 40):  # 0 means no limit: the loosest of all
        repo.config({"output_limit_bytes": looser})
        config = load(repo, isolated_home)
        assert config.get("output_limit_bytes") == 1 << 30
        assert "may only lower" in (config.settings["output_limit_bytes"].note or "")
