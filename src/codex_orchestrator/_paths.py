"""`resolve`: `Path.resolve()` asked of the kernel.

Python's `Path.resolve()` walks a path one `lstat` per component in Python (~40 us for a folder seven
levels deep). A warm server resolves the call's folder several times per call (its config, guidance,
approval key and tool call each insist on a canonical folder), so it asks the kernel instead: open the
path with `O_PATH` (nothing is read, no permission beyond search is needed) and read back where that
descriptor points, `/proc/self/fd/N`. Three syscalls, the same answer for a path that exists, since the
kernel resolved the very links `Path.resolve()` would. Anything else (a path that does not exist, no
`/proc`, a name the kernel reports as deleted) gets `Path.resolve()` itself.
"""

from __future__ import annotations

import os
from pathlib import Path

_O_PATH = getattr(os, "O_PATH", 0)


def resolve(path: Path) -> Path:
    """`path.resolve()`: absolute, every symbolic link followed, `..` applied after the link before it."""
    if not _O_PATH:
        return path.resolve()
    try:
        fd = os.open(path, _O_PATH | os.O_CLOEXEC)
    except OSError:
        return path.resolve()  # missing, or not reachable: the slow walk says what it can
    try:
        real = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return path.resolve()
    finally:
        os.close(fd)
    if not real.startswith("/") or real.endswith(" (deleted)"):
        return path.resolve()  # not a path of this file system view (an anonymous or removed object)
    return Path(real)
