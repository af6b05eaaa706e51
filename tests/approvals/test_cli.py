"""`approvals list|revoke|clear` through the real CLI process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from codex_orchestrator.tools.approvals.keys import approval_key
from codex_orchestrator.tools.approvals.store import ApprovalStore


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "codex_orchestrator.cli.main", "approvals", *args],
                          capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, env=dict(os.environ), timeout=60)


def _store() -> ApprovalStore:
    return ApprovalStore.default()


def test_list_revoke_clear(tmp_path: Path) -> None:
    empty = cli("list")
    assert empty.returncode == 0 and "no stored approvals" in empty.stdout
    store = _store()
    push = store.add(approval_key(["git", "push"], tmp_path, True), ["git", "push"], tmp_path, True, "prompt")
    store.add(approval_key(["make", "it so"], tmp_path, False), ["make", "it so"], tmp_path, False, "stdin")

    text = cli("list")
    assert text.returncode == 0, text.stderr
    assert push.id in text.stdout and "outside the sandbox" in text.stdout and "make 'it so'" in text.stdout

    listed = json.loads(cli("list", "--format", "json").stdout)
    assert listed["path"] == str(store.path)
    assert [a["command"] for a in listed["approvals"]] == [["git", "push"], ["make", "it so"]]

    revoked = cli("revoke", push.id)
    assert revoked.returncode == 0 and push.id in revoked.stdout
    assert [r.command for r in store.list()] == [("make", "it so")]

    unknown = cli("revoke", push.id)
    assert unknown.returncode == 66 and "no stored approval" in unknown.stderr
    assert "Traceback" not in unknown.stderr

    cleared = cli("clear")  # stdin is not a terminal: no question asked
    assert cleared.returncode == 0 and "removed 1 stored approval" in cleared.stdout
    assert store.list() == []


def test_a_corrupted_store_is_one_line_and_exit_2() -> None:
    store = _store()
    store.path.parent.mkdir(parents=True)
    store.path.write_text("{oops")
    result = cli("list")
    assert result.returncode == 2
    assert str(store.path) in result.stderr and "Traceback" not in result.stderr


def test_help_explains_with_examples() -> None:
    result = cli("--help")
    assert result.returncode == 0
    for words in ("approvals.json", "examples:", "revoke apr_", "clear --yes"):
        assert words in result.stdout
    bare = cli()
    assert bare.returncode == 2 and "list" in bare.stdout and "clear" in bare.stdout


def test_only_argparse_loads_when_registering() -> None:
    probe = subprocess.run([sys.executable, "-c", (
        "import sys, argparse\n"
        "from codex_orchestrator.cli import approvals_cmd\n"
        "approvals_cmd.register(argparse.ArgumentParser().add_subparsers())\n"
        "print(sorted(m for m in sys.modules if m.startswith('codex_orchestrator.tools')))\n")],
        capture_output=True, text=True, timeout=60)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "[]"
