"""`load_config_cached` (serve, the Python API): the same answer as `load_config`, read afresh as soon as
any file it came from, or could have come from, changes."""

from __future__ import annotations

import json
import os
from pathlib import Path

from codex_orchestrator.config import load_config
from codex_orchestrator.config.resolver import load_config_cached

from ..conftest import Repo


def _env(home: Path) -> dict[str, str]:
    return {"HOME": str(home), "CODEX_HOME": str(home / ".codex"),
            "CODEX_ORCHESTRATOR_HOME": str(home / ".codex-orchestrator")}


def _same(a: object, b: object) -> None:
    assert {k: (s.value, s.source) for k, s in a.settings.items()} == \
        {k: (s.value, s.source) for k, s in b.settings.items()}  # type: ignore[attr-defined]


def test_a_cached_config_is_the_config_and_a_copy(repo: Repo, tmp_path: Path) -> None:
    env = _env(tmp_path / "home")
    first = load_config_cached(repo.root, {}, env)
    _same(first, load_config(repo.root, {}, env))
    first.settings.clear()  # a caller's change stays its own
    _same(load_config_cached(repo.root, {}, env), load_config(repo.root, {}, env))
    flagged = load_config_cached(repo.root, {"sandbox_mode": "read-only"}, env)
    assert flagged.get("sandbox_mode") == "read-only"  # flags are part of the key
    assert load_config_cached(repo.root, {}, {**env, "CODEX_ORCHESTRATOR_SANDBOX_MODE": "read-only"}) \
        .get("sandbox_mode") == "read-only"  # so is the environment


def test_every_source_file_changed_is_read_again(repo: Repo, tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = _env(home)
    sub = repo.root / "pkg" / "deep"
    sub.mkdir(parents=True)
    assert load_config_cached(sub, {}, env).get("approval_policy") == "on-request"

    # The user's Codex config.toml appears, then is edited in place (same size, new mtime).
    (home / ".codex").mkdir(parents=True, exist_ok=True)
    (home / ".codex" / "config.toml").write_text('approval_policy = "untrusted"\n')
    assert load_config_cached(sub, {}, env).get("approval_policy") == "untrusted"
    path = home / ".codex" / "config.toml"
    path.write_text('approval_policy = "on-failure"\n')
    os.utime(path, ns=(1, 1))
    assert load_config_cached(sub, {}, env).get("approval_policy") == "on-failure"

    # The repository tightens: a repo config at the root, then one in a folder nearer the command.
    repo.config({"sandbox_mode": "read-only"})
    assert load_config_cached(sub, {}, env).get("sandbox_mode") == "read-only"
    (repo.root / "pkg" / "codex.orchestrator.json").write_text(json.dumps({"approval_policy": "untrusted"}))
    nearer = load_config_cached(sub, {}, env)
    assert nearer.repo_root == repo.root / "pkg" and nearer.get("approval_policy") == "untrusted"

    # A `.git` made below the old root moves the project root there.
    (sub / ".git").mkdir()
    assert load_config_cached(sub, {}, env).repo_root == sub

    # The orchestrator's own config.toml.
    (home / ".codex-orchestrator").mkdir(exist_ok=True)
    (home / ".codex-orchestrator" / "config.toml").write_text("heartbeat_interval_seconds = 2.5\n")
    assert load_config_cached(sub, {}, env).get("heartbeat_interval_seconds") == 2.5


def test_a_folder_outside_any_repository_notices_a_repository_made_above_it(tmp_path: Path) -> None:
    env = _env(tmp_path / "home")
    work = tmp_path / "loose" / "a" / "b"
    work.mkdir(parents=True)
    assert load_config_cached(work, {}, env).repo_root == work  # no repository: the folder itself
    (tmp_path / "loose" / ".git").mkdir()
    assert load_config_cached(work, {}, env).repo_root == tmp_path / "loose"


def test_a_repo_config_replaced_by_a_link_is_read_again(repo: Repo, tmp_path: Path) -> None:
    env = _env(tmp_path / "home")
    repo.config({"sandbox_mode": "workspace-write"})
    assert load_config_cached(repo.root, {}, env).get("sandbox_mode") == "workspace-write"
    stricter = tmp_path / "stricter.json"
    stricter.write_text(json.dumps({"sandbox_mode": "read-only"}))
    (repo.root / "codex.orchestrator.json").unlink()
    (repo.root / "codex.orchestrator.json").symlink_to(stricter)
    assert load_config_cached(repo.root, {}, env).get("sandbox_mode") == "read-only"


def test_a_root_named_by_the_environment_is_watched_too(repo: Repo, tmp_path: Path) -> None:
    env = {**_env(tmp_path / "home"), "CODEX_ORCHESTRATOR_ROOT": str(repo.root)}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert load_config_cached(elsewhere, {}, env).repo_root == repo.root
    repo.config({"sandbox_mode": "read-only"})
    assert load_config_cached(elsewhere, {}, env).get("sandbox_mode") == "read-only"
