"""`instructions` through a real interpreter: text, JSON, --against, errors, import cost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from instr_util import write

from codex_orchestrator.instructions import load_instructions

RUN_ID = "2026-11-23T19-59-45-401Z-3d499af8"

@pytest.fixture
def env(home: Path, tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CODEX_ORCHESTRATOR_", "CODEX_HOME"))}
    return {**clean, "CODEX_HOME": str(home), "HOME": str(tmp_path)}


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "codex_orchestrator.cli.main", "instructions", *args],
        env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60,
    )


def test_text_output(repo: Path, env: dict[str, str]) -> None:
    write(repo / "AGENTS.md", "# Guide\nbe brief\n")
    write(repo / "sub" / "AGENTS.md", "yolo\n")
    done = cli(env, "--cwd", str(repo / "sub"))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "sources (2):"
    assert lines[1].split()[:3] == ["repo", str(repo / "AGENTS.md"), "17"]
    assert lines[2].startswith(f"  repo    {repo / 'sub' / 'AGENTS.md'}  5 B  sha256:")
    assert lines[3] == "warnings (1):" and "mentions 'yolo'" in lines[4]
    assert lines[5].startswith("hash: sha256:")
    assert done.stdout.endswith("<!-- AGENTS.md: sub/AGENTS.md (repo) -->\nyolo\n")


def test_json_output_is_one_object_matching_the_library(repo: Path, home: Path, env: dict[str, str]) -> None:
    write(repo / "AGENTS.md", "root\n")
    done = cli(env, "--cwd", str(repo), "--format", "json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    expected = load_instructions(repo, codex_home=home)
    assert document == {"cwd": str(repo), **expected.to_manifest(), "text": expected.text}


def test_settings_come_from_the_shared_config(repo: Path, home: Path, env: dict[str, str]) -> None:
    write(home / "config.toml", 'project_doc_fallback_filenames = ["CLAUDE.md"]\n')
    write(repo / "CLAUDE.md", "fallback\n")
    document = json.loads(cli(env, "--cwd", str(repo), "--format", "json").stdout)
    assert [s["path"] for s in document["sources"]] == [str(repo / "CLAUDE.md")]

    env = {**env, "CODEX_ORCHESTRATOR_PROJECT_DOC_MAX_BYTES": "0"}
    document = json.loads(cli(env, "--cwd", str(repo), "--format", "json").stdout)
    assert document["sources"] == [] and document["text"] == ""


def test_against_a_run_reports_drift(repo: Path, home: Path, env: dict[str, str]) -> None:
    path = write(repo / "AGENTS.md", "root\n")
    recorded = load_instructions(repo, codex_home=home).to_manifest()
    manifest = repo / ".runs" / "task-1" / "cli" / RUN_ID / "manifest.json"
    write(manifest, json.dumps({"run_id": RUN_ID, "instructions": recorded}))

    same = json.loads(cli(env, "--cwd", str(repo), "--format", "json", "--against", RUN_ID).stdout)
    assert same["against"]["drifted"] is False and same["against"]["manifest"] == str(manifest)
    assert "drift since run " + RUN_ID + ": none" in cli(env, "--cwd", str(repo), "--against", RUN_ID).stdout

    path.write_text("root, edited\n")
    done = cli(env, "--cwd", str(repo), "--against", RUN_ID)
    assert done.returncode == 0, done.stderr
    assert f"drift since run {RUN_ID}: hash {recorded['hash']} -> sha256:" in done.stdout
    assert f"  changed {path}" in done.stdout


def test_an_unknown_run_is_not_found(repo: Path, env: dict[str, str]) -> None:
    done = cli(env, "--cwd", str(repo), "--against", RUN_ID)
    assert done.returncode == 66
    assert f"run {RUN_ID} not found" in done.stderr and str(repo / ".runs") in done.stderr


def test_bad_input_is_a_usage_error(repo: Path, env: dict[str, str]) -> None:
    assert cli(env, "--cwd", str(repo), "--against", "../../etc").returncode == 2
    done = cli(env, "--cwd", str(repo / "missing"))
    assert done.returncode == 2 and "not a directory" in done.stderr


def test_help_has_examples(env: dict[str, str]) -> None:
    done = cli(env, "--help")
    assert done.returncode == 0
    assert "--against RUN_ID" in done.stdout and "codex-orchestrator instructions --cwd" in done.stdout


def test_registering_the_command_imports_only_argparse(env: dict[str, str]) -> None:
    code = (
        "import sys\nfrom codex_orchestrator.cli import instructions_cmd\n"
        "print(sorted(m for m in sys.modules if m.startswith('codex_orchestrator')))"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(
        ["codex_orchestrator", "codex_orchestrator._lazy", "codex_orchestrator.cli",
         "codex_orchestrator.cli.instructions_cmd"]
    )
