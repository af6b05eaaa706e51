"""Blame only the sandbox (W2-2 item 8): exit 126/127 of a program that could not run anyway is no denial."""

from __future__ import annotations

import pytest

from ..conftest import Repo, events


@pytest.mark.parametrize("target", ["./script.sh", "/tmp", "./missing.sh"])
def test_not_executable_is_not_a_sandbox_denial(repo: Repo, target: str) -> None:
    script = repo.root / "script.sh"
    script.write_text("echo hi\n")
    script.chmod(0o644)
    result = repo.run("exec", "--jsonl", "-a", "on-failure", "--approvals", "none", "--", target)
    assert result.returncode in (126, 127), result.stderr
    stream = events(result.stdout)
    assert not [e for e in stream if e["type"] == "approval:request"]  # no offer to leave the sandbox
    complete = next(e["payload"] for e in stream if e["type"] == "tool:complete")
    assert complete["sandboxState"] == "sandboxed" and complete["status"] == "failed"
    assert "sandbox denied" not in (complete.get("message") or "")


def test_a_real_denial_is_still_one(repo: Repo, tmp_path_factory: pytest.TempPathFactory) -> None:
    result = repo.run("exec", "--jsonl", "-a", "on-failure", "--approvals", "none", "--sandbox", "read-only",
                      "--", "touch", "x")
    stream = events(result.stdout)
    assert [e for e in stream if e["type"] == "approval:request"]
    assert result.returncode == 77


def test_the_run_store_keeps_git_status_clean(tmp_path_factory: pytest.TempPathFactory) -> None:
    import subprocess

    from ..conftest import run_cli

    root = tmp_path_factory.mktemp("gitrepo")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / "out").mkdir()
    (root / "out" / "index.html").write_text("a build output\n")
    assert run_cli("exec", "--jsonl", "--", "true", cwd=root).returncode == 0
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=root,
                            capture_output=True, text=True, check=True).stdout.split("\n")
    assert [line for line in status if line] == ["?? out/index.html"]  # ours are ignored, the build's is not
