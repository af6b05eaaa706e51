"""`sandbox check`: which backends work here, and proof that they confine.

`available_backends()` answers from the start-up probes. `check_report()`
goes further and runs a real escape attempt through every usable backend (a
write outside the workspace, into `.git`, a TCP connect to a listener on the
host), because a backend that starts is not yet a backend that confines.
Its imports are local: the package is imported by every run, `check` rarely.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .._record import record
from .policy import SandboxMode, SandboxPolicy
from .spawn import BACKENDS, backend_status, default_backend, prepare

ENFORCED_MODES = (SandboxMode.READ_ONLY.value, SandboxMode.WORKSPACE_WRITE.value)


@record(frozen=True)
class BackendReport:
    name: str
    available: bool
    detail: str  # why not, or what it uses
    modes: tuple[str, ...]  # the sandbox modes it can enforce here
    path: str | None = None
    version: str | None = None


def available_backends() -> list[BackendReport]:
    reports = []
    for name in BACKENDS:
        usable, detail = backend_status(name)
        path = version = None
        if name == "bwrap":
            from . import bwrap

            path, version = bwrap.info().path, bwrap.info().version
        reports.append(BackendReport(name, usable, detail, ENFORCED_MODES if usable else (), path, version))
    return reports


# Run inside the sandbox by `check_report`; prints what it managed to do.
_ATTEMPT = """
import json, os, socket, sys
def write(path):
    try:
        with open(path, "a") as handle:
            handle.write("x")
        return True
    except OSError:
        return False
done = {"cwd": write("inside.txt"), "outside": write(os.path.join(sys.argv[1], "escaped.txt")),
        "git": write(os.path.join(".git", "escaped.txt"))}
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=3).close()
    done["network"] = True
except OSError:
    done["network"] = False
print(json.dumps(done))
"""


def _python() -> str:
    import shutil

    # Our interpreter may sit below a directory only its owner can enter (a venv in a private home).
    if os.access(sys.executable, os.X_OK):
        return sys.executable
    return shutil.which("python3") or sys.executable


def _attempt(backend: str, mode: SandboxMode, base: Path, port: int) -> dict[str, bool] | str:
    import json
    import subprocess

    workspace, outside = base / f"{backend}-{mode}", base / f"{backend}-{mode}-outside"
    (workspace / ".git").mkdir(parents=True)
    outside.mkdir()
    policy = SandboxPolicy(mode, exclude_slash_tmp=True, exclude_tmpdir_env_var=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}
    argv = [_python(), "-I", "-S", "-c", _ATTEMPT, str(outside), str(port)]
    try:
        spawn = prepare(policy, argv, workspace, env, backend=backend)
        proc = subprocess.run(spawn.argv, cwd=workspace, env=env, preexec_fn=spawn.preexec,
                              start_new_session=True, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=30)
        result: dict[str, bool] = json.loads(proc.stdout)
    except Exception as exc:  # any failure is a finding to report, not a crash of `check`
        return f"{type(exc).__name__}: {exc}"
    return result


def _verify(backend: str, base: Path, port: int) -> dict[str, object]:
    """For each mode: did the sandbox hold? Expected: only a workspace-write cwd write succeeds."""
    verified: dict[str, object] = {}
    for mode in (SandboxMode.READ_ONLY, SandboxMode.WORKSPACE_WRITE):
        done = _attempt(backend, mode, base, port)
        if isinstance(done, str):
            verified[mode.value] = {"ok": False, "error": done}
            continue
        expected = {"cwd": mode is SandboxMode.WORKSPACE_WRITE, "outside": False, "git": False,
                    "network": False}
        verified[mode.value] = {"ok": done == expected, "attempts": done}
    return verified


def containment(name: str, abi: int) -> dict[str, str]:
    """What each backend does beyond the filesystem and the network (docs/sandbox.md, "Containment")."""
    from .landlock import SCOPE_MIN_ABI

    if name == "builtin":
        scoped = abi >= SCOPE_MIN_ABI
        return {
            "process lifetime": "pid namespace whose init dies with the orchestrator (PR_SET_PDEATHSIG, race-free)",
            "signals and ptrace": "pid namespace + Landlock" + (" signal scoping" if scoped else
                                                                 f" (signal scoping needs ABI {SCOPE_MIN_ABI})"),
            "devices": "null zero full random urandom tty ptmx, the command's own terminal, private devpts and "
                       "/dev/shm",
            "protected": ".git (and pointer files), .codex, .agents, the run store",
        }
    return {
        "process lifetime": "pid namespace, --die-with-parent (plus PR_SET_PDEATHSIG on bwrap itself)",
        "signals and ptrace": "pid namespace, no capabilities",
        "devices": "bwrap's minimal /dev (private devpts and /dev/shm); no host terminal, even in PTY mode",
        "protected": ".git (and pointer files), .codex, .agents, the run store",
    }


def check_report() -> dict[str, object]:
    import platform
    import socket
    import tempfile

    from . import builtin, landlock

    backends: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="codex-orchestrator-sandbox-check-") as tmp, \
            socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        for report in available_backends():
            entry: dict[str, object] = {"available": report.available, "detail": report.detail}
            if report.path:
                entry.update(path=report.path, version=report.version)
            if report.available:
                verified = _verify(report.name, Path(tmp), port)
                entry["verified"] = verified
                entry["enforces"] = [mode for mode, result in verified.items()
                                     if isinstance(result, dict) and result.get("ok")]
                entry["containment"] = containment(report.name, landlock.abi_version())
            else:
                entry["enforces"] = []
            backends[report.name] = entry
    try:
        default = default_backend()
    except Exception as exc:
        default, why = "none", str(exc)
    else:
        why = ("preferred: no external program, no helper exec, Landlock also limits devices"
               if default == "builtin" else "the built-in backend is unavailable")
    return {
        "platform": sys.platform,
        "kernel": platform.release(),
        "landlock_abi": landlock.abi_version(),
        "user_namespaces": builtin.userns_status(),
        "backends": backends,
        "default": default,
        "default_reason": why,
    }
