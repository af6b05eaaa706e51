"""Bounded output on disk: at most `limit` bytes per stream of a tool run reach its log and its events.

A command that prints forever (`yes`) must not fill the disk. Past the limit,
`truncate` (the default) stops recording that stream but keeps reading it, so the
command is never blocked by a full pipe and can finish; `kill` stops the command as
a time-out would. Either way the bytes not recorded are counted (`exec:end`
`streams.<name>.droppedBytes`), and the head/tail summaries still show the real end.
"""

from __future__ import annotations

from typing import Literal

OnLimit = Literal["truncate", "kill"]


class OutputLimit:
    def __init__(self, limit: int, on_limit: OnLimit = "truncate") -> None:
        self.limit = limit  # 0: unlimited
        self.on_limit: OnLimit = on_limit
        self.recorded: dict[str, int] = {}
        self.dropped: dict[str, int] = {}

    def admit(self, stream: str, size: int) -> int:
        """How many of the next `size` bytes of `stream` may be recorded (a prefix)."""
        if self.limit <= 0:
            return size
        done = self.recorded.get(stream, 0)
        allowed = max(0, min(size, self.limit - done))
        self.recorded[stream] = done + allowed
        if allowed < size:
            self.dropped[stream] = self.dropped.get(stream, 0) + size - allowed
        return allowed

    def admit_whole(self, stream: str, size: int) -> bool:
        """For chunks that cannot be cut (the PTY's, already split on UTF-8 boundaries): all or nothing."""
        if self.limit <= 0:
            return True
        done = self.recorded.get(stream, 0)
        if done + size <= self.limit:
            self.recorded[stream] = done + size
            return True
        self.dropped[stream] = self.dropped.get(stream, 0) + size
        return False

    @property
    def exceeded(self) -> bool:
        return bool(self.dropped)

    @property
    def kills(self) -> bool:
        return self.exceeded and self.on_limit == "kill"

    def message(self) -> str:
        streams = ", ".join(f"{name} ({dropped} bytes not recorded)" for name, dropped in self.dropped.items())
        action = "the command was stopped" if self.on_limit == "kill" else "the rest was not recorded"
        return f"output limit of {self.limit} bytes per stream reached on {streams}; {action}"
