"""The ToolOrchestrator: the one entry point through which every tool runs."""
