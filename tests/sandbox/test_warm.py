"""The warm sandbox (sandbox/warm.py): a sandbox parked ahead of need is used only while it still confines
as a fresh one would, behaves exactly like one, and never outlives the orchestrator."""

from __future__ import annotations

import hashlib
import io
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from codex_orchestrator.exec.cancel import CancelToken
from codex_orchestrator.exec.process import ProcessOutcome, run_pipes
from codex_orchestrator.sandbox import SandboxMode, SandboxPolicy, prepare, warm, warm_pool

from ..conftest import live_pids
from .conftest import PYTHON, Workspace, require_backend

POLICY = SandboxPolicy(SandboxMode.WORKSPACE_WRITE, exclude_slash_tmp=True, exclude_tmpdir_env_var=True)


@pytest.fixture(autouse=True)
def warm_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """On, as in a server: a spawn uses a parked sandbox when one matches, and never waits for one."""
    require_backend("builtin")
    monkeypatch.setenv(warm.ENV, "1")


def spawn(cwd: Path, argv: list[str], *, env: dict[str, str] | None = None, policy: SandboxPolicy = POLICY,
          pass_fds: tuple[int, ...] = (), cancel: CancelToken | None = None, timeout: float | None = 30,
          log: io.BytesIO | None = None) -> ProcessOutcome:
    prepared = prepare(policy, argv, cwd, dict(os.environ), backend="builtin")
    return run_pipes(prepared.argv, cwd=cwd, env=dict(os.environ) if env is None else env, preexec=prepared.preexec,
                     pass_fds=pass_fds, cancel=cancel, timeout=timeout, log=log)


def parked() -> warm_pool._Parked:
    """The sandbox parked by the last spawn, once its init is ready."""
    pool = warm_pool._the_pool()
    deadline = time.monotonic() + 20
    while pool.parked is None and time.monotonic() < deadline:  # the helper may still be starting
        time.sleep(0.01)
    found = pool.parked
    assert found is not None and found.collect(deadline), found and found.failed
    return found


def warm_spawn(cwd: Path, argv: list[str], **options: object) -> ProcessOutcome:
    """A spawn that must use the sandbox parked for its plan."""
    spawn(cwd, ["true"])
    waiting = parked()
    outcome = spawn(cwd, argv, **options)  # type: ignore[arg-type]
    assert waiting.handed, "the parked sandbox was not used"
    assert outcome.pid in (waiting.pid, 0)  # 0: the command could not be started
    return outcome


def out(outcome: ProcessOutcome, name: str = "stdout") -> str:
    return outcome.streams[name].render()


# ------------------------------------------------------------------------------------ matching


def test_the_next_spawn_with_the_same_plan_uses_the_parked_sandbox(workspace: Workspace) -> None:
    outcome = warm_spawn(workspace.root, ["sh", "-c", "echo $$; echo x > .git/planted; echo ok > ok"])
    assert outcome.exit_code == 0
    assert out(outcome).splitlines()[0] == "2"  # the command is pid 2 of its own pid namespace
    assert "Read-only file system" in out(outcome, "stderr")
    assert (workspace.root / "ok").read_text() == "ok\n" and not (workspace.root / ".git" / "planted").exists()


def test_another_plan_discards_the_parked_sandbox_and_parks_its_own(workspace: Workspace, tmp_path: Path) -> None:
    spawn(workspace.root, ["true"])
    first = parked()
    networked = SandboxPolicy(SandboxMode.WORKSPACE_WRITE, network_access=True, exclude_slash_tmp=True,
                              exclude_tmpdir_env_var=True)
    other = spawn(workspace.root, ["true"], policy=networked)
    assert other.exit_code == 0 and other.pid != first.pid
    second = parked()
    assert second is not first and second.plan != first.plan
    assert spawn(workspace.root, ["true"], policy=networked).pid == second.pid and not first.handed


