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
import errno
import gc
import os
import stat
import sys
import time
import weakref
from functools import cache
from typing import TYPE_CHECKING, NamedTuple

from . import landlock, lifetime

if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path

    from .layout import FsLayout

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
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

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38
SIG_IGN = 1
SIG_DFL = 0
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
IFF_LOOPBACK = 0x8

EXIT_SETUP_FAILED = 71
SYS_CLOSE_RANGE = 436  # the same number on every architecture
CLOSE_RANGE_CLOEXEC = 1 << 2
MIN_ABI = 2  # ABI 1 refuses every rename or link across directories, which breaks ordinary tools

# The devices a command may open (as Codex's sandbox offers them); every other node under /dev, and
# every other terminal, stays out of reach: no reading or writing another /dev/pts/N, no raw disks.
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty", "/dev/ptmx")
ALL_RIGHTS = (1 << 64) - 1  # clipped to what the ruleset handles
DEVICE_RIGHTS = landlock.READ_FILE | landlock.WRITE_FILE | landlock.TRUNCATE


def _rules(layout: FsLayout) -> list[landlock.Rule]:
    """Read everywhere except /dev (listing directories is allowed everywhere), write the writable roots,
    and open the allowed devices. The private /dev/shm, a fresh /proc and the command's own terminal
    exist only in the child: it grants them itself (`Confinement._grant_in_child`)."""
    rules = [landlock.Rule("/", landlock.READ_DIR)]
    try:
        top = sorted(os.listdir("/"))
    except OSError:
        top = []
    rules += [landlock.Rule("/" + name, landlock.READ) for name in top if name != "dev"]
    rules += [landlock.Rule(root, ALL_RIGHTS) for root in layout.writable]
    rules += [landlock.Rule(device, DEVICE_RIGHTS) for device in DEVICES]
    return rules


Bind = tuple[bytes, int, bool]
"""A protected path: (path, its read-only remount flags, whether it may vanish)."""


def _bind_plan(path: Path) -> tuple[Bind, landlock.Identity]:
    """The bind of one protected path, and the identity of the file it names now. Only a regular file may
    vanish: state.json is replaced by rename as runs update it, and a file that is gone has nothing left to
    protect. A protected directory (`.git`, `.codex`, the run store) that vanishes fails the set-up closed
    (exit 71): without the mount, the command could create it afresh, hooks and all."""
    try:
        info = os.stat(path, follow_symlinks=False)
        flags = os.statvfs(path).f_flag
    except FileNotFoundError:  # gone since the layout was made: the child fails closed
        return (bytes(path), MS_REMOUNT | MS_BIND | MS_RDONLY, False), None
    remount = MS_REMOUNT | MS_BIND | MS_RDONLY | sum(ms for st, ms in _LOCKED_FLAGS if flags & st)
    return (bytes(path), remount, stat.S_ISREG(info.st_mode)), (info.st_dev, info.st_ino)


class Plan(NamedTuple):
    """Everything a confinement is made of, as plain data: it crosses to the warm sandbox's helper process
    (warm_pool.py), and two equal plans confine alike as long as their paths still name the same files
    (`Confinement.identities`)."""

    flags: int  # for unshare
    uid_map: bytes
    gid_map: bytes
    binds: tuple[Bind, ...]
    rules: tuple[tuple[str, int], ...]  # Landlock: (path, access)
    shm_writable: bool
    abi: int


Identities = tuple[tuple[landlock.Identity, ...], tuple[landlock.Identity, ...]]
"""What a confinement's Landlock rules, then its read-only binds, named when it was built."""


def plan_for(layout: FsLayout, abi: int) -> tuple[Plan, tuple[landlock.Identity, ...]]:
    """The plan for `layout`, and the identities of its protected paths as they are now."""
    # A pid namespace always: its init dies with us (PR_SET_PDEATHSIG) and takes every process of the
    # command with it; and a mount namespace for the private /proc and /dev/shm.
    flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID
    if not layout.network:
        flags |= CLONE_NEWNET
    uid, gid = os.geteuid(), os.getegid()
    planned = [_bind_plan(path) for path in layout.read_only]
    rules = tuple((str(path), access) for path, access in _rules(layout))
    plan = Plan(flags, f"{uid} {uid} 1\n".encode(), f"{gid} {gid} 1\n".encode(),
                tuple(bind for bind, _ in planned), rules, bool(layout.writable), abi)
    return plan, tuple(identity for _, identity in planned)


