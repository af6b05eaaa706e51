"""Shell snapshots (exec/snapshot.py) with a real bash and a real profile in a throwaway HOME: what a snapshot
start gives a command matches what `bash -lc` gives it, and a profile that cannot be snapshotted says so."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

import pytest

from codex_orchestrator.exec.snapshot import NOT_REPLAYED, ShellSnapshots, Snapshot, SnapshotError, take

BASH = "/bin/bash"

PROFILE = """\
if [ -f "$HOME/.bashrc" ]; then . "$HOME/.bashrc"; fi
export PATH="$HOME/bin:$PATH"
export FROM_PROFILE=yes
export OVERRIDDEN=profile
unset DROPPED
set -o pipefail
echo "profile says hello"
echo run >> "$COUNTER"
"""
BASHRC = """\
greet() { echo "hello $1"; }
exported_fn() { echo "exported $1"; }
export -f exported_fn
shopt -s expand_aliases extglob
alias hi='echo hi-alias'
"""
# What a command can see of its shell: everything a profile may have set up.
PROBE = """\
echo "PATH=$PATH FROM_PROFILE=$FROM_PROFILE OVERRIDDEN=$OVERRIDDEN DROPPED=${DROPPED-unset} KEPT=$KEPT"
hi; greet you; bash -c 'exported_fn child'
declare -F; alias -p; set +o; shopt -p | grep -v login_shell
false | true; echo "pipefail=$?"
echo "lineno=$LINENO"
nosuch_command_here
"""


def write_home(home: Path, tmp_path: Path, profile: str = PROFILE, bashrc: str = BASHRC) -> dict[str, str]:
    """A HOME with a real .profile and .bashrc, and the environment a command starts from."""
    home.mkdir(exist_ok=True)
    (home / ".profile").write_text(profile)
    (home / ".bashrc").write_text(bashrc)
    return {"HOME": str(home), "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
            "DROPPED": "from-caller", "KEPT": "caller", "OVERRIDDEN": "caller", "COUNTER": str(tmp_path / "counter")}


def unconfined(argv: list[str]) -> tuple[list[str], None]:
    return argv, None


def run(argv: list[str], env: Mapping[str, str], cwd: Path, pass_fds: tuple[int, ...] = (),
        stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=dict(env), cwd=cwd, pass_fds=pass_fds, input=stdin, capture_output=True,
                          text=True, timeout=30, stdin=None if stdin is not None else subprocess.DEVNULL)


def started(snapshot: Snapshot, script: str, env: Mapping[str, str], cwd: Path,
            explicit: frozenset[str] = frozenset(), stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    spawn = snapshot.spawn([BASH, "-lc", script], env, explicit)
    assert spawn is not None
    assert spawn.argv == [BASH, "-c", script]  # only `-l` goes: the script is the user's, byte for byte
    return run(spawn.argv, spawn.env, cwd, spawn.pass_fds, stdin)


def counted(tmp_path: Path) -> int:
    path = tmp_path / "counter"
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_a_snapshot_start_sees_what_a_login_shell_sees(tmp_path: Path) -> None:
    env = write_home(tmp_path / "h", tmp_path)
    snapshot = take(BASH, cwd=tmp_path, env=env, prepare=unconfined)
    login = run([BASH, "-lc", PROBE], env, tmp_path)
    fast = started(snapshot, PROBE, env, tmp_path)
    assert login.stdout.startswith("profile says hello\n")  # what the profile prints is not the command's
    assert fast.stdout == login.stdout.removeprefix("profile says hello\n")
    assert fast.stderr == login.stderr  # same message, same line number: the script is untouched
    assert "bash: line 6: nosuch_command_here: command not found" in fast.stderr
    for expected in (f"PATH={tmp_path / 'h' / 'bin'}:", "FROM_PROFILE=yes", "DROPPED=unset", "hi-alias",
                     "hello you", "exported child", "pipefail=1", "shopt -s extglob", "lineno=5"):
        assert expected in fast.stdout
    assert fast.returncode == login.returncode == 127


def test_the_profile_runs_once_for_many_starts(tmp_path: Path) -> None:
    env = write_home(tmp_path / "h", tmp_path)
    snapshot = take(BASH, cwd=tmp_path, env=env, prepare=unconfined)
    assert counted(tmp_path) == 1
    for _ in range(5):
        assert started(snapshot, "echo $FROM_PROFILE", env, tmp_path).stdout == "yes\n"
    assert counted(tmp_path) == 1


def test_explicit_variables_win_over_the_profile(tmp_path: Path) -> None:
    """The variables the caller sets for the command win, as Codex's explicit overrides do after its snapshot;
    the others get the profile's value, as under `bash -lc`."""
    env = write_home(tmp_path / "h", tmp_path)
    snapshot = take(BASH, cwd=tmp_path, env=env, prepare=unconfined)
    script = 'echo "$OVERRIDDEN ${DROPPED-unset} $FROM_PROFILE"'
    assert started(snapshot, script, env, tmp_path).stdout == "profile unset yes\n"
    mine = {**env, "FROM_PROFILE": "mine"}
    explicit = frozenset({"OVERRIDDEN", "DROPPED", "FROM_PROFILE"})
    assert started(snapshot, script, mine, tmp_path, explicit).stdout == "caller from-caller mine\n"


