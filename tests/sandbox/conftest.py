"""Shared helpers: run a real command through a real sandbox backend."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from codex_orchestrator.sandbox import SandboxMode, SandboxPolicy, prepare
from codex_orchestrator.sandbox.spawn import backend_status

# The sandboxed scripts need an interpreter the current user may execute.
PYTHON = sys.executable if os.access(sys.executable, os.X_OK) else (shutil.which("python3") or sys.executable)


def sandbox_required(config: pytest.Config | None = None) -> bool:
    """In CI (or with --require-sandbox) a missing backend is a failure: a security test never skips silently."""
    flag = bool(config.getoption("--require-sandbox", default=False)) if config is not None else False
    return flag or os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_backend(name: str, config: pytest.Config | None = None) -> None:
    usable, reason = backend_status(name)
    if usable:
        return
    message = f"sandbox backend {name} unusable here: {reason}"
    if sandbox_required(config):
        pytest.fail(message + " (CI=true / --require-sandbox: the escape suite must run, not skip)")
    pytest.skip(message)


def require_program(name: str, config: pytest.Config | None = None) -> None:
    """A tool an escape test uses (mount, nsenter): missing in CI is a failure, elsewhere a skip."""
    if shutil.which(name) is not None:
        return
    if sandbox_required(config):
        pytest.fail(f"{name} is not installed: this escape test must run in CI")
    pytest.skip(f"needs {name}")


@pytest.fixture(params=["builtin", "bwrap"])
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    require_backend(name, request.config)
    return name


def run(policy: SandboxPolicy, argv: Sequence[str], cwd: Path, *, backend: str,
        env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Spawn the way the exec runtime does: new session, closed fds, the backend's preexec."""
    full_env = dict(os.environ if env is None else env)
    spawn = prepare(policy, argv, cwd, full_env, backend=backend)
    return subprocess.run(spawn.argv, cwd=cwd, env=full_env, preexec_fn=spawn.preexec,
                          start_new_session=True, close_fds=True, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60)


@dataclass
class Workspace:
    """A workspace with a `.git`, and an `outside` directory that no writable root covers."""

    root: Path
    outside: Path
    home: Path

    @property
    def policy(self) -> SandboxPolicy:
        # /tmp and $TMPDIR are excluded: tmp_path usually lives below one of them.
        return SandboxPolicy(SandboxMode.WORKSPACE_WRITE, exclude_slash_tmp=True, exclude_tmpdir_env_var=True)

    def files_outside(self) -> list[Path]:
        return sorted(p for base in (self.outside, self.home) for p in base.rglob("*"))


@pytest.fixture
def workspace(tmp_path: Path, isolated_home: Path) -> Workspace:
    root = tmp_path / "ws"
    (root / ".git" / "hooks").mkdir(parents=True)
    (root / ".git" / "config").write_text("[core]\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    return Workspace(root, outside, isolated_home)
