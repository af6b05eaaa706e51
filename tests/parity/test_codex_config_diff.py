"""Config, environment and flags side by side with the real `codex` 0.169 (`codex sandbox`), issue #12.

`codex sandbox [-p NAME] [-c k=v] -- CMD` runs a command with Codex's own config
resolution and sandbox, so what it lets a command write, and the environment it
gives it, is Codex's behaviour for the same config files.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from codex_orchestrator.config import load_config
from codex_orchestrator.errors import ConfigError
from tests.conftest import run_cli
from tests.peers import codex_bin, codex_home_outside_tmp


@pytest.fixture
def codex_home() -> Iterator[Path]:
    home = codex_home_outside_tmp()
    yield home
    shutil.rmtree(home, ignore_errors=True)


def codex_sandbox(home: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(codex_bin()), "sandbox", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "CODEX_HOME": str(home)})


def test_legacy_profile_selector_is_refused_by_both(codex_home: Path, tmp_path: Path) -> None:
    (codex_home / "config.toml").write_text('profile = "x"\n[profiles.x]\nsandbox_mode = "read-only"\n')
    theirs = codex_sandbox(codex_home, tmp_path, "--", "true")
    assert theirs.returncode != 0 and "legacy `profile = \"x\"`" in theirs.stderr
    with pytest.raises(ConfigError, match="legacy `profile = 'x'`"):
        load_config(tmp_path, env={"CODEX_HOME": str(codex_home)})


def test_profile_table_with_dash_p_is_refused_by_both(codex_home: Path, tmp_path: Path) -> None:
    (codex_home / "config.toml").write_text('[profiles.x]\nsandbox_mode = "read-only"\n')
    assert codex_sandbox(codex_home, tmp_path, "--", "true").returncode == 0  # the table alone: ignored
    load_config(tmp_path, env={"CODEX_HOME": str(codex_home)})
    theirs = codex_sandbox(codex_home, tmp_path, "-p", "x", "--", "true")
    assert theirs.returncode != 0 and "[profiles.x]" in theirs.stderr
    with pytest.raises(ConfigError, match=r"\[profiles.x\]"):
        load_config(tmp_path, env={"CODEX_HOME": str(codex_home)}, profile="x")


def test_dash_p_layers_name_config_toml_in_both(codex_home: Path, tmp_path: Path) -> None:
    (codex_home / "config.toml").write_text('sandbox_mode = "workspace-write"\n')
    (codex_home / "ro.config.toml").write_text('sandbox_mode = "read-only"\n')
    theirs = codex_sandbox(codex_home, tmp_path, "-p", "ro", "--", "touch", "f")
    assert theirs.returncode != 0 and not (tmp_path / "f").exists()  # read-only from the profile
    config = load_config(tmp_path, env={"CODEX_HOME": str(codex_home)}, profile="ro")
    assert config.get("sandbox_mode") == "read-only"
    missing = codex_sandbox(codex_home, tmp_path, "-p", "absent", "--", "true")
    assert missing.returncode == 0  # a profile without a file is an empty layer
    assert load_config(tmp_path, env={"CODEX_HOME": str(codex_home)}, profile="absent").profile == "absent"


def test_relative_writable_roots_resolve_like_codex(codex_home: Path, tmp_path: Path) -> None:
    """Issue #12 item 8: a relative root in config.toml is under $CODEX_HOME; one from -c under cwd."""
    (codex_home / "rel").mkdir()
    (tmp_path / "rel").mkdir()
    (codex_home / "config.toml").write_text('[sandbox_workspace_write]\nwritable_roots = ["rel"]\n')
    script = f"touch {codex_home}/rel/a && echo home-ok; touch {tmp_path}/rel/b && echo cwd-ok"
    theirs = codex_sandbox(codex_home, tmp_path / "rel", "-c", 'sandbox_mode="workspace-write"', "--", "sh", "-c",
                           script.replace(f"{tmp_path}/rel/b", "/nonexistent/b"))
    assert "home-ok" in theirs.stdout, theirs.stderr
    config = load_config(tmp_path, env={"CODEX_HOME": str(codex_home)})
    assert config.get("sandbox_workspace_write.writable_roots") == [str(codex_home / "rel")]
    from_flag = load_config(tmp_path, env={"CODEX_HOME": str(codex_home)},
                            overrides=['sandbox_workspace_write.writable_roots=["rel"]'])
    assert from_flag.get("sandbox_workspace_write.writable_roots") == [str(tmp_path / "rel")]
    assert from_flag.settings["sandbox_workspace_write.writable_roots"].source == "flag:-c"


@pytest.mark.parametrize(("mode", "disabled"), [("read-only", True), ("workspace-write", True),
                                                 ("danger-full-access", False)])
def test_network_disabled_variable_matches_codex(codex_home: Path, tmp_path: Path, mode: str, disabled: bool) -> None:
    """Issue #12 item 8: CODEX_SANDBOX_NETWORK_DISABLED=1 whenever the sandbox blocks the network."""
    theirs = codex_sandbox(codex_home, tmp_path, "-c", f'sandbox_mode="{mode}"', "--", "env")
    assert ("CODEX_SANDBOX_NETWORK_DISABLED=1" in theirs.stdout) is disabled, theirs.stderr
    ours = run_cli("exec", "--format", "summary", "--sandbox", mode, "-a", "never", "--",
                   "sh", "-c", "echo net=${CODEX_SANDBOX_NETWORK_DISABLED:-unset}", cwd=tmp_path)
    assert ours.returncode == 0, ours.stderr
    tail = json.loads(ours.stdout)["outputs"]["stdoutTail"]
    assert ("net=1" in tail) is disabled and ("net=unset" in tail) is not disabled


