from __future__ import annotations

import tracemalloc

from hypothesis import given
from hypothesis import strategies as st

from codex_orchestrator.exec.buffer import HeadTailBuffer


@given(st.lists(st.binary(max_size=300), max_size=30), st.integers(2, 200))
def test_keeps_exact_head_and_tail(pieces: list[bytes], limit: int) -> None:
    buffer = HeadTailBuffer(limit)
    for piece in pieces:
        buffer.append(piece)
    data = b"".join(pieces)
    half = limit // 2
    assert buffer.total_bytes == len(data)
    assert buffer.head() == data[:half]
    assert buffer.truncated == (len(data) > limit)
    if buffer.truncated:
        assert buffer.tail() == data[-(limit - half):]
    else:
        assert buffer.head() + buffer.tail() == data


def test_render_marks_the_omitted_bytes() -> None:
    buffer = HeadTailBuffer(10)
    buffer.append(b"0123456789abcdefghij")
    assert buffer.render() == "01234\n[... 10 bytes omitted ...]\nfghij"


def test_render_untruncated_keeps_characters_across_the_halves() -> None:
    buffer = HeadTailBuffer(8)
    buffer.append("aaa€".encode())  # the euro sign straddles head and tail
    assert buffer.render() == "aaa€"


def test_render_drops_a_character_cut_by_truncation() -> None:
    buffer = HeadTailBuffer(8)
    buffer.append(b"abcd" + b"x" * 10 + "€".encode() + b"yz")
    text = buffer.render()
    assert "\ufffd" not in text  # the orphan continuation bytes of the euro sign are dropped
    assert text == "abcd\n[... 13 bytes omitted ...]\nyz"


def test_memory_is_bounded_whatever_the_volume() -> None:
    buffer = HeadTailBuffer(64 * 1024)
    piece = b"z" * 65536
    tracemalloc.start()
    for _ in range(2000):  # 128 MiB
        buffer.append(piece)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert buffer.total_bytes == 2000 * 65536
    assert peak < 1024 * 1024
