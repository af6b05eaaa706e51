"""Real escape attempts against both backends: each must fail and leave nothing behind."""

from __future__ import annotations

import os
import select
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from codex_orchestrator.sandbox import SandboxMode, SandboxPolicy, is_likely_denial

from .conftest import PYTHON, Workspace, require_backend, require_program, run

ESCAPES = {
    "outside": 'echo x > "$OUTSIDE/escaped"',
    "home": 'echo x > "$HOME/escaped"',
    "git-create": "echo x > .git/hooks/post-checkout",
    "git-append": "echo '[evil]' >> .git/config",
    "git-mkdir": "mkdir .git/evil",
    "git-rename": "mv .git .git-moved",
    "git-delete": "rm -rf .git/hooks",
    "symlink": 'ln -s "$OUTSIDE" link && echo x > link/escaped',
    "symlink-dir": 'ln -s "$OUTSIDE" link && mkdir link/made',
    "hardlink": 'echo x > mine && ln mine "$OUTSIDE/linked"',
}


def snapshot(*bases: Path) -> dict[str, bytes | None]:
    return {str(p): (p.read_bytes() if p.is_file() else None) for base in bases for p in base.rglob("*")}


@pytest.mark.parametrize("attempt", sorted(ESCAPES))
def test_workspace_write_escape_fails_and_leaves_nothing(workspace: Workspace, backend: str,
                                                         attempt: str) -> None:
    before = snapshot(workspace.outside, workspace.home, workspace.root / ".git")
    env = {**os.environ, "OUTSIDE": str(workspace.outside), "HOME": str(workspace.home)}
    result = run(workspace.policy, ["sh", "-c", ESCAPES[attempt]], workspace.root, backend=backend, env=env)
    assert result.returncode != 0, result
    assert snapshot(workspace.outside, workspace.home, workspace.root / ".git") == before
    assert (workspace.root / ".git" / "config").read_text() == "[core]\n"
    # The failure is one a sandbox causes, and our detector says so (except renaming a mount
    # point, which fails with EBUSY: too common an error to count as a denial).
    denied = is_likely_denial(result.returncode, None, result.stderr, sandboxed=True, network_blocked=True)
    assert denied or attempt == "git-rename", result


def test_writes_inside_workspace_and_tmp_succeed(workspace: Workspace, backend: str) -> None:
    in_tmp = Path("/tmp") / f"codex-orchestrator-sandbox-{uuid.uuid4().hex}"
    policy = SandboxPolicy(SandboxMode.WORKSPACE_WRITE)
    script = ("echo a > made && mkdir -p d/e && mv made d/e/moved && ln -s d l && echo b > l/x"
              f' && echo c > "{in_tmp}"')
    try:
        result = run(policy, ["sh", "-c", script], workspace.root, backend=backend)
        assert result.returncode == 0, result.stderr
        assert (workspace.root / "d" / "e" / "moved").read_text() == "a\n"
        assert (workspace.root / "d" / "x").read_text() == "b\n"
        assert in_tmp.read_text() == "c\n"
    finally:
        in_tmp.unlink(missing_ok=True)


def test_extra_writable_root_and_tmpdir(workspace: Workspace, backend: str, tmp_path: Path) -> None:
    extra, tmpdir = tmp_path / "extra", tmp_path / "tmpdir"
    extra.mkdir()
    tmpdir.mkdir()
    policy = SandboxPolicy(SandboxMode.WORKSPACE_WRITE, writable_roots=(extra,), exclude_slash_tmp=True)
    env = {**os.environ, "TMPDIR": str(tmpdir)}
    result = run(policy, ["sh", "-c", f'echo x > "{extra}/a" && echo y > "$TMPDIR/b"'], workspace.root,
                 backend=backend, env=env)
    assert result.returncode == 0, result.stderr
    assert (extra / "a").exists() and (tmpdir / "b").exists()


