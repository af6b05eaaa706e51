"""The built-in backend: user, mount and network namespaces plus Landlock, no external program.

Set up in the forked child, between fork and exec, in this order:

1. `unshare(CLONE_NEWUSER | [CLONE_NEWNS] | [CLONE_NEWNET])`. The new user
   namespace maps only our own uid and gid, so even root keeps no power over
   the host: it cannot `setns` back into the host network namespace, load
   modules or touch other users' files. It also gives us the right to mount in
   the new mount namespace.
2. Bind every protected path (`.git`, `.codex`) onto itself read-only.
3. Bring up the private loopback so local servers inside the sandbox work.
4. `PR_SET_NO_NEW_PRIVS`, then `landlock_restrict_self`. Landlock also forbids
   any later mount change, so the read-only binds cannot be undone.

Everything that allocates or may fail for an ordinary reason (opening paths,
building the ruleset, reading mount flags) happens in the parent in
`Confinement.__init__`; the child only makes syscalls. If any confining step
fails, the child writes one line to stderr and exits 71 without exec: a
command never runs unconfined while reported as sandboxed.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import subprocess
import sys
import weakref
from functools import cache
from pathlib import Path

from . import landlock
from .layout import FsLayout

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_RELATIME = 1 << 21
# statvfs f_flag bit -> mount flag. In a user namespace the flags a mount already
# has are locked, so a read-only remount must repeat them or it fails with EPERM.
_LOCKED_FLAGS = (
    (os.ST_NOSUID, MS_NOSUID), (os.ST_NODEV, MS_NODEV), (os.ST_NOEXEC, MS_NOEXEC),
    (os.ST_NOATIME, MS_NOATIME), (os.ST_NODIRATIME, MS_NODIRATIME), (os.ST_RELATIME, MS_RELATIME),
)

PR_SET_NO_NEW_PRIVS = 38
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
IFF_LOOPBACK = 0x8

EXIT_SETUP_FAILED = 71
MIN_ABI = 2  # ABI 1 refuses every rename or link across directories, which breaks ordinary tools

DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/tty", "/dev/ptmx")
ALL_RIGHTS = (1 << 64) - 1  # clipped to what the ruleset handles
DEVICE_RIGHTS = landlock.READ_FILE | landlock.WRITE_FILE | landlock.TRUNCATE


def _rules(layout: FsLayout, *, shm: bool) -> list[landlock.Rule]:
    rules = [landlock.Rule(Path("/"), landlock.READ)]
    rules += [landlock.Rule(root, ALL_RIGHTS) for root in layout.writable]
    rules += [landlock.Rule(Path(device), DEVICE_RIGHTS) for device in DEVICES]
    rules.append(landlock.Rule(Path("/dev/pts"), landlock.READ | DEVICE_RIGHTS))
    if shm and os.path.isdir("/dev/shm"):
        rules.append(landlock.Rule(Path("/dev/shm"), ALL_RIGHTS))
    return rules


def _remount_flags(path: Path) -> int:
    flags = os.statvfs(path).f_flag
    return MS_REMOUNT | MS_BIND | MS_RDONLY | sum(ms for st, ms in _LOCKED_FLAGS if flags & st)


class Confinement:
    """The preexec callable of the built-in backend; owns the Landlock ruleset fd until collected."""

    def __init__(self, layout: FsLayout, *, abi: int, mount_private: bool = False) -> None:
        self._lib = landlock.libc()
        self._lib.unshare.argtypes = (ctypes.c_int,)
        self._lib.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                                    ctypes.c_void_p)
        need_mounts = bool(layout.read_only) or mount_private
        self._flags = CLONE_NEWUSER | (CLONE_NEWNS if need_mounts else 0)
        if not layout.network:
            self._flags |= CLONE_NEWNET
        uid, gid = os.geteuid(), os.getegid()
        self._uid_map = f"{uid} {uid} 1\n".encode()
        self._gid_map = f"{gid} {gid} 1\n".encode()
        self._private = need_mounts
        self._binds = [(bytes(path), _remount_flags(path)) for path in layout.read_only]
        # struct ifreq: the interface name, then ifr_flags (a short) in a 24-byte union.
        ifreq = b"lo".ljust(16, b"\0") + (IFF_UP | IFF_LOOPBACK).to_bytes(2, sys.byteorder)
        self._ifreq = ctypes.create_string_buffer(ifreq, 40)
        self._loopback = not layout.network
        self._ruleset = landlock.create_ruleset(_rules(layout, shm=bool(layout.writable)), abi)
        self._finalizer = weakref.finalize(self, os.close, self._ruleset)
        # Variadic C functions: every argument as a full-width long, built once here.
        zero = ctypes.c_ulong(0)
        self._nnp_args = (ctypes.c_int(PR_SET_NO_NEW_PRIVS), ctypes.c_ulong(1), zero, zero, zero)
        self._restrict_args = (ctypes.c_long(landlock.SYS_RESTRICT_SELF), ctypes.c_long(self._ruleset),
                               ctypes.c_long(0))

    def close(self) -> None:
        self._finalizer()

    def __call__(self) -> None:
        # Runs in the forked child: syscalls on prepared data only.
        try:
            self._confine()
        except BaseException:
            _die(b"unexpected error")

    def _confine(self) -> None:
        lib = self._lib
        if lib.unshare(self._flags) != 0:
            _die(b"unshare")
        try:
            for name, data in ((b"/proc/self/setgroups", b"deny"), (b"/proc/self/uid_map", self._uid_map),
                               (b"/proc/self/gid_map", self._gid_map)):
                fd = os.open(name, os.O_WRONLY)
                os.write(fd, data)
                os.close(fd)
        except OSError:
            _die(b"writing the user namespace id maps")
        if self._private and lib.mount(None, b"/", None, MS_REC | MS_PRIVATE, None) != 0:
            _die(b"making mounts private")
        for path, remount in self._binds:
            if lib.mount(path, path, None, MS_BIND | MS_REC, None) != 0:
                _die(b"bind-mounting a protected path")
            if lib.mount(None, path, None, remount, None) != 0:
                _die(b"remounting a protected path read-only")
        if self._loopback:
            _loopback_up(lib, self._ifreq)
        if lib.prctl(*self._nnp_args) != 0:
            _die(b"prctl(PR_SET_NO_NEW_PRIVS)")
        if lib.syscall(*self._restrict_args) != 0:
            _die(b"landlock_restrict_self")


def _loopback_up(lib: ctypes.CDLL, ifreq: ctypes.Array[ctypes.c_char]) -> None:
    # Not a confining step: without it only local servers break, so failure is ignored.
    sock = lib.socket(2, 2 | os.O_CLOEXEC, 0)  # AF_INET, SOCK_DGRAM | SOCK_CLOEXEC
    if sock >= 0:
        lib.ioctl(sock, ctypes.c_ulong(SIOCSIFFLAGS), ifreq)
        os.close(sock)


def _die(step: bytes) -> None:
    err = ctypes.get_errno()
    reason = os.strerror(err).encode()
    os.write(2, b"codex-orchestrator: sandbox setup failed: " + step + b": " + reason + b"\n")
    os._exit(EXIT_SETUP_FAILED)


@cache
def status() -> tuple[bool, str]:
    """Can the built-in backend confine a process here? Probed for real, once per boot.

    A success is remembered for the running kernel's boot (see `_probe_cache`), because
    the CLI starts thousands of times and the probe costs a fork. If the machine
    changes meanwhile (a sysctl turned user namespaces off), nothing runs unconfined:
    the child then fails its own set-up and exits 71.
    """
    cache_file = _probe_cache()
    if cache_file is not None and cache_file.is_file():
        return True, cache_file.read_text().strip() + " (probed earlier this boot)"
    ok, reason = _probe()
    if ok and cache_file is not None:
        with contextlib.suppress(OSError):
            from .._files import write_text_atomic

            cache_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_text_atomic(cache_file, reason + "\n", mode=0o600, fsync=False)
    return ok, reason


def _probe_cache() -> Path | None:
    """A per-user, per-boot file recording a successful probe: ~/.cache/codex-orchestrator/."""
    try:
        boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    name = f"sandbox-probe-{os.getuid()}-{boot_id}-{os.uname().release}-landlock{landlock.abi_version()}"
    return Path(base) / "codex-orchestrator" / name


def _probe() -> tuple[bool, str]:
    """Fork a child that performs the whole confinement and exits before exec.

    The probe forks a child that performs the whole confinement (namespaces,
    a mount change, Landlock) and exits before exec: about a millisecond, and
    it catches what static checks miss (a disabled user namespace sysctl, an
    AppArmor userns restriction, a seccomp filter from a container runtime).
    """
    if not sys.platform.startswith("linux"):
        return False, "the built-in backend needs Linux"
    abi = landlock.abi_version()
    if abi < MIN_ABI:
        return False, f"Landlock ABI {abi} (need >= {MIN_ABI}; 0 means Landlock is absent or disabled)"
    try:
        nothing = FsLayout(writable=(), read_only=(), network=False)
        confinement = Confinement(nothing, abi=abi, mount_private=True)
    except OSError as exc:
        return False, f"cannot build a Landlock ruleset: {exc}"

    def probe() -> None:
        confinement()
        os._exit(0)

    try:
        proc = subprocess.run([sys.executable], preexec_fn=probe, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=10)
    except (OSError, subprocess.SubprocessError) as exc:
        return False, f"probe failed: {exc}"
    finally:
        confinement.close()
    if proc.returncode != 0:
        reason = proc.stderr.decode(errors="replace").strip() or f"exit {proc.returncode}"
        return False, f"probe failed: {reason}"
    return True, f"Landlock ABI {abi}, user/mount/network namespaces"


def wrap(layout: FsLayout) -> Confinement:
    ok, reason = status()
    if not ok:
        from ..errors import SandboxUnavailableError

        raise SandboxUnavailableError(f"the built-in sandbox backend is unavailable: {reason}")
    return Confinement(layout, abi=landlock.abi_version())


@cache
def userns_status() -> bool:
    """Whether an unprivileged user namespace can be created (reported by `sandbox check`)."""
    lib = landlock.libc()

    def probe() -> None:
        os._exit(0 if lib.unshare(ctypes.c_int(CLONE_NEWUSER)) == 0 else 1)

    try:
        return subprocess.run([sys.executable], preexec_fn=probe, stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False
