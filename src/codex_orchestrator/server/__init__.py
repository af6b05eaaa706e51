"""`serve --stdio`: the orchestrator as a long-lived JSON-RPC server for SDKs (docs/serve.md)."""