def test_only_what_the_profile_changed_is_replayed(tmp_path: Path) -> None:
    env = write_home(tmp_path / "h", tmp_path)
    snapshot = take(BASH, cwd=tmp_path, env=env, prepare=unconfined)
    assert set(snapshot.exported) >= {"PATH", "FROM_PROFILE", "OVERRIDDEN"}
    assert not set(snapshot.exported) & (set(NOT_REPLAYED) | {"HOME", "KEPT", "LANG", "COUNTER"})
    assert snapshot.unset == {"DROPPED"}


def test_exit_codes_signals_and_stdin_are_the_commands(tmp_path: Path) -> None:
    env = write_home(tmp_path / "h", tmp_path)
    snapshot = take(BASH, cwd=tmp_path, env=env, prepare=unconfined)
    assert started(snapshot, "exit 7", env, tmp_path).returncode == 7
    assert started(snapshot, "kill -TERM $$", env, tmp_path).returncode == -signal.SIGTERM
    assert started(snapshot, "tr a-z A-Z", env, tmp_path, stdin="from stdin\n").stdout == "FROM STDIN\n"
    assert started(snapshot, "set -e; false; echo not here", env, tmp_path).returncode == 1


def test_the_command_sees_neither_bash_env_nor_the_snapshot_fd(tmp_path: Path) -> None:
    env = write_home(tmp_path / "h", tmp_path)
    snapshot = take(BASH, cwd=tmp_path, env=env, prepare=unconfined)
    assert snapshot.fd >= 3
    out = started(snapshot, 'echo "${BASH_ENV-unset}"; ls /proc/$$/fd; true', env, tmp_path).stdout.split()
    assert out == ["unset", "0", "1", "2"]
    # A child bash does not read it again either.
    assert started(snapshot, "bash -c 'echo ${BASH_ENV-unset}'", env, tmp_path).stdout == "unset\n"


def test_the_snapshot_cannot_be_changed(tmp_path: Path) -> None:
    """The memfd is sealed: neither we nor a process that inherits (or reopens) it can write it."""
    env = write_home(tmp_path / "h", tmp_path)
    snapshot = take(BASH, cwd=tmp_path, env=env, prepare=unconfined)
    with pytest.raises(PermissionError):
        os.write(snapshot.fd, b"evil() { :; }\n")
    reopened = os.open(f"/proc/self/fd/{snapshot.fd}", os.O_WRONLY)
    try:
        with pytest.raises(PermissionError):
            os.write(reopened, b"evil() { :; }\n")
    finally:
        os.close(reopened)
    with pytest.raises(PermissionError):
        os.ftruncate(snapshot.fd, 0)


