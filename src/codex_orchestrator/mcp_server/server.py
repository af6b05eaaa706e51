"""The MCP SDK side: a stdio server (the official `mcp` package) whose tools call `McpService`.

The SDK runs an asyncio loop; the orchestrator blocks. Each tool call is handed to the service's own
thread pool (not asyncio's or anyio's default executors: anyio retires idle worker threads, and a
sandboxed child dies with the thread that started it). An approval question travels the other way: the
pool thread schedules the elicitation on the loop and waits for the answer.

This is the only module that imports `mcp` (about a second of imports), so no other command pays for it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .approvals import ChannelClosed
from .tools import TOOLS

if TYPE_CHECKING:  # pragma: no cover
    from mcp.server.session import ServerSession

    from ..tools.asker import Cancel
    from .service import McpService

SERVER_NAME = "codex-orchestrator"
META_KEY = "codex-orchestrator/run"  # in a result's `_meta`: the run id, manifest, exit code, session id
INSTRUCTIONS = (
    "Run shell commands through codex-orchestrator: exec_command and write_stdin work as Codex's own tools; "
    "every command goes through the user's approval policy and sandbox and is recorded as a run."
)


class SdkChannel:
    """The client of one tool call (approvals/Channel), over the SDK's session."""

    def __init__(self, session: ServerSession, loop: asyncio.AbstractEventLoop, request_id: Any) -> None:
        self._session = session
        self._loop = loop
        self._request_id = request_id
        self._open = True
        capabilities = session.client_capabilities
        self._elicitation = capabilities is not None and capabilities.elicitation is not None

    @property
    def elicitation(self) -> bool:
        return self._elicitation

    def detach(self) -> None:
        """The tool call returned: later questions (a command still running) go on the connection itself."""
        self._open = False

    def elicit(self, message: str, schema: Mapping[str, Any], timeout: float,
               cancel: Cancel | None) -> tuple[str, Mapping[str, Any] | None]:
        import anyio

        related = self._request_id if self._open else None
        coroutine = self._session.elicit_form(message, dict(schema), related_request_id=related)
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        deadline = time.monotonic() + timeout
        while True:
            try:
                result = future.result(timeout=0.05)
            except concurrent.futures.TimeoutError:
                if cancel is not None and cancel.cancelled:
                    future.cancel()
                    return "cancel", None
                if time.monotonic() >= deadline:
                    future.cancel()
                    raise TimeoutError from None
                continue
            except (concurrent.futures.CancelledError, anyio.ClosedResourceError, anyio.BrokenResourceError,
                    anyio.EndOfStream, RuntimeError) as exc:
                raise ChannelClosed(str(exc)) from None
            return str(result.action), result.content


async def serve_stdio(service: McpService, version: str) -> None:
    """Serve until the client closes our stdin."""
    import mcp_types as types
    from mcp.server.lowlevel import Server
    from mcp.server.stdio import stdio_server

    loop = asyncio.get_running_loop()
    tools = [types.Tool(name=tool["name"], description=tool["description"], input_schema=tool["schema"])
             for tool in TOOLS]

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tools)

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        channel = SdkChannel(ctx.session, loop, ctx.request_id)
        try:
            reply = await asyncio.wrap_future(service.pool.submit(service.call, params.name, params.arguments,
                                                                  channel))
        finally:
            channel.detach()
        result = types.CallToolResult(content=[types.TextContent(type="text", text=reply.text)],
                                      structured_content=reply.structured, is_error=reply.is_error)
        if reply.meta is not None:
            result.meta = {META_KEY: reply.meta}
        return result

    server: Server[Any] = Server(SERVER_NAME, version=version, instructions=INSTRUCTIONS,
                                 on_list_tools=list_tools, on_call_tool=call_tool)
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())