class Command:
    """What the init starts itself with `posix_spawn` (see `Confinement.exec_directly`): the tail of
    `_posixsubprocess`'s child code, after the preexec, done by the init."""

    __slots__ = ("argv", "env", "executables", "keep_fds", "report_fd", "sigdef")

    def __init__(self, executables: tuple[bytes, ...], argv: list[str], env: dict[str, str],
                 keep_fds: tuple[int, ...], report_fd: int, sigdef: tuple[int, ...] = ()) -> None:
        self.executables = executables  # the PATH search, done in the parent exactly as subprocess does it
        self.argv, self.env = argv, env
        self.keep_fds = tuple(sorted(keep_fds))  # pass_fds: every other descriptor is closed on exec
        self.report_fd = report_fd  # an exec failure is written here as "OSError:<hex errno>:"
        self.sigdef = sigdef  # signals reset to their default in the command (a warm sandbox's init ignores some)


class Confinement:
    """The preexec callable of the built-in backend; owns the Landlock ruleset fd until collected."""

    def __init__(self, layout: FsLayout, *, abi: int, mount_private: bool = False) -> None:
        plan, bound = plan_for(layout, abi)
        self._setup(plan, os.getpid(), bound)

    @classmethod
    def from_plan(cls, plan: Plan, owner: int) -> Confinement:
        """The same confinement, rebuilt from its plan in another process (the warm sandbox's helper), for
        a waiter whose parent is `owner`. Its bind identities are those the waiter finds after mounting."""
        confinement = cls.__new__(cls)
        confinement._setup(plan, owner, ())
        return confinement

    def _setup(self, plan: Plan, owner: int, bound: tuple[landlock.Identity, ...]) -> None:
        self.plan = plan
        self._lib = landlock.libc()
        _pylibc()  # loaded here, not in the child
        self._lib.unshare.argtypes = (ctypes.c_int,)
        self._lib.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                                    ctypes.c_void_p)
        self._flags = plan.flags
        self._uid_map, self._gid_map = plan.uid_map, plan.gid_map
        self._private = True
        self._shm_writable = plan.shm_writable
        self._max_fd = os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 1024
        self._binds = list(plan.binds)
        # struct ifreq: the interface name, then ifr_flags (a short) in a 24-byte union.
        ifreq = b"lo".ljust(16, b"\0") + (IFF_UP | IFF_LOOPBACK).to_bytes(2, sys.byteorder)
        self._ifreq = ctypes.create_string_buffer(ifreq, 40)
        self._loopback = bool(plan.flags & CLONE_NEWNET)
        self._abi = plan.abi
        self._owner = owner  # the orchestrator: the waiter exits at once if its parent is not this
        self._proc_mounted = self._shm_mounted = self._pts_mounted = False
        seen: list[landlock.Identity] = []
        self._ruleset = landlock.create_ruleset(plan.rules, plan.abi, seen)
        self.identities: Identities = (tuple(seen), bound)
        self._finalizer = weakref.finalize(self, os.close, self._ruleset)
        # Variadic C functions: every argument as a full-width long, built once here.
        zero = ctypes.c_ulong(0)
        self._nnp_args = (ctypes.c_int(PR_SET_NO_NEW_PRIVS), ctypes.c_ulong(1), zero, zero, zero)
        self._restrict_args = (ctypes.c_long(landlock.SYS_RESTRICT_SELF), ctypes.c_long(self._ruleset),
                               ctypes.c_long(0))
        self._command: Command | None = None

    def close(self) -> None:
        self._finalizer()

    def exec_directly(self, command: Command | None) -> None:
        """Let the init start `command` with `posix_spawn` (vfork semantics) instead of forking a copy of
        itself that returns into `_posixsubprocess` to exec: one copy of a big Python process less per
        spawn. The caller sets it right before its `Popen` and clears it (None) right after; the argv given
        to `Popen` is then never executed, and an exec failure comes back on `command.report_fd` in
        `_posixsubprocess`'s own format. Without it (None), the classic path: the preexec returns in the
        command's process and `Popen` execs it."""
        self._command = command

    def __call__(self) -> None:
        # Runs in the forked child: syscalls on prepared data only. Every page Python writes here is a
        # copy-on-write fault against the orchestrator's memory: no garbage collection pass over its heap.
        gc.disable()
        try:
            self._confine()
        except BaseException:
            _die(b"unexpected error")

    def _confine(self) -> None:
        self.enter_namespaces()
        alive_r, alive_w = os.pipe()  # the init sees EOF on alive_r once the waiter is gone
        status_r, status_w = os.pipe()  # the init reports the command's raw wait status here
        init = _fork()  # pid 1 of the new pid namespace
        if init < 0:
            _die(b"fork")
        if init == 0:
            os.close(alive_w)
            os.close(status_r)
            self._init(alive_r, status_w)  # returns only in the command's process
            return
        lifetime.die_with(self._owner)  # checks the orchestrator did not die before it took effect
        self.wait_as_waiter(init, (alive_r, alive_w), (status_r, status_w))

    def enter_namespaces(self) -> None:
        """The waiter's part before it forks the init: the namespaces, the id maps, the read-only binds."""
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
        for path, remount, may_vanish in self._binds:
            _protect(lib, path, remount, may_vanish=may_vanish)
        try:
            # The cwd was entered before the binds: inside `.git` it names the directory *below* its
            # read-only mount, and relative writes would go through. Entered again by its path, it is the mount.
            os.chdir(os.getcwd())
        except OSError:
            _die(b"re-entering the working directory")

    def wait_as_waiter(self, init: int, alive: tuple[int, int], status: tuple[int, int]) -> None:
        """The waiter: the process the runtime spawned and waits for. It dies with the orchestrator (then
        its init dies, then the namespace), ignores the runtime's SIGINT/SIGTERM (they reach the command,
        which shares its process group) and ends with the command's own status. Never returns."""
        lib = self._lib
        # SIGHUP, SIGINT, SIGQUIT, SIGTERM. A hang-up of the terminal (we are its session leader) must not
        # kill us before we relay the command's status; the runtime's SIGKILL still ends everything.
        for signum in (1, 2, 3, 15):
            lib.signal(ctypes.c_int(signum), ctypes.c_void_p(SIG_IGN))
        os.close(alive[0])
        os.close(status[1])
        _close_all_but(sorted((alive[1], status[0])), self._max_fd)
        _relay(lib, init, status[0])

    def _init(self, alive_r: int, status_w: int) -> None:
        """pid 1: mounts what only it can, confines itself, forks the command, reaps, reports, exits."""
        self.confine_init(alive_r)
        if self._command is not None:
            command = _spawn(self._lib, self._command)
        else:
            command = os.fork()
            if command == 0:
                os.close(alive_r)
                os.close(status_w)
                return  # the runtime's child code goes on to exec the command
        self.reap(command, alive_r, status_w)

    def confine_init(self, alive_r: int) -> None:
        """The init's set-up: die with the waiter, the private mounts, the loopback, then Landlock."""
        lib = self._lib
        lib.prctl(ctypes.c_int(PR_SET_PDEATHSIG), ctypes.c_ulong(9), ctypes.c_ulong(0), ctypes.c_ulong(0),
                  ctypes.c_ulong(0))
        import select

        if select.select([alive_r], [], [], 0)[0]:  # EOF: the waiter died before PR_SET_PDEATHSIG
            os._exit(EXIT_SETUP_FAILED)
        self._private_mounts()
        if self._loopback:
            _loopback_up(lib, self._ifreq)
        self._grant_in_child()
        if lib.prctl(*self._nnp_args) != 0:
            _die(b"prctl(PR_SET_NO_NEW_PRIVS)")
        if lib.syscall(*self._restrict_args) != 0:
            _die(b"landlock_restrict_self")

    def reap(self, command: int, alive_r: int, status_w: int, report: int = -1) -> None:
        """The init once the command runs: reap everything; when the command ends, report its status and go
        (the namespace goes with us). A warm sandbox's init also sends it on `report` (an "exit:" message),
        first: the runtime need not wait for the namespaces to be torn down. Never returns."""
        _close_all_but(sorted({alive_r, status_w, report} - {-1}), self._max_fd)
        while True:
            try:
                pid, wait_status = os.waitpid(-1, 0)
            except ChildProcessError:
                os._exit(EXIT_SETUP_FAILED)
            except InterruptedError:
                continue
            if pid == command:
                raw = wait_status.to_bytes(4, "little", signed=True)
                if report >= 0:
                    with contextlib.suppress(OSError):  # SIGPIPE stays ignored in a warm sandbox's init
                        os.write(report, b"exit:" + raw)
                os.write(status_w, raw)
                os._exit(0)

    def _private_mounts(self) -> None:
        """A /proc of this pid namespace, a private /dev/shm and, without a terminal of our own, a private
        devpts so that `script`, `expect` or `pty.openpty()` work without reaching the host's terminals.
        Best effort: what fails keeps the host's, which Landlock keeps out of reach."""
        lib = self._lib
        self._proc_mounted = lib.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None) == 0
        self._shm_mounted = os.path.isdir("/dev/shm") and lib.mount(
            b"tmpfs", b"/dev/shm", b"tmpfs", MS_NOSUID | MS_NODEV, b"mode=1777") == 0
        # With a terminal on fd 0 (a PTY session) its /dev/pts/N path must keep naming it: no new instance.
        self._pts_mounted = not os.isatty(0) and lib.mount(
            b"devpts", b"/dev/pts", b"devpts", MS_NOSUID | MS_NOEXEC, b"newinstance,ptmxmode=0666,mode=0620") == 0
        if self._pts_mounted and lib.mount(b"/dev/pts/ptmx", b"/dev/ptmx", None, MS_BIND, None) != 0:
            self._pts_mounted = False

    def _grant_in_child(self) -> None:
        """Landlock rules name inodes, so what was mounted here, and the command's own terminal, are granted
        here: the fresh /proc (read), the private /dev/shm (write, in a writable mode), the tty on fd 0."""
        grants = []
        if self._proc_mounted:
            grants.append((b"/proc", landlock.READ))
        if self._shm_mounted and self._shm_writable:
            grants.append((b"/dev/shm", ALL_RIGHTS))
        if self._pts_mounted:
            grants += [(b"/dev/pts", landlock.READ | DEVICE_RIGHTS), (b"/dev/ptmx", DEVICE_RIGHTS)]
        if os.isatty(0):
            grants.append((b"/proc/self/fd/0", DEVICE_RIGHTS))
        for path, access in grants:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                landlock.add_rule(self._ruleset, fd, access & landlock.handled_rights(self._abi), path.decode())
            except OSError:
                _die(b"granting " + path)
            finally:
                os.close(fd)


