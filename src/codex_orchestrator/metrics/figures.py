"""The figures of one run, computed from what its manifest already records.

They go into `run:summary.metrics` and the run's record in `.runs/<task>/metrics.json`, and a record
rebuilt from a manifest (after a damaged metrics.json) gets the same figures, because both come from
here and from nothing else.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

REUSED_SOURCES = frozenset({"session", "store", "codex-rules"})
APPROVED = frozenset({"approved", "approved_for_session", "approved_always"})
LATENCIES_KEPT = 1000  # tool-run durations kept per record: enough for P95, bounded for a huge pipeline


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank percentile (q in 0..100) of `values`; None for none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return round(ordered[rank - 1], 3)


def reuse_pct(reused: int, needed: int) -> float | None:
    return round(100.0 * reused / needed, 1) if needed else None


def tool_latencies(tool_runs: Iterable[Mapping[str, Any]]) -> list[float]:
    """Durations of the tool runs that ran (a rejected one never started: it has no latency)."""
    return [float(r["durationMs"]) for r in tool_runs
            if r.get("attempts") and isinstance(r.get("durationMs"), int | float)][-LATENCIES_KEPT:]


def run_figures(metrics: Mapping[str, Any], tool_runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The derived figures of `run:summary.metrics` (camelCase) from the manifest's `metrics` and `tool_runs`."""
    latencies = tool_latencies(tool_runs)
    reused = int(metrics.get("approvals_reused") or 0)
    needed = max(int(metrics.get("approvals_needed") or 0), reused + int(metrics.get("approvals_prompted") or 0))
    return {
        "approvalsNeeded": needed,
        "approvalReusePct": reuse_pct(reused, needed),
        "toolLatencyP50Ms": percentile(latencies, 50),
        "toolLatencyP95Ms": percentile(latencies, 95),
        "retries": int(metrics.get("retries") or 0),
        "approvalDenials": int(metrics.get("approval_denials") or 0),
        "sandboxDenials": int(metrics.get("sandbox_denials") or 0),
        "outputFormat": metrics.get("output_format"),
    }