def test_read_only_refuses_writes_to_cwd(workspace: Workspace, backend: str) -> None:
    policy = SandboxPolicy(SandboxMode.READ_ONLY)
    result = run(policy, ["sh", "-c", "cat .git/config && echo x > made"], workspace.root, backend=backend)
    assert result.returncode != 0
    assert result.stdout == "[core]\n"  # reading is fine
    assert not (workspace.root / "made").exists()


def test_read_only_still_allows_dev_null_and_reads(workspace: Workspace, backend: str) -> None:
    policy = SandboxPolicy(SandboxMode.READ_ONLY)
    script = "echo x > /dev/null && ls / > /dev/null && head -c 4 /dev/zero | wc -c"
    result = run(policy, ["sh", "-c", script], workspace.root, backend=backend)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "4"


def test_danger_full_access_allows_writes(workspace: Workspace) -> None:
    policy = SandboxPolicy(SandboxMode.DANGER_FULL_ACCESS)
    script = f'echo x > "{workspace.outside}/a" && echo y >> .git/config'
    result = run(policy, ["sh", "-c", script], workspace.root, backend="auto")
    assert result.returncode == 0, result.stderr
    assert (workspace.outside / "a").exists()
    assert (workspace.root / ".git" / "config").read_text() == "[core]\ny\n"


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock


CONNECT = ("import socket, sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=5);"
           "print('connected')")


def connect_argv(sock: socket.socket) -> list[str]:
    return [PYTHON, "-I", "-S", "-c", CONNECT, str(sock.getsockname()[1])]


def pending_connection(sock: socket.socket) -> bool:
    # The child has exited: a connect that got through is already queued for accept().
    return bool(select.select([sock], [], [], 0)[0])


def test_tcp_connect_to_host_listener_is_blocked(workspace: Workspace, backend: str,
                                                 listener: socket.socket) -> None:
    result = run(workspace.policy, connect_argv(listener), workspace.root, backend=backend)
    assert result.returncode != 0
    assert "connected" not in result.stdout
    assert not pending_connection(listener)
    assert is_likely_denial(result.returncode, None, result.stderr, sandboxed=True, network_blocked=True)


def test_read_only_blocks_network(workspace: Workspace, backend: str, listener: socket.socket) -> None:
    policy = SandboxPolicy(SandboxMode.READ_ONLY, network_access=True)
    result = run(policy, connect_argv(listener), workspace.root, backend=backend)
    assert result.returncode != 0
    assert not pending_connection(listener)


def test_network_access_lets_connect_through(workspace: Workspace, backend: str,
                                             listener: socket.socket) -> None:
    policy = SandboxPolicy(SandboxMode.WORKSPACE_WRITE, network_access=True, exclude_slash_tmp=True)
    result = run(policy, connect_argv(listener), workspace.root, backend=backend)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "connected"
    assert pending_connection(listener)


def test_private_loopback_works_inside(workspace: Workspace, backend: str) -> None:
    """Network off still leaves the sandbox its own loopback, so local test servers work."""
    script = ("import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1);"
              "c = socket.create_connection(s.getsockname(), timeout=5); print('ok')")
    result = run(workspace.policy, [PYTHON, "-I", "-S", "-c", script], workspace.root, backend=backend)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_cannot_remount_git_read_write(workspace: Workspace, backend: str, request: pytest.FixtureRequest) -> None:
    require_program("mount", request.config)
    git = workspace.root / ".git"
    script = (f'mount -o remount,rw "{git}"; mount -o remount,bind,rw "{git}"; umount "{git}";'
              f' echo x > "{git}/new"')
    result = run(workspace.policy, ["sh", "-c", script], workspace.root, backend=backend)
    assert result.returncode != 0
    assert not (git / "new").exists()


def test_cannot_setns_back_to_host_network(workspace: Workspace, backend: str,
                                           listener: socket.socket, request: pytest.FixtureRequest) -> None:
    require_program("nsenter", request.config)
    argv = ["nsenter", "--net=/proc/1/ns/net", *connect_argv(listener)]
    result = run(workspace.policy, argv, workspace.root, backend=backend)
    assert result.returncode != 0
    assert not pending_connection(listener)