def _fork() -> int:
    """fork(2) without Python's at-fork machinery, which costs ~0.7 ms a fork of a big process here (its
    hooks and thread bookkeeping touch pages, each a copy-on-write fault). Safe here only: the caller is
    the child `_posixsubprocess` forked, in which `PyOS_AfterFork_Child` already left one thread (or a
    waiter of the single-threaded warm sandbox helper, zygote.py), and `PyDLL` keeps the GIL held across
    the call, so both sides resume as that one thread."""
    result: int = _pylibc().fork()
    return result


@cache
def _pylibc() -> ctypes.PyDLL:
    lib = ctypes.PyDLL(None, use_errno=True)
    lib.fork.restype = ctypes.c_int
    return lib


def _spawn(lib: ctypes.CDLL, command: Command) -> int:
    """Start the command from the init as `_posixsubprocess` would after the preexec: every descriptor but
    0-2 and the passed ones closed on exec (`close_fds`), then each PATH candidate tried in order, the
    first error other than ENOENT/ENOTDIR reported. Session, process group, cwd and fds 0-2 were set up
    before the preexec and are inherited. An exec failure is reported as `_posixsubprocess` reports it,
    and the init exits 255 like its child would have."""
    _cloexec_all_but(lib, command.keep_fds)
    saved = 0
    last = errno.ENOENT
    for executable in command.executables:
        try:
            # Each posix_spawn is a clone: skip the PATH entries where the exec could only fail with
            # ENOENT/ENOTDIR (as most do), and let every other case reach the exec for its own errno.
            os.stat(executable)
            if command.sigdef:
                return os.posix_spawn(executable, command.argv, command.env, setsigdef=command.sigdef)
            return os.posix_spawn(executable, command.argv, command.env)
        except OSError as exc:
            last = exc.errno or errno.ENOENT
            if last not in (errno.ENOENT, errno.ENOTDIR) and saved == 0:
                saved = last
    with contextlib.suppress(OSError):
        os.write(command.report_fd, b"OSError:%x:" % (saved or last))
    os._exit(255)


