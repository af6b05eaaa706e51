"""The persistent approval store: format, permissions, corruption, concurrent writers."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from codex_orchestrator.errors import ConfigError
from codex_orchestrator.tools.approvals.keys import approval_key
from codex_orchestrator.tools.approvals.store import ApprovalStore


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_add_lookup_list_revoke_clear(tmp_path: Path) -> None:
    store = ApprovalStore(tmp_path / "store")
    key = approval_key(["git", "push"], tmp_path, True)
    assert store.lookup(key) is None and store.list() == []
    record = store.add(key, ["git", "push"], tmp_path, True, "prompt")
    assert re.fullmatch(r"apr_[0-9a-f]{12}", record.id)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record.created_at)
    assert (record.scope, record.decision, record.escalated) == ("always", "approved", True)
    assert record.source == "prompt"
    assert ApprovalStore(tmp_path / "store").lookup(key) == record  # another process sees it
    assert store.add(key, ["git", "push"], tmp_path, True, "stdin") == record  # no duplicate per key
    other = store.add(approval_key(["make"], tmp_path, False), ["make"], tmp_path, False, "stdin")
    assert [r.id for r in store.list()] == [record.id, other.id]
    assert store.revoke(record.id) is True
    assert store.revoke(record.id) is False
    assert store.lookup(key) is None
    assert store.clear() == 1
    assert store.clear() == 0 and store.list() == []


def test_file_format(tmp_path: Path) -> None:
    store = ApprovalStore(tmp_path / "store")
    key = approval_key(["ls"], tmp_path, False)
    record = store.add(key, ["ls"], tmp_path, False, "prompt")
    document = json.loads(store.path.read_text())
    assert document == {"version": 1, "approvals": [{
        "id": record.id, "key": key, "command": ["ls"], "cwd": str(tmp_path), "escalated": False,
        "scope": "always", "decision": "approved", "created_at": record.created_at, "source": "prompt",
    }]}


def test_private_modes_and_a_loose_file_is_tightened(tmp_path: Path) -> None:
    home = tmp_path / "store"
    store = ApprovalStore(home)
    store.add(approval_key(["ls"], tmp_path, False), ["ls"], tmp_path, False, "prompt")
    assert _mode(home) == 0o700 and _mode(store.path) == 0o600
    os.chmod(store.path, 0o644)
    os.chmod(home, 0o755)
    store.add(approval_key(["pwd"], tmp_path, False), ["pwd"], tmp_path, False, "prompt")
    assert _mode(home) == 0o700 and _mode(store.path) == 0o600
    assert len(store.list()) == 2


def test_reading_never_creates_anything(tmp_path: Path) -> None:
    store = ApprovalStore(tmp_path / "store")
    assert store.lookup("sha256:x") is None and store.list() == [] and store.clear() == 0
    assert not (tmp_path / "store").exists()


@pytest.mark.parametrize(("content", "words"), [
    ("{not json", "not valid JSON"),
    ("[]", "top level"),
    ('{"version": 2, "approvals": []}', "unsupported store version 2"),
    ('{"version": 1}', "approvals: expected a list"),
    ('{"version": 1, "approvals": [7]}', "approvals[0]: expected an object"),
    ('{"version": 1, "approvals": [{"id": "a"}]}', "approvals[0].key: expected a string"),
    ('{"version": 1, "approvals": [{"id": "a", "key": "k", "cwd": "/", "created_at": "t", "source": "s", '
     '"command": "ls", "escalated": false}]}', "approvals[0].command"),
    ('{"version": 1, "approvals": [{"id": "a", "key": "k", "cwd": "/", "created_at": "t", "source": "s", '
     '"command": ["ls"], "escalated": false, "scope": "session"}]}', 'only scope "always"'),
])
def test_a_corrupted_store_is_a_config_error(tmp_path: Path, content: str, words: str) -> None:
    store = ApprovalStore(tmp_path / "store")
    store.path.parent.mkdir()
    store.path.write_text(content)
    def add() -> object:
        return store.add("k", ["ls"], tmp_path, False, "x")

    for action in (lambda: store.lookup("k"), store.list, add):
        with pytest.raises(ConfigError) as caught:
            action()
        assert str(store.path) in str(caught.value) and words in str(caught.value)
    assert store.path.read_text() == content  # never overwritten: a person may want to repair it


def test_default_location_comes_from_the_environment(tmp_path: Path) -> None:
    explicit = ApprovalStore.default({"CODEX_ORCHESTRATOR_HOME": str(tmp_path / "o")})
    assert explicit.path == tmp_path / "o" / "approvals.json"
    from_home = ApprovalStore.default({"HOME": str(tmp_path)})
    assert from_home.path == tmp_path / ".codex-orchestrator" / "approvals.json"
    assert ApprovalStore.default({"CODEX_ORCHESTRATOR_HOME": "", "HOME": str(tmp_path)}).home == (
        tmp_path / ".codex-orchestrator")


ADD_ONE = """
import sys
from pathlib import Path
from codex_orchestrator.tools.approvals.keys import approval_key
from codex_orchestrator.tools.approvals.store import ApprovalStore
store = ApprovalStore(Path(sys.argv[1]))
sys.stdin.read()  # wait until every writer is started, then all add at once
argv = ["echo", sys.argv[2]]
store.add(approval_key(argv, Path("/"), False), argv, Path("/"), False, "prompt")
"""


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    home = tmp_path / "store"
    writers = [subprocess.Popen([sys.executable, "-c", ADD_ONE, str(home), str(n)], stdin=subprocess.PIPE,
                                stderr=subprocess.PIPE) for n in range(8)]
    for writer in writers:
        assert writer.stdin is not None
        writer.stdin.close()
    for writer in writers:
        assert writer.stderr is not None
        stderr = writer.stderr.read()
        assert writer.wait(timeout=60) == 0, stderr.decode()
    records = ApprovalStore(home).list()
    assert sorted(r.command[1] for r in records) == [str(n) for n in range(8)]
    assert len({r.id for r in records}) == 8
