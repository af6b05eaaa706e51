"""Run figures (approval reuse, tool latency, retries, denials, JSONL adoption) and their report.

`figures.py` computes them from a run's manifest records (standard library only: every run pays for
it); `report.py` aggregates `.runs/*/metrics.json` for `codex-orchestrator metrics`.
"""