def test_worktree_git_file_points_to_read_only_gitdir(tmp_path: Path, backend: str) -> None:
    """A worktree's `.git` is a file; the gitdir it names and that gitdir's commondir stay read-only."""
    shared = tmp_path / "shared"  # a writable root, like /tmp, holding the real repository
    common = shared / "main.git"
    gitdir = common / "worktrees" / "wt"
    gitdir.mkdir(parents=True)
    (gitdir / "commondir").write_text("../..\n")
    (gitdir / "HEAD").write_text("ref: refs/heads/main\n")
    worktree = tmp_path / "wt"
    worktree.mkdir()
    (worktree / ".git").write_text(f"gitdir: {gitdir}\n")
    policy = SandboxPolicy(SandboxMode.WORKSPACE_WRITE, writable_roots=(shared,), exclude_slash_tmp=True,
                           exclude_tmpdir_env_var=True)
    for target in (gitdir / "HEAD", common / "config", shared / "ok"):
        result = run(policy, ["sh", "-c", f'echo x >> "{target}"'], worktree, backend=backend)
        assert (result.returncode == 0) == (target.name == "ok"), (target, result.stderr)
    assert (gitdir / "HEAD").read_text() == "ref: refs/heads/main\n"
    assert not (common / "config").exists()


def test_codex_dir_stays_read_only(workspace: Workspace, backend: str) -> None:
    (workspace.root / ".codex").mkdir()
    argv = ["sh", "-c", "echo x > .codex/config.toml"]
    result = run(workspace.policy, argv, workspace.root, backend=backend)
    assert result.returncode != 0
    assert not (workspace.root / ".codex" / "config.toml").exists()


def test_builtin_allows_new_ptys_and_shared_memory(workspace: Workspace) -> None:
    """tmux-like tools open new PTYs, multiprocessing needs /dev/shm: both work under workspace-write."""
    require_backend("builtin")
    script = "import multiprocessing, pty; pty.openpty(); multiprocessing.Lock(); print('ok')"
    result = run(workspace.policy, [PYTHON, "-I", "-c", script], workspace.root, backend="builtin")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_enclosing_repository_git_stays_read_only_from_a_subfolder(tmp_path: Path, backend: str) -> None:
    """cwd is a subfolder of a repo that lies under another writable root: the repo's `.git` is at no
    writable root, yet it must stay read-only (the issue: ".git and the resolved git dir")."""
    shared = tmp_path / "shared"  # a writable root, like /tmp, holding a checkout
    repo = shared / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    sub = repo / "sub"
    sub.mkdir()
    policy = SandboxPolicy(SandboxMode.WORKSPACE_WRITE, writable_roots=(shared,), exclude_slash_tmp=True,
                           exclude_tmpdir_env_var=True)
    hook = run(policy, ["sh", "-c", "echo evil > ../.git/hooks-post-checkout"], sub, backend=backend)
    head = run(policy, ["sh", "-c", "echo x >> ../.git/HEAD"], sub, backend=backend)
    ok = run(policy, ["sh", "-c", "echo fine > ../notes.txt"], sub, backend=backend)
    assert hook.returncode != 0 and head.returncode != 0 and ok.returncode == 0, (hook.stderr, head.stderr)
    assert not (repo / ".git" / "hooks-post-checkout").exists()
    assert (repo / ".git" / "HEAD").read_text() == "ref: refs/heads/main\n"


def test_a_cwd_inside_git_does_not_get_around_its_read_only_mount(workspace: Workspace, backend: str) -> None:
    """A stage whose cwd is `.git` itself (it lies inside the repo): the cwd set before the namespaces were
    made named `.git` below its read-only mount, so relative writes went through (a planted hook)."""
    git = workspace.root / ".git"
    hook = run(workspace.policy, ["sh", "-c", "echo evil > hooks/pre-commit"], git, backend=backend)
    config = run(workspace.policy, ["sh", "-c", "echo x >> ../config"], git / "hooks", backend=backend)
    assert hook.returncode != 0 and config.returncode != 0
    assert not (git / "hooks" / "pre-commit").exists() and (git / "config").read_text() == "[core]\n"
