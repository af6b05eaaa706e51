"""Split a byte stream into event-sized chunks without cutting a UTF-8 character.

Output is forwarded live as JSONL events. A chunk that is valid UTF-8 can travel
as plain text; anything else (binary output, a stray Latin-1 byte) must travel
base64-encoded so that not one byte is lost. Cutting in the middle of a
multi-byte character would turn perfectly good text into two "binary" chunks, so
the chunker only cuts on character boundaries and holds back an incomplete
trailing character until the next read completes it.
"""

from __future__ import annotations

import codecs

MAX_CHUNK_BYTES = 8192


class Chunk:
    """A piece of output of at most MAX_CHUNK_BYTES; `text` is True when `data` is valid UTF-8 on its own.

    Written by hand rather than as a record: one is built per output chunk.
    """

    __slots__ = ("data", "text")

    def __init__(self, data: bytes, text: bool) -> None:
        self.data = data
        self.text = text

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Chunk):
            return NotImplemented
        return self.data == other.data and self.text == other.text

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Chunk(data={self.data!r}, text={self.text!r})"


def _sequence_length(lead: int) -> int:
    """Length of the UTF-8 sequence a lead byte announces; 0 for a byte that cannot start one."""
    if lead < 0x80:
        return 1
    if 0xC2 <= lead <= 0xDF:
        return 2
    if 0xE0 <= lead <= 0xEF:
        return 3
    if 0xF0 <= lead <= 0xF4:
        return 4
    return 0


def _is_continuation(byte: int) -> bool:
    return 0x80 <= byte <= 0xBF


def _start_of_open_sequence(data: bytes | bytearray, end: int, floor: int) -> int:
    """Where the character cut by a split at `end` begins, or `end` if the split cuts nothing.

    Looks back at most three bytes (never before `floor`) for a lead byte whose
    sequence would run past `end`. Invalid bytes are left alone: they are binary
    anyway, so any split is as good as another.
    """
    for start in range(end - 1, max(floor, end - 4) - 1, -1):
        byte = data[start]
        if _is_continuation(byte):
            continue
        length = _sequence_length(byte)
        if length > end - start and _is_valid_prefix(data[start:end]):
            return start
        return end
    return end


def _is_valid_prefix(data: bytes | bytearray) -> bool:
    """True if `data` is the beginning of some valid UTF-8 character (E0 80 is not, for example)."""
    try:
        return codecs.getincrementaldecoder("utf-8")().decode(bytes(data), final=False) == ""
    except UnicodeDecodeError:
        return False


def _make_chunk(data: bytes) -> Chunk:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return Chunk(data, text=False)
    return Chunk(data, text=True)


class Utf8Chunker:
    """Incremental splitter: `feed` whatever a read returned, `flush` at end of stream."""

    def __init__(self, max_bytes: int = MAX_CHUNK_BYTES) -> None:
        if max_bytes < 4:
            raise ValueError("max_bytes must hold at least one UTF-8 character (4 bytes)")
        self.max_bytes = max_bytes
        self._pending = b""

    def feed(self, data: bytes) -> list[Chunk]:
        buf = self._pending + data if self._pending else data
        chunks: list[Chunk] = []
        start = 0
        while len(buf) - start > self.max_bytes:
            end = _start_of_open_sequence(buf, start + self.max_bytes, start)
            chunks.append(_make_chunk(buf[start:end]))
            start = end
        end = _start_of_open_sequence(buf, len(buf), start)
        if end > start:
            chunks.append(_make_chunk(buf[start:end]))
        self._pending = buf[end:]
        return chunks

    def flush(self) -> list[Chunk]:
        """End of stream: whatever is still held back is an incomplete (so binary) character."""
        pending, self._pending = self._pending, b""
        return [_make_chunk(pending)] if pending else []
