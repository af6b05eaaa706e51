"""Approvals a hostile repository or command cannot bend (W2-1 items 10, 11, 12)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from codex_orchestrator.tools.approvals.keys import approval_key

from ..conftest import CLI, Repo, events, run_on_terminal
from ..tools.test_approvals_cli import _read_event


def _answer(proc: subprocess.Popen[str], decision: str) -> dict[str, object]:
    request = _read_event(proc, "approval:request")["payload"]
    assert proc.stdin is not None
    proc.stdin.write(json.dumps({"type": "approval:response", "requestId": request["requestId"],
                                 "decision": decision}) + "\n")
    proc.stdin.flush()
    return request


def test_untrusted_asks_again_before_leaving_the_sandbox_and_a_no_exits_77(tmp_path: Path) -> None:
    """Item 10: under `untrusted`, a command approved for the sandbox that prints "Permission denied"
    used to be rerun outside with no second question."""
    command = ["exec", "--jsonl", "--approvals", "stdin", "-a", "untrusted", "--sandbox", "read-only", "--",
               "sh", "-c", "echo hi > out.txt"]
    proc = subprocess.Popen([*CLI, *command], cwd=tmp_path, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    first = _answer(proc, "approved")
    second = _answer(proc, "denied")
    assert first["sandboxMode"] == "read-only" and second["sandboxMode"] == "danger-full-access"
    rest, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 77, stderr
    assert not (tmp_path / "out.txt").exists()
    assert events(rest)[-1]["payload"]["status"] == "failed"


def test_the_terminal_prompt_shows_control_characters_escaped(tmp_path: Path) -> None:
    """Item 11: `\\r\\x1b[2K` in a command must not let it pose as another on the approval prompt."""
    code, screen = run_on_terminal("exec", "-a", "untrusted", "--", "sh", "-c", "touch x\r\x1b[2Kls -la",
                                   cwd=tmp_path, answer=b"n\n")
    assert code == 77, screen
    assert "\x1b[2K" not in screen
    assert "\\r\\x1b[2K" in screen
    assert not (tmp_path / "x").exists()


def _store(home: Path, argv: list[str], cwd: Path, *, key_of: list[str] | None = None) -> Path:
    folder = home / ".codex-orchestrator"
    folder.mkdir(mode=0o700, exist_ok=True)
    record = {"id": "apr_1", "key": approval_key(key_of or argv, cwd, False), "command": argv, "cwd": str(cwd),
              "escalated": False, "scope": "always", "decision": "approved", "created_at": "2026-01-01T00:00:00Z",
              "source": "prompt"}
    path = folder / "approvals.json"
    path.write_text(json.dumps({"version": 1, "approvals": [record]}))
    path.chmod(0o600)
    return path


def test_a_stored_approval_works_when_private(repo: Repo, isolated_home: Path) -> None:
    _store(isolated_home, ["touch", "a"], repo.root)
    result = repo.run("exec", "--jsonl", "-a", "untrusted", "--approvals", "none", "--", "touch", "a")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("damage", ["file-0666", "dir-0777", "file-other-owner", "dir-other-owner"])
def test_a_store_others_could_write_is_refused(repo: Repo, isolated_home: Path, damage: str) -> None:
    """Item 12: approvals are permissions; a store others can write is not believed (as ssh treats keys)."""
    path = _store(isolated_home, ["touch", "a"], repo.root)
    target = path if damage.startswith("file") else path.parent
    if damage.endswith("other-owner"):
        os.chown(target, 65534, 65534)
    else:
        target.chmod(0o666 if target == path else 0o777)
    result = repo.run("exec", "--jsonl", "-a", "untrusted", "--approvals", "none", "--", "touch", "a")
    assert result.returncode == 77, result.stderr
    assert str(target) in result.stderr and "refusing to trust" in result.stderr
    assert not (repo.root / "a").exists()


def test_a_record_whose_key_does_not_match_its_command_is_ignored(repo: Repo, isolated_home: Path) -> None:
    """Item 12: `approvals list` would show `touch b` while the key silently approves `touch a`."""
    _store(isolated_home, ["touch", "b"], repo.root, key_of=["touch", "a"])
    result = repo.run("exec", "--jsonl", "-a", "untrusted", "--approvals", "none", "--", "touch", "a")
    assert result.returncode == 77
    assert "does not match its command" in result.stderr
    assert not (repo.root / "a").exists()
