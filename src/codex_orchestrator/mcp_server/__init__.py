"""`codex-orchestrator mcp serve`: the orchestrator as an MCP server (stdio), for Codex and other MCP clients.

Only `server.py` imports the `mcp` SDK (about a second of imports); the rest is plain Python that the
tests drive directly. docs/codex.md has the recipe, docs/security.md what a client can and cannot do.
"""