def exec_error(report: bytes, filename: str) -> OSError:
    """`OSError:<hex errno>:` as `_spawn` (and `_posixsubprocess`) writes it, turned into the OSError `Popen`
    raises; `filename` is the program (or, for a warm sandbox's `cd:<hex errno>:`, the cwd)."""
    try:
        _kind, hex_errno, _ = report.split(b":", 2)
        number = int(hex_errno, 16)
    except ValueError:
        return OSError(0, f"bad exec report {report!r}")
    return OSError(number, os.strerror(number), filename)


def _cloexec_all_but(lib: ctypes.CDLL, keep: tuple[int, ...]) -> None:
    """Mark every descriptor from 3 up close-on-exec, except `keep` (sorted)."""
    low = 3
    for fd in (*(fd for fd in keep if fd >= 3), None):
        high = 0xFFFFFFFF if fd is None else fd - 1
        if high >= low and lib.syscall(ctypes.c_long(SYS_CLOSE_RANGE), ctypes.c_uint(low), ctypes.c_uint(high),
                                       ctypes.c_uint(CLOSE_RANGE_CLOEXEC)) != 0:
            _cloexec_listed(set(keep))  # before Linux 5.11
            return
        if fd is not None:
            low = fd + 1


def _cloexec_listed(keep: set[int]) -> None:
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        _die(b"listing descriptors to close")
    for fd in fds:
        if fd >= 3 and fd not in keep:
            with contextlib.suppress(OSError):
                os.set_inheritable(fd, False)


