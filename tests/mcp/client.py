"""A real MCP client (the official SDK's stdio client) talking to a real `codex-orchestrator mcp serve`."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import mcp_types as types
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

Elicit = Callable[[Any, types.ElicitRequestParams], Awaitable[types.ElicitResult | types.ErrorData]]


def answer(decision: str | None, *, action: str = "accept", asked: list[str] | None = None) -> Elicit:
    """An elicitation callback that records each question and answers with `decision`."""

    async def callback(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        if asked is not None:
            asked.append(params.message)
        content = {"decision": decision} if decision is not None else None
        return types.ElicitResult(action=action, content=content)  # type: ignore[arg-type]

    return callback


class Client:
    def __init__(self, session: ClientSession) -> None:
        self.session = session

    async def call(self, tool: str, arguments: dict[str, Any] | None = None) -> types.CallToolResult:
        return await self.session.call_tool(tool, arguments or {})

    async def text(self, tool: str, arguments: dict[str, Any] | None = None) -> str:
        result = await self.call(tool, arguments)
        content = result.content[0]
        assert isinstance(content, types.TextContent)
        return content.text


@asynccontextmanager
async def serve(cwd: Path, *args: str, elicit: Elicit | None = None,
                env: dict[str, str] | None = None) -> AsyncIterator[Client]:
    params = StdioServerParameters(command=sys.executable, args=["-m", "codex_orchestrator.cli.main", "mcp", "serve",
                                                                 *args],
                                   cwd=str(cwd), env={**os.environ, **(env or {})})
    async with stdio_client(params) as (read, write), ClientSession(read, write, elicitation_callback=elicit) as s:
        await s.initialize()
        yield Client(s)


def info(result: types.CallToolResult) -> dict[str, Any]:
    """What an exec tool's result says of its run, in `_meta` (the text is for the model)."""
    meta = result.meta or {}
    return dict(meta.get("codex-orchestrator/run") or {})


def manifest(structured: dict[str, Any] | None) -> dict[str, Any]:
    assert structured is not None and structured.get("manifest"), structured
    return dict(json.loads(Path(structured["manifest"]).read_text()))


def events(structured: dict[str, Any] | None) -> list[dict[str, Any]]:
    assert structured is not None
    path = Path(structured["manifest"]).parent / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]
