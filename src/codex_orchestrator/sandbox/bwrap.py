"""The bubblewrap backend: the same layout, enforced by `bwrap` with mount namespaces.

The whole filesystem is bound read-only, each writable root is bound
read-write over it, and the protected paths inside are bound read-only again
on top (later binds win). `--unshare-user --cap-drop ALL` matters when we run
as root: without them bwrap keeps every capability and the command could
simply remount `.git` read-write or `setns` back into the host network.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from .._record import record
from .layout import FsLayout


@record(frozen=True)
class BwrapInfo:
    path: str | None
    version: str | None
    usable: bool
    reason: str


def command(bwrap: str, layout: FsLayout, argv: Sequence[str], cwd: Path, *, pty: bool) -> list[str]:
    # bwrap's minimal /dev: null, zero, full, random, urandom, tty, a private devpts and /dev/shm. The
    # host's terminals are not bound in, not even in PTY mode: the command's own terminal reaches it as
    # fds 0-2 and /dev/tty (its controlling terminal), so `tty` cannot name it, but nothing can open
    # another /dev/pts/N (keystrokes of other sessions, escape sequences into them).
    args = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    for root in layout.writable:
        if not root.is_relative_to("/dev") and not root.is_relative_to("/proc"):
            args += ["--bind", str(root), str(root)]
    for path in layout.read_only:
        args += ["--ro-bind", str(path), str(path)]
    args += ["--unshare-user", "--unshare-pid", "--cap-drop", "ALL", "--die-with-parent"]
    if not layout.network:
        args.append("--unshare-net")
    if not pty:
        args.append("--new-session")  # no controlling terminal: TIOCSTI cannot inject keystrokes
    args += ["--chdir", str(cwd), "--", *argv]
    return args


@cache
def info() -> BwrapInfo:
    """Where bwrap is, its version, and whether a sandbox actually starts (probed once per process)."""
    path = shutil.which("bwrap")
    if path is None:
        return BwrapInfo(None, None, False, "bwrap not found on PATH")
    true = shutil.which("true") or "/bin/true"
    try:
        output = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10).stdout
        probe = subprocess.run(
            command(path, FsLayout(writable=(), read_only=(), network=False), [true], Path("/"), pty=False),
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as exc:
        return BwrapInfo(path, None, False, f"bwrap probe failed: {exc}")
    version = output.strip().removeprefix("bubblewrap ") or None
    if probe.returncode != 0:
        why = probe.stderr.strip() or f"exit {probe.returncode}"
        return BwrapInfo(path, version, False, f"bwrap probe failed: {why}")
    return BwrapInfo(path, version, True, "user, mount, pid and network namespaces")


def wrap(layout: FsLayout, argv: Sequence[str], cwd: Path, *, pty: bool) -> list[str]:
    found = info()
    if not found.usable or found.path is None:
        from ..errors import SandboxUnavailableError

        raise SandboxUnavailableError(f"the bubblewrap sandbox backend is unavailable: {found.reason}")
    return command(found.path, layout, argv, cwd, pty=pty)