def test_dash_c_values_are_toml_or_literal_strings(tmp_path: Path) -> None:
    config = load_config(tmp_path, env={}, overrides=[
        "approval_policy=never", 'sandbox_mode="read-only"', "sandbox_workspace_write.network_access=true",
        "shell_environment_policy.set.FOO=bar", "model=o3"])  # `model` is Codex's, not ours: ignored
    assert config.get("approval_policy") == "never"  # not TOML: the literal string, as in Codex
    assert config.get("sandbox_mode") == "read-only"
    assert config.get("sandbox_workspace_write.network_access") is True
    assert config.get("shell_environment_policy.set") == {"FOO": "bar"}
    assert config.settings["approval_policy"].source == "flag:-c"
    flag_wins = load_config(tmp_path, {"approval_policy": "on-request"}, env={}, overrides=["approval_policy=never"])
    assert flag_wins.get("approval_policy") == "on-request"


@pytest.mark.parametrize(("granular", "expected"), [
    ("{ sandbox_approval = true, rules = true, mcp_elicitations = false }", "on-request"),
    ("{ sandbox_approval = false, rules = false, mcp_elicitations = true, skill_approval = true }", "never"),
])
def test_granular_approval_policy_maps_to_a_policy(isolated_home: Path, tmp_path: Path, granular: str,
                                                   expected: str) -> None:
    """Issue #12 item 5: a granular table no longer stops everything."""
    (isolated_home / ".codex" / "config.toml").write_text(f"approval_policy = {{ granular = {granular} }}\n")
    assert load_config(tmp_path).get("approval_policy") == expected


def test_granular_without_an_equivalent_says_what_to_write(isolated_home: Path, tmp_path: Path) -> None:
    (isolated_home / ".codex" / "config.toml").write_text(
        "[approval_policy.granular]\nsandbox_approval = true\nrules = false\nmcp_elicitations = false\n")
    with pytest.raises(ConfigError, match=r'write approval_policy = "on-request" .* or "never"'):
        load_config(tmp_path)
    (isolated_home / ".codex" / "config.toml").write_text("[approval_policy.granular]\nrules = true\n")
    with pytest.raises(ConfigError, match="missing sandbox_approval"):
        load_config(tmp_path)
    result = run_cli("config", "show", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_config_show_names_the_profile_and_each_file(isolated_home: Path, tmp_path: Path) -> None:
    home = isolated_home / ".codex"
    (home / "config.toml").write_text('approval_policy = "never"\n')
    (home / "ci.config.toml").write_text('sandbox_mode = "read-only"\n')
    shown = json.loads(run_cli("config", "show", "--format", "json", "-p", "ci", "-c", "retry.max_attempts=5",
                               cwd=tmp_path).stdout)
    assert shown["profile"] == "ci"
    sources = {row["key"]: row["source"] for row in shown["settings"]}
    assert sources["approval_policy"] == f"codex:{home / 'config.toml'}"
    assert sources["sandbox_mode"] == f"codex:{home / 'ci.config.toml'}"
    assert sources["retry.max_attempts"] == "flag:-c"
    text = run_cli("config", "show", "--profile", "ci", cwd=tmp_path).stdout
    assert "profile:      ci" in text


def test_cd_add_dir_and_bypass_flags(tmp_path: Path) -> None:
    """Issue #12 item 7: -C/--cd, --add-dir and --dangerously-bypass-approvals-and-sandbox, as in Codex."""
    work, extra = tmp_path / "work", tmp_path / "extra"
    work.mkdir()
    extra.mkdir()
    done = run_cli("exec", "--format", "summary", "-a", "never", "-C", str(work), "--add-dir", str(extra),
                   "-c", "sandbox_workspace_write.exclude_slash_tmp=true", "--",
                   "sh", "-c", f"pwd; touch {extra}/x", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["outputs"]["stdoutTail"].strip() == str(work)
    assert (extra / "x").exists()
    no_tmp = ("-c", "sandbox_workspace_write.exclude_slash_tmp=true",
              "-c", "sandbox_workspace_write.exclude_tmpdir_env_var=true")  # tmp_path is under /tmp
    denied = run_cli("exec", "--format", "summary", "-a", "never", "-C", str(work), *no_tmp, "--",
                     "sh", "-c", f"touch {extra}/y", cwd=tmp_path)
    assert denied.returncode != 0 and not (extra / "y").exists()  # without --add-dir the sandbox refuses
    bypass = run_cli("exec", "--format", "summary", "--dangerously-bypass-approvals-and-sandbox", "--",
                     "sh", "-c", f"touch {extra}/z", cwd=work)
    assert bypass.returncode == 0 and (extra / "z").exists()
    assert "without the sandbox" in bypass.stderr  # the warning
    summary = json.loads(bypass.stdout)
    assert summary["toolRun"]["sandboxState"] == "unsandboxed"
    clash = run_cli("exec", "--dangerously-bypass-approvals-and-sandbox", "-s", "read-only", "--", "true", cwd=work)
    assert clash.returncode == 2 and "cannot be combined" in clash.stderr
    missing = run_cli("exec", "-C", str(tmp_path / "absent"), "--", "true", cwd=work)
    assert missing.returncode == 2
