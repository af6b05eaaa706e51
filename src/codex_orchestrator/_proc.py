"""The one reader of `/proc/PID/stat`: who a process's parent and session are, and when it started."""

from __future__ import annotations

import os
from collections.abc import Iterator

# Indexes into `stat_fields`: the fields after the command name, which may itself hold spaces or `)`.
STATE, PPID, SESSION, START_TIME = 0, 1, 3, 19


def stat_fields(pid: int | str) -> list[bytes] | None:
    """The fields of /proc/PID/stat after the command name; None once the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return None
    return stat[stat.rindex(b")") + 2 :].split()


def processes() -> Iterator[tuple[int, list[bytes]]]:
    """Every process visible here, with its fields (one that ends while we look is skipped)."""
    for name in os.listdir("/proc"):
        if name.isdigit():
            fields = stat_fields(name)
            if fields is not None and len(fields) > START_TIME:
                yield int(name), fields
