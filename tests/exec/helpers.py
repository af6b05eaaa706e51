"""Process inspection through /proc, to prove that nothing outlives a run."""

from __future__ import annotations

import os
import time
from pathlib import Path


def proc_state(pid: int) -> str | None:
    """The state letter of `pid` ("R", "S", "Z", ...), or None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    return stat[stat.rfind(b")") + 2 :].split()[0].decode()


def is_running(pid: int) -> bool:
    """Alive and not a zombie (a killed orphan may linger as a zombie of an init that never reaps)."""
    return proc_state(pid) not in (None, "Z", "X")


def wait_gone(pid: int, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not is_running(pid):
            return True
        time.sleep(0.01)
    return False


def children_of(ppid: int) -> list[tuple[int, str]]:
    """(pid, state) of every process whose parent is `ppid`, zombies included."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if int(fields[1]) == ppid:
            found.append((int(entry.name), fields[0].decode()))
    return found


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/self/status")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))