def test_an_expired_sandbox_is_not_used(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    spawn(workspace.root, ["true"])
    waiting = parked()
    monkeypatch.setattr(warm_pool, "MAX_AGE", 0.0)
    outcome = spawn(workspace.root, ["true"])
    assert outcome.exit_code == 0 and outcome.pid != waiting.pid


# ------------------------------------------------------------------------------------ staleness


def test_a_git_replaced_after_parking_stays_read_only(workspace: Workspace) -> None:
    """The parked sandbox bound the old `.git` read-only; the new one, at the same path, is not that mount.
    Its identity (st_dev, st_ino) differs from what the sandbox bound, so it is not used."""
    spawn(workspace.root, ["true"])
    waiting = parked()
    (workspace.root / ".git").rename(workspace.root / ".git-old")
    (workspace.root / ".git" / "hooks").mkdir(parents=True)
    outcome = spawn(workspace.root, ["sh", "-c", "echo evil > .git/hooks/pre-commit; echo x > .git/config"])
    assert not (workspace.root / ".git" / "hooks" / "pre-commit").exists()
    assert not (workspace.root / ".git" / "config").exists()
    assert outcome.pid != waiting.pid


@pytest.mark.parametrize("name", [".git", ".codex"])
def test_a_protected_folder_a_command_creates_is_protected_from_the_next(tmp_path: Path, name: str) -> None:
    """The hostile repo's own move: a command creates `.git` (or `.codex`) where there was none; the sandbox
    parked during that command was built without a read-only mount for it. The next command must still
    find it read-only."""
    root = tmp_path / "repo"
    root.mkdir()
    spawn(root, ["true"])
    parked()
    created = spawn(root, ["sh", "-c", f"mkdir -p {name}/hooks && echo '[core]' > {name}/config"])
    assert created.exit_code == 0 and (root / name / "config").exists()
    waiting = parked()  # parked while the folder was being created: possibly without its mount
    attempt = spawn(root, ["sh", "-c", f"echo evil > {name}/hooks/pre-commit; echo evil >> {name}/config"])
    assert "Read-only file system" in out(attempt, "stderr")
    assert not (root / name / "hooks" / "pre-commit").exists()
    assert (root / name / "config").read_text() == "[core]\n"
    del waiting


def test_a_writable_root_replaced_after_parking_is_not_used(workspace: Workspace, tmp_path: Path) -> None:
    """Landlock rules name inodes: a sandbox parked for the old workspace could not write the new one."""
    spawn(workspace.root, ["true"])
    waiting = parked()
    workspace.root.rename(tmp_path / "old-ws")
    (workspace.root / ".git").mkdir(parents=True)
    outcome = spawn(workspace.root, ["sh", "-c", "echo ok > ok"])
    assert outcome.exit_code == 0 and (workspace.root / "ok").read_text() == "ok\n"
    assert outcome.pid != waiting.pid


def test_the_environment_is_the_calls_not_the_parkings(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARKED_WITH", "secret")
    spawn(workspace.root, ["true"])
    monkeypatch.delenv("PARKED_WITH")
    shown = warm_spawn(workspace.root, ["env"], env={"PATH": "/usr/bin:/bin", "ONLY_HERE": "yes"})
    assert sorted(out(shown).splitlines()) == ["ONLY_HERE=yes", "PATH=/usr/bin:/bin"]


# ------------------------------------------------------------------------------------ same behaviour


def _both(cwd: Path, argv: list[str], **options: object) -> tuple[ProcessOutcome, ProcessOutcome]:
    """The same spawn made the ordinary way, then through a parked sandbox."""
    os.environ[warm.ENV] = "0"
    try:
        cold = spawn(cwd, argv, **options)  # type: ignore[arg-type]
    finally:
        os.environ[warm.ENV] = "1"
    return cold, warm_spawn(cwd, argv, **options)


def _shape(outcome: ProcessOutcome) -> tuple[object, ...]:
    return (outcome.exit_code, outcome.signal, out(outcome), out(outcome, "stderr"), outcome.timed_out,
            outcome.cancelled)


@pytest.mark.parametrize("script", [
    "echo out; echo err >&2; exit 3",
    "kill -TERM $$",
    "kill -SEGV $$",
    "cat; echo read-stdin",  # stdin is /dev/null
    "ls /proc/self/fd; pwd -P; umask; id -u; id -g; echo $$",
    "grep -E '^(SigIgn|SigBlk|NoNewPrivs|Seccomp|CapEff|CapBnd)' /proc/self/status",
    "ls -A /dev/shm; ip -o link 2>/dev/null | cut -d: -f2 | tr -d ' ' || true",
    "(sleep 30 &); echo left-a-child",  # the group is killed when the leader exits
    "yes | head -c 3; echo",  # SIGPIPE at its default in the command
])
def test_outcomes_are_those_of_a_sandbox_made_the_ordinary_way(workspace: Workspace, script: str) -> None:
    cold, hot = _both(workspace.root, ["sh", "-c", script])
    assert _shape(hot) == _shape(cold)


def test_exec_failures_are_reported_alike(workspace: Workspace) -> None:
    script = workspace.root / "script.sh"
    script.write_text("echo hi\n")
    script.chmod(0o600)
    for argv in (["no-such-command-xyz"], [str(script)], [str(workspace.root)], ["./script.sh"]):
        cold, hot = _both(workspace.root, argv)
        assert _shape(hot) == _shape(cold) and hot.pid == cold.pid == 0
    assert hot.exit_code == 126


def test_a_missing_cwd_is_reported_like_popen_does(workspace: Workspace) -> None:
    spawn(workspace.root, ["true"])
    parked()
    gone = workspace.root / "gone"
    prepared = prepare(POLICY, ["true"], workspace.root, dict(os.environ), backend="builtin")
    outcome = run_pipes(prepared.argv, cwd=gone, env=dict(os.environ), preexec=prepared.preexec)
    assert (outcome.exit_code, outcome.pid) == (127, 0)
    assert f"cd: {gone}" in out(outcome, "stderr")


def test_output_bytes_are_identical(workspace: Workspace) -> None:
    data = workspace.root / "data.bin"
    data.write_bytes(random.Random(7).randbytes(3 << 20))
    logs = (io.BytesIO(), io.BytesIO())
    cold, hot = _both(workspace.root, ["sh", "-c", "cat data.bin; cat data.bin >&2"])
    assert _shape(cold) == _shape(hot)
    cold, hot = _both(workspace.root, ["cat", "data.bin"], log=logs[0])
    assert _shape(cold) == _shape(hot)
    logs[0].seek(0)
    logs[0].truncate()
    os.environ[warm.ENV] = "0"
    spawn(workspace.root, ["cat", "data.bin"], log=logs[0])
    os.environ[warm.ENV] = "1"
    warm_spawn(workspace.root, ["cat", "data.bin"], log=logs[1])
    digest = hashlib.sha256(data.read_bytes()).hexdigest()
    assert [hashlib.sha256(log.getvalue()).hexdigest() for log in logs] == [digest, digest]


def test_cancel_and_timeout_reach_the_command(workspace: Workspace) -> None:
    import threading

    spawn(workspace.root, ["true"])
    waiting = parked()
    cancel = CancelToken()
    threading.Timer(0.3, cancel.cancel).start()
    began = time.monotonic()
    cancelled = spawn(workspace.root, ["sh", "-c", "(sleep 60 &); exec sleep 60"], cancel=cancel)
    assert cancelled.pid == waiting.pid
    assert cancelled.cancelled and cancelled.signal == signal.SIGTERM and time.monotonic() - began < 10
    waiting = parked()
    timed = spawn(workspace.root, ["sh", "-c", "trap '' TERM; sleep 60"], timeout=0.3)
    assert timed.pid == waiting.pid
    assert timed.timed_out and timed.signal == signal.SIGKILL and time.monotonic() - began < 15


# ------------------------------------------------------------------------------------ fallbacks


def test_pass_fds_spawn_the_ordinary_way_and_leave_the_sandbox_parked(workspace: Workspace) -> None:
    spawn(workspace.root, ["true"])
    waiting = parked()
    passed_r, passed_w = os.pipe()
    try:
        listing = spawn(workspace.root, ["sh", "-c", "ls /proc/self/fd"], pass_fds=(passed_r,))
    finally:
        os.close(passed_r)
        os.close(passed_w)
    assert not waiting.handed and str(passed_r) in out(listing).split()
    assert spawn(workspace.root, ["true"]).pid == waiting.pid


def test_a_command_too_large_for_one_message_spawns_the_ordinary_way(workspace: Workspace) -> None:
    spawn(workspace.root, ["true"])
    waiting = parked()
    big = "x" * (warm_pool.MAX_COMMAND + 1)
    outcome = spawn(workspace.root, ["sh", "-c", "echo ${#BIG}"], env={"PATH": "/usr/bin:/bin", "BIG": big})
    assert out(outcome) == f"{len(big)}\n" and outcome.pid != waiting.pid


def test_a_parked_sandbox_that_died_is_replaced(workspace: Workspace) -> None:
    spawn(workspace.root, ["true"])
    waiting = parked()
    os.kill(waiting.pid, signal.SIGKILL)  # its init dies with it
    os.waitid(os.P_PID, waiting.pid, os.WEXITED | os.WNOWAIT)  # a zombie now, still ours to reap
    outcome = spawn(workspace.root, ["sh", "-c", "echo fine"])
    assert out(outcome) == "fine\n" and not waiting.handed
    replacement = parked()
    assert spawn(workspace.root, ["true"]).pid == replacement.pid


def test_a_dead_helper_is_restarted(workspace: Workspace) -> None:
    spawn(workspace.root, ["true"])
    parked()
    pool = warm_pool._the_pool()
    assert pool.helper is not None
    pool.helper.proc.kill()
    pool.helper.proc.wait()
    for _ in range(3):  # the parked one still works; then a new helper parks the next
        assert spawn(workspace.root, ["sh", "-c", "echo fine"]).exit_code == 0
    replacement = parked()
    assert spawn(workspace.root, ["true"]).pid == replacement.pid
    assert pool.helper is not None and pool.helper.alive()


def test_a_setup_that_fails_in_the_parked_sandbox_falls_back(workspace: Workspace) -> None:
    """The parked sandbox's own set-up fails (its `.git` vanished before the bind): the spawn is made the
    ordinary way, which fails closed as ever (exit 71, the command not run)."""
    prepared = prepare(POLICY, ["sh", "-c", "echo ran > ran"], workspace.root, dict(os.environ), backend="builtin")
    for path in (workspace.root / ".git" / "config", workspace.root / ".git" / "hooks", workspace.root / ".git"):
        path.unlink() if path.is_file() else path.rmdir()
    pool = warm_pool._the_pool()
    assert isinstance(prepared.preexec, warm_pool.Confinement)
    pool.want(prepared.preexec.plan)  # parked for the plan that still has `.git`
    broken = pool.parked
    assert broken is not None and not broken.collect(time.monotonic() + 20)
    assert "set-up" in broken.failed
    outcome = run_pipes(prepared.argv, cwd=workspace.root, env=dict(os.environ), preexec=prepared.preexec)
    assert outcome.exit_code == 71 and not (workspace.root / "ran").exists() and not broken.handed


# ------------------------------------------------------------------------------------ lifetime


def _helpers_of(owner: int) -> list[int]:
    """The helper, and every parked waiter and init it made (all share its command line)."""
    found = []
    for pid in live_pids("codex_orchestrator.sandbox.zygote"):
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if str(owner).encode() in args:
            found.append(pid)
    return found


_ORCHESTRATOR = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from codex_orchestrator.exec.process import run_pipes
    from codex_orchestrator.sandbox import SandboxMode, SandboxPolicy, prepare, warm
    warm.enable()
    policy = SandboxPolicy(SandboxMode.WORKSPACE_WRITE, exclude_slash_tmp=True, exclude_tmpdir_env_var=True)
    def run(argv):
        spawn = prepare(policy, argv, Path(sys.argv[1]), dict(os.environ), backend="builtin")
        return run_pipes(spawn.argv, cwd=Path(sys.argv[1]), env=dict(os.environ), preexec=spawn.preexec)
    def ready():
        from codex_orchestrator.sandbox import warm_pool
        import time
        pool = warm_pool._the_pool()
        while pool.parked is None or not pool.parked.collect(time.monotonic() + 10):
            time.sleep(0.01)
    run(["true"])
    ready()
    run(["true"])  # in the parked sandbox
    ready()
    print("spawned", flush=True)
    while True:  # the first in a parked sandbox, which leaves another parked
        run(["sh", "-c", "sleep " + sys.argv[2] + " & exec sleep " + sys.argv[2]])
""")


@pytest.fixture
def orchestrators() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        proc.kill()
        proc.wait()


def test_nothing_survives_a_kill_9_of_the_orchestrator(workspace: Workspace,
                                                       orchestrators: list[subprocess.Popen[str]]) -> None:
    """A real orchestrator (helper started, a sandbox parked, a command running in a warm sandbox) killed by
    SIGKILL at random moments: 1 s later no helper, parked sandbox or command of it is alive."""
    rng = random.Random(20261210)
    env = {**os.environ, warm.ENV: "1"}
    survivors = []
    for trial in range(10):
        duration = f"300.{uuid.uuid4().int % 10**9}"
        proc = subprocess.Popen([PYTHON, "-c", _ORCHESTRATOR, str(workspace.root), duration], env=env, text=True,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        orchestrators.append(proc)
        if trial % 2:  # at a random moment of its start, the helper's included
            time.sleep(rng.uniform(0.1, 1.2))
        else:  # with the helper up and a sandbox parked (or a command running in one)
            assert proc.stdout is not None and proc.stdout.readline() == "spawned\n"
            time.sleep(rng.uniform(0.0, 0.3))
            assert _helpers_of(proc.pid), "no helper to outlive the orchestrator"
        proc.kill()
        proc.wait()
        deadline = time.monotonic() + 1.0
        while (_helpers_of(proc.pid) or live_pids(duration)) and time.monotonic() < deadline:
            time.sleep(0.01)
        left = _helpers_of(proc.pid) + live_pids(duration)
        if left:
            survivors.append((trial, left))
            for pid in left:
                os.kill(pid, signal.SIGKILL)
    assert not survivors, f"processes outlived the orchestrator: {survivors}"


# ------------------------------------------------------------------------------------ opt-in


def test_only_long_lived_entry_points_opt_in(tmp_path: Path) -> None:
    code = textwrap.dedent("""
        import os, sys
        from codex_orchestrator.sandbox import warm
        from codex_orchestrator.cli.main import main
        assert main(["exec", "--sandbox", "workspace-write", "--format", "summary", "--", "true"]) == 0
        assert warm.mode() == "off", "the CLI must not use the warm sandbox"
        assert "codex_orchestrator.sandbox.warm_pool" not in sys.modules
        from codex_orchestrator import Orchestrator
        orch = Orchestrator(cwd=os.getcwd())
        assert warm.mode() == "on"
        orch.exec(["true"], sandbox="danger-full-access")
        assert "codex_orchestrator.sandbox.warm_pool" not in sys.modules, "no helper before a sandboxed call"
        orch.exec(["true"], sandbox="workspace-write")
        assert "codex_orchestrator.sandbox.warm_pool" in sys.modules
        print("ok")
    """)
    env = {name: value for name, value in os.environ.items() if name != warm.ENV}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.endswith("ok\n"), done.stderr
