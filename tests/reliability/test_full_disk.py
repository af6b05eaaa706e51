"""A full disk ends the run properly (W2-2 item 5): run:error and run:summary on stdout, exit 74 with one
line naming the file, the manifest not left in_progress, and never a torn line in events.jsonl."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import CLI, Repo, run_cli

SCRIPT = """
mount -t tmpfs -o size=400k tmpfs "$DIR" || exit 99
cd "$DIR" && mkdir .git
"$@" > "$OUT/stdout.jsonl" 2> "$OUT/stderr.txt"
echo $? > "$OUT/code"
cp -r "$DIR/.runs" "$OUT/runs"
"""


def test_a_full_disk_is_exit_74_with_everything_finalised(tmp_path: Path) -> None:
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare(1) to make a small tmpfs in a private mount namespace")
    small, out = tmp_path / "small", tmp_path / "out"
    small.mkdir()
    out.mkdir()
    command = [*CLI, "exec", "--jsonl", "--", "sh", "-c", "head -c 3000000 /dev/zero | tr '\\\\0' a"]
    result = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", SCRIPT, "sh", *command],
                            env={"DIR": str(small), "OUT": str(out), "PATH": "/usr/bin:/bin",
                                 "HOME": str(tmp_path), "CODEX_HOME": str(tmp_path / "ch"),
                                 "PYTHONPATH": ":".join(sys.path)},
                            capture_output=True, text=True, timeout=120)
    if result.returncode == 99 or not (out / "code").exists():
        pytest.skip(f"cannot mount a tmpfs in a user namespace here: {result.stderr[-300:]}")
    assert (out / "code").read_text().strip() == "74"
    stderr = (out / "stderr.txt").read_text()
    assert stderr.count("\n") == 1 and "No space left on device" in stderr
    assert "/.runs/default/cli/" in stderr  # names the run file it could not write (the log or events.jsonl)
    stream = [json.loads(line) for line in (out / "stdout.jsonl").read_text().splitlines()]
    assert [e["type"] for e in stream][-2:] == ["run:error", "run:summary"]
    assert stream[-2]["payload"]["code"] == 74 and stream[-2]["payload"]["path"] in stderr
    assert stream[-1]["payload"]["status"] == "failed"
    (run_dir,) = (out / "runs" / "default" / "cli").iterdir()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    events = (run_dir / "events.jsonl").read_bytes()
    assert events.endswith(b"\n")
    for line in events.splitlines():
        json.loads(line)  # every line whole


def test_a_torn_tail_is_cut_before_a_resume_appends(repo: Repo) -> None:
    repo.pipeline({"kind": "command", "id": "a", "title": "a", "command": "test -e ok"})
    assert repo.run("start", "--format", "jsonl").returncode == 1
    manifest = repo.manifests()[-1]
    events = Path(manifest["events_path"])
    with events.open("ab") as handle:
        handle.write(b'{"type":"exec:chunk","payload":{"da')  # what a kill -9 mid-write can leave
    (repo.root / "ok").touch()
    assert repo.run("resume", "--run", manifest["run_id"]).returncode == 0
    for line in events.read_bytes().splitlines():
        json.loads(line)


def test_a_nested_run_inside_the_sandbox_is_a_storage_error_not_a_crash(repo: Repo) -> None:
    """The run store is read-only inside the sandbox: a nested `exec` says so (exit 74), not "internal error"."""
    inner = " ".join([*map(shlex.quote, CLI), "exec", "--jsonl", "--", "true"])
    result = run_cli("exec", "--format", "summary", "--approval-policy", "never", "--", "sh", "-c", inner,
                     cwd=repo.root)
    summary = json.loads(result.stdout)
    assert summary["result"]["exitCode"] == 74
    assert "internal error" not in summary["outputs"]["stderrTail"]
    assert "Read-only file system" in summary["outputs"]["stderrTail"]
    assert "run store is read-only" in summary["outputs"]["stderrTail"]
