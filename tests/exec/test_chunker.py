from __future__ import annotations

import itertools
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from codex_orchestrator.exec.chunker import MAX_CHUNK_BYTES, Chunk, Utf8Chunker

# Text-heavy byte strings (multi-byte characters near every boundary) mixed with raw binary.
utf8_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=200).map(str.encode)
byte_soup = st.lists(st.one_of(utf8_text, st.binary(max_size=50)), max_size=20).map(b"".join)


def feed_in_pieces(chunker: Utf8Chunker, data: bytes, cuts: list[int]) -> list[Chunk]:
    bounds = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    chunks: list[Chunk] = []
    for start, end in itertools.pairwise(bounds):
        chunks += chunker.feed(data[start:end])
    return chunks + chunker.flush()


def check(chunks: list[Chunk], data: bytes, max_bytes: int) -> None:
    assert b"".join(c.data for c in chunks) == data
    for chunk in chunks:
        assert 0 < len(chunk.data) <= max_bytes
        if chunk.text:
            chunk.data.decode("utf-8")
        else:
            try:
                chunk.data.decode("utf-8")
            except UnicodeDecodeError:
                pass
            else:
                raise AssertionError(f"valid UTF-8 chunk marked binary: {chunk.data!r}")


@settings(max_examples=400)
@given(byte_soup, st.lists(st.integers(0, 5000), max_size=10), st.integers(4, 40))
def test_no_byte_lost_and_text_chunks_decode(data: bytes, cuts: list[int], max_bytes: int) -> None:
    check(feed_in_pieces(Utf8Chunker(max_bytes), data, cuts), data, max_bytes)


@settings(max_examples=200)
@given(st.lists(utf8_text, max_size=10).map(b"".join), st.lists(st.integers(0, 3000), max_size=10),
       st.integers(4, 40))
def test_valid_utf8_is_never_cut_inside_a_character(data: bytes, cuts: list[int], max_bytes: int) -> None:
    chunks = feed_in_pieces(Utf8Chunker(max_bytes), data, cuts)
    check(chunks, data, max_bytes)
    assert all(chunk.text for chunk in chunks)


@settings(max_examples=30)
@given(st.integers(0, 2**32), st.integers(8192, 40_000), st.lists(st.integers(0, 40_000), max_size=5))
def test_default_limit_is_8192(seed: int, size: int, cuts: list[int]) -> None:
    rng = random.Random(seed)
    # Long runs of 3-byte characters and of random bytes, so cuts land everywhere.
    parts = [rng.randbytes(rng.randrange(1, 3000)) if rng.random() < 0.3 else "€é".encode() * rng.randrange(1, 2000)
             for _ in range(10)]
    data = b"".join(parts)[:size]
    check(feed_in_pieces(Utf8Chunker(), data, cuts), data, MAX_CHUNK_BYTES)


def test_multibyte_character_straddling_the_limit_moves_to_the_next_chunk() -> None:
    data = b"a" * 8191 + "é".encode() + b"b"
    chunks = Utf8Chunker().feed(data)
    assert [len(c.data) for c in chunks] == [8191, 3]
    assert all(c.text for c in chunks)


def test_incomplete_character_is_held_until_the_next_feed() -> None:
    chunker = Utf8Chunker()
    euro = "€".encode()
    assert chunker.feed(b"x" + euro[:2]) == [Chunk(b"x", True)]
    assert chunker.feed(euro[2:]) == [Chunk(euro, True)]
    assert chunker.flush() == []


def test_truncated_character_at_end_of_stream_is_flushed_as_binary() -> None:
    chunker = Utf8Chunker()
    assert chunker.feed("€".encode()[:2]) == []
    assert chunker.flush() == [Chunk(b"\xe2\x82", False)]


def test_invalid_lead_is_not_held_back() -> None:
    # E0 80 can never become a valid character: no reason to wait for more.
    assert Utf8Chunker().feed(b"ok\xe0\x80") == [Chunk(b"ok\xe0\x80", False)]
