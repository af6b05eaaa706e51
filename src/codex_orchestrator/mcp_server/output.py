"""The text an `exec_command` / `write_stdin` call returns, laid out as Codex 0.169 lays out its own:

    Chunk ID: 3f9a1c
    Wall time: 0.0526 seconds
    Process exited with code 0          (or: Process running with session ID 4821)
    Original token count: 16
    Output:
    ...

A model trained on Codex's tools reads ours the same way. Tokens are counted as Codex approximates them
(4 bytes a token); output past `max_output_tokens` keeps its head and its tail around a marker.
"""

from __future__ import annotations

import math
import os

BYTES_PER_TOKEN = 4


def approx_tokens(text: str) -> int:
    return math.ceil(len(text.encode("utf-8")) / BYTES_PER_TOKEN)


def truncate(text: str, max_tokens: int) -> str:
    """`text` if it fits in `max_tokens`; otherwise its head and tail (half the budget each) and a marker."""
    data = text.encode("utf-8")
    budget = max_tokens * BYTES_PER_TOKEN
    if len(data) <= budget:
        return text
    half = budget // 2
    head = data[:half].decode("utf-8", "ignore")
    tail = data[len(data) - (budget - half):].decode("utf-8", "ignore")
    dropped = approx_tokens(text) - max_tokens
    lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    return (f"Warning: truncated output (original token count: {approx_tokens(text)})\nTotal output lines: {lines}\n\n"
            f"{head}…{dropped} tokens truncated…{tail}")


def render(*, output: str, wall_seconds: float, exit_code: int | None, session_id: int | None,
           max_tokens: int, note: str | None = None) -> str:
    """The whole text: a running command shows its session id, a finished one its exit code."""
    state = (f"Process running with session ID {session_id}" if session_id is not None
             else f"Process exited with code {exit_code if exit_code is not None else -1}")
    lines = [f"Chunk ID: {os.urandom(3).hex()}", f"Wall time: {wall_seconds:.4f} seconds", state]
    if note:
        lines.append(note)
    lines += [f"Original token count: {approx_tokens(output)}", "Output:", truncate(output, max_tokens)]
    return "\n".join(lines)
