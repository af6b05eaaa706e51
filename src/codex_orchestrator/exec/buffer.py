"""Keep the beginning and the end of an output stream in bounded memory.

A command may print gigabytes; a manifest, an event or a model prompt wants a
summary. The first half of the budget holds how it started (the command line
echo, the first error), the second half how it ended (the final error, the test
summary); everything in between is counted but dropped.
"""

from __future__ import annotations

DEFAULT_LIMIT = 64 * 1024


def _skip_continuations(data: bytes) -> int:
    """Bytes at the start of `data` that belong to a character cut off by truncation (at most 3)."""
    count = 0
    while count < min(3, len(data)) and 0x80 <= data[count] <= 0xBF:
        count += 1
    return count


class HeadTailBuffer:
    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        if limit < 2:
            raise ValueError("limit must be at least 2 bytes")
        self.limit = limit
        self._head_limit = limit // 2
        self._tail_limit = limit - self._head_limit
        self._head = bytearray()
        self._tail = bytearray()
        self.total_bytes = 0

    def append(self, data: bytes) -> None:
        self.total_bytes += len(data)
        room = self._head_limit - len(self._head)
        if room > 0:
            self._head += data[:room]
            data = data[room:]
        if not data:
            return
        if len(data) >= self._tail_limit:
            self._tail[:] = data[-self._tail_limit :]
            return
        self._tail += data
        excess = len(self._tail) - self._tail_limit
        if excess > 0:
            del self._tail[:excess]

    @property
    def truncated(self) -> bool:
        return self.total_bytes > len(self._head) + len(self._tail)

    @property
    def omitted_bytes(self) -> int:
        return self.total_bytes - len(self._head) - len(self._tail)

    def head(self) -> bytes:
        return bytes(self._head)

    def tail(self) -> bytes:
        return bytes(self._tail)

    def render(self) -> str:
        """The kept text, with a marker saying how much was dropped when something was."""
        if not self.truncated:
            return (bytes(self._head) + bytes(self._tail)).decode("utf-8", errors="replace")
        tail = bytes(self._tail)
        # Do not start the tail with the remains of a character whose lead byte was dropped.
        cut = _skip_continuations(tail)
        omitted = self.omitted_bytes + cut
        head = self._head.decode("utf-8", errors="replace")
        return f"{head}\n[... {omitted} bytes omitted ...]\n{tail[cut:].decode('utf-8', errors='replace')}"