def test_a_profile_that_changes_nothing_needs_no_fd(tmp_path: Path) -> None:
    env = write_home(tmp_path / "h", tmp_path, profile="true\n", bashrc="")
    snapshot = Snapshot(BASH, {}, (), "")  # what a profile that changes nothing leaves (/etc/profile sets PATH here)
    assert snapshot.fd == -1
    spawn = snapshot.spawn([BASH, "-lc", "echo plain"], env)
    assert spawn is not None and spawn.pass_fds == () and "BASH_ENV" not in spawn.env
    assert run(spawn.argv, spawn.env, tmp_path).stdout == "plain\n"


def test_the_profiles_variables_never_reach_the_environment_of_the_process_we_start(tmp_path: Path) -> None:
    """That process may be the sandbox's wrapper (bubblewrap), which runs outside the sandbox: a profile's
    LD_PRELOAD in its environment would load a library a sandboxed command wrote. The command's own bash
    exports them instead, after it started."""
    env = write_home(tmp_path / "h", tmp_path, bashrc="",
                     profile="export ONLY_A_VAR=1 LD_PRELOAD=/nonexistent/planted.so\n")
    snapshot = take(BASH, cwd=tmp_path, env=env, prepare=unconfined)
    assert snapshot.exported["LD_PRELOAD"] == "/nonexistent/planted.so"
    spawn = snapshot.spawn([BASH, "-lc", "echo $ONLY_A_VAR $LD_PRELOAD; env | grep -c SNAPSHOT_KEEP"], env,
                           explicit={"ONLY_A_VAR"})
    assert spawn is not None
    assert "LD_PRELOAD" not in spawn.env and "ONLY_A_VAR" not in spawn.env
    result = run(spawn.argv, {**spawn.env, "ONLY_A_VAR": "mine"}, tmp_path, spawn.pass_fds)
    assert result.stdout.splitlines()[0] == "mine /nonexistent/planted.so"  # the command's own value won
    assert result.stdout.splitlines()[1] == "0"  # the list of kept names is gone before the script runs


@pytest.mark.parametrize(("profile", "why"), [
    ("exit 3\n", "exited 3"),
    ("echo no marker; exec true\n", "did not get past its profile"),
    ("sleep 30\n", "took longer than"),
    ("export BASH_ENV=/dev/null\n", "BASH_ENV"),
])
def test_a_profile_that_cannot_be_snapshotted_is_an_error(tmp_path: Path, profile: str, why: str) -> None:
    env = write_home(tmp_path / "h", tmp_path, profile=profile, bashrc="")
    begun = time.monotonic()
    with pytest.raises(SnapshotError, match=why):
        take(BASH, cwd=tmp_path, env=env, prepare=unconfined, timeout=1.0)
    assert time.monotonic() - begun < 10  # the hanging profile was stopped, not waited for


def test_commands_that_cannot_use_a_snapshot_keep_their_argv(tmp_path: Path) -> None:
    env = write_home(tmp_path / "h", tmp_path)
    snapshot = take(BASH, cwd=tmp_path, env=env, prepare=unconfined)
    assert snapshot.spawn([BASH, "-c", "true"], env) is None  # not a login shell: nothing to replace
    assert snapshot.spawn(["/usr/bin/bash", "-lc", "true"], env) is None  # another shell
    assert snapshot.spawn([BASH, "-lc", "true"], {**env, "BASH_ENV": "x"}) is None
    assert snapshot.spawn([BASH, "-lc", "true"], {**env, "POSIXLY_CORRECT": "1"}) is None


def test_the_cache_takes_once_and_remembers_a_failure(tmp_path: Path) -> None:
    snapshots = ShellSnapshots()
    env = write_home(tmp_path / "h", tmp_path)
    taken: list[str] = []

    def good() -> Snapshot:
        taken.append("good")
        return take(BASH, cwd=tmp_path, env=env, prepare=unconfined)

    def bad() -> Snapshot:
        taken.append("bad")
        raise SnapshotError("no")

    first = snapshots.get("a", good)
    assert first is not None and snapshots.get("a", good) is first
    assert snapshots.get("b", bad) is None and snapshots.get("b", bad) is None
    assert taken == ["good", "bad"] and snapshots.failure("b") == "no" and len(snapshots) == 1