def _close_all_but(keep: list[int], max_fd: int) -> None:
    """Close every descriptor except `keep` (sorted): the runtime's pipes and its exec-error pipe above all,
    or the runtime would wait for EOF from a process that never execs."""
    low = 0
    for fd in keep:
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, max_fd)


def _relay(lib: ctypes.CDLL, init: int, status_r: int) -> None:
    """Wait for the init, then end exactly as the command did: its exit code, or death by its signal."""
    while True:
        try:
            _, wait_status = os.waitpid(init, 0)
            break
        except InterruptedError:
            continue
    try:
        data = os.read(status_r, 4)
    except OSError:
        data = b""
    if len(data) == 4:
        wait_status = int.from_bytes(data, "little", signed=True)
    if os.WIFSIGNALED(wait_status):
        signum = os.WTERMSIG(wait_status)
        lib.prctl(ctypes.c_int(PR_SET_DUMPABLE), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0),
                  ctypes.c_ulong(0))  # relaying SIGSEGV must not leave a core file of ours behind
        lib.signal(ctypes.c_int(signum), ctypes.c_void_p(SIG_DFL))
        os.kill(os.getpid(), signum)
        os._exit(128 + signum)
    os._exit(os.WEXITSTATUS(wait_status) if os.WIFEXITED(wait_status) else EXIT_SETUP_FAILED)


def _loopback_up(lib: ctypes.CDLL, ifreq: ctypes.Array[ctypes.c_char]) -> None:
    # Not a confining step: without it only local servers break, so failure is ignored.
    sock = lib.socket(2, 2 | os.O_CLOEXEC, 0)  # AF_INET, SOCK_DGRAM | SOCK_CLOEXEC
    if sock >= 0:
        lib.ioctl(sock, ctypes.c_ulong(SIOCSIFFLAGS), ifreq)
        os.close(sock)


def _bind_self(lib: ctypes.CDLL, path: bytes) -> bool:
    """Bind-mount `path` onto itself. A protected *file* that another process replaces by rename at that
    moment (state.json, as concurrent runs update it) is an unlinked dentry to the kernel (ENOENT); the
    name is back at once, so try again."""
    for attempt in range(100):
        if lib.mount(path, path, None, MS_BIND | MS_REC, None) == 0:
            return True
        if ctypes.get_errno() != errno.ENOENT:
            return False
        if attempt >= 10:
            time.sleep(0.001)
    return False


def _protect(lib: ctypes.CDLL, path: bytes, remount: int, *, may_vanish: bool) -> None:
    """Make `path` read-only in our mount namespace: bind it onto itself, then remount the bind read-only.
    A file replaced by rename in between (EINVAL: the name is no longer the mount point) is done again."""
    for _ in range(20):
        if not _bind_self(lib, path):
            if may_vanish and not os.path.lexists(path):
                return  # a protected file removed meanwhile: nothing left to protect
            _die(b"bind-mounting a protected path")
        if lib.mount(None, path, None, remount, None) == 0:
            return
        if ctypes.get_errno() != errno.EINVAL:
            break
    _die(b"remounting a protected path read-only")


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
    from pathlib import Path

    try:
        boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    # v2: the confinement gained a pid namespace and private mounts; an older probe proved less.
    name = f"sandbox-probe-v2-{os.getuid()}-{boot_id}-{os.uname().release}-landlock{landlock.abi_version()}"
    return Path(base) / "codex-orchestrator" / name


def _probe() -> tuple[bool, str]:
    """Fork a child that performs the whole confinement and exits before exec.

    The probe forks a child that performs the whole confinement (namespaces,
    a mount change, Landlock) and exits before exec: about a millisecond, and
    it catches what static checks miss (a disabled user namespace sysctl, an
    AppArmor userns restriction, a seccomp filter from a container runtime).
    """
    import subprocess

    from .layout import FsLayout

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
    import subprocess

    lib = landlock.libc()

    def probe() -> None:
        os._exit(0 if lib.unshare(ctypes.c_int(CLONE_NEWUSER)) == 0 else 1)

    try:
        return subprocess.run([sys.executable], preexec_fn=probe, stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False
