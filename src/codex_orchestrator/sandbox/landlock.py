"""Landlock through raw syscalls (ctypes), for the built-in backend.

Landlock is an unprivileged Linux LSM: a process describes which file
hierarchies it may use and how, then restricts itself; the restriction is
inherited by every child and can never be lifted. Rules name inodes, not path
strings, so a symlink or a `..` cannot lead around them, and a grant on a
directory covers its whole tree.

The ruleset is built in the parent (opening paths, allocating structs) so the
forked child only has to call `landlock_restrict_self`.
"""

from __future__ import annotations

import ctypes
import os
import stat
from collections.abc import Iterable
from functools import cache
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path

Identity = tuple[int, int] | None
"""(st_dev, st_ino) of a file as a rule or a mount named it; None when it did not exist. The warm sandbox
(warm_pool.py) compares them to tell whether a confinement built earlier still names the same files."""

# The landlock syscalls have the same numbers on every architecture.
SYS_CREATE_RULESET = 444
SYS_ADD_RULE = 445
SYS_RESTRICT_SELF = 446
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1

EXECUTE = 1 << 0
WRITE_FILE = 1 << 1
READ_FILE = 1 << 2
READ_DIR = 1 << 3
REMOVE_DIR = 1 << 4
REMOVE_FILE = 1 << 5
MAKE_CHAR = 1 << 6
MAKE_DIR = 1 << 7
MAKE_REG = 1 << 8
MAKE_SOCK = 1 << 9
MAKE_FIFO = 1 << 10
MAKE_BLOCK = 1 << 11
MAKE_SYM = 1 << 12
REFER = 1 << 13  # ABI 2
TRUNCATE = 1 << 14  # ABI 3
IOCTL_DEV = 1 << 15  # ABI 5: never handled, terminals need their ioctls

READ = EXECUTE | READ_FILE | READ_DIR
# The only rights a rule on a non-directory may carry.
FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE


# ABI 6: `scoped` restrictions. A scoped process may not signal, nor connect to an abstract Unix
# socket of, a process outside its Landlock domain.
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0
SCOPE_SIGNAL = 1 << 1
SCOPE_MIN_ABI = 6


class RulesetAttr(ctypes.Structure):
    # The kernel accepts a shorter struct from older callers: the first field alone before ABI 6.
    # Network access is left to the network namespace (handled_access_net stays 0).
    _fields_ = (("handled_access_fs", ctypes.c_uint64),)


class RulesetAttrScoped(ctypes.Structure):
    _fields_ = (("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64))


class PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = (("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32))


@cache
def libc() -> ctypes.CDLL:
    lib = ctypes.CDLL(None, use_errno=True)
    lib.syscall.restype = ctypes.c_long
    return lib


@cache
def abi_version() -> int:
    """The Landlock ABI of the running kernel; 0 when Landlock is absent or disabled."""
    try:
        result = libc().syscall(ctypes.c_long(SYS_CREATE_RULESET), None, ctypes.c_size_t(0),
                                ctypes.c_uint32(CREATE_RULESET_VERSION))
    except OSError:
        return 0
    return max(int(result), 0)


def handled_rights(abi: int) -> int:
    rights = (MAKE_SYM << 1) - 1  # ABI 1: EXECUTE .. MAKE_SYM
    if abi >= 2:
        rights |= REFER
    if abi >= 3:
        rights |= TRUNCATE
    return rights


class Rule(NamedTuple):
    """A plain tuple: a ruleset is built for every sandboxed spawn, ~35 rules each."""

    path: str | Path
    access: int  # clipped to what the ruleset handles and what the file type allows


class LandlockError(OSError):
    pass


def create_ruleset(rules: Iterable[tuple[str | Path, int]], abi: int, seen: list[Identity] | None = None) -> int:
    """Return a ruleset fd (close-on-exec) granting `rules`; paths that do not exist are skipped. `seen`, if
    given, receives the identity of each rule's file in order (None for a skipped one)."""
    handled = handled_rights(abi)
    lib = libc()
    attr: ctypes.Structure = (RulesetAttrScoped(handled, 0, SCOPE_SIGNAL | SCOPE_ABSTRACT_UNIX_SOCKET)
                              if abi >= SCOPE_MIN_ABI else RulesetAttr(handled))
    fd = int(lib.syscall(ctypes.c_long(SYS_CREATE_RULESET), ctypes.byref(attr),
                         ctypes.c_size_t(ctypes.sizeof(attr)), ctypes.c_uint32(0)))
    if fd < 0:
        err = ctypes.get_errno()
        raise LandlockError(err, f"landlock_create_ruleset: {os.strerror(err)}")
    try:
        for path, access in rules:
            try:
                path_fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except FileNotFoundError:
                if seen is not None:
                    seen.append(None)
                continue
            try:
                info = add_rule(fd, path_fd, access & handled, str(path))
            finally:
                os.close(path_fd)
            if seen is not None:
                seen.append((info.st_dev, info.st_ino))
    except BaseException:
        os.close(fd)
        raise
    return fd


def add_rule(ruleset: int, path_fd: int, access: int, name: str) -> os.stat_result:
    """Grant `access` beneath the file `path_fd` refers to (clipped to a file's rights for a non-directory);
    returns that file's status, taken from the very descriptor the rule names.

    Also called in the sandboxed child, for what exists only there: its private /dev/shm and its tty.
    """
    info = os.fstat(path_fd)
    if not stat.S_ISDIR(info.st_mode):
        access &= FILE_RIGHTS
    beneath = PathBeneathAttr(access, path_fd)
    result = libc().syscall(ctypes.c_long(SYS_ADD_RULE), ctypes.c_int(ruleset), ctypes.c_int(RULE_PATH_BENEATH),
                            ctypes.byref(beneath), ctypes.c_uint32(0))
    if result < 0:
        err = ctypes.get_errno()
        raise LandlockError(err, f"landlock_add_rule({name}): {os.strerror(err)}")
    return info
