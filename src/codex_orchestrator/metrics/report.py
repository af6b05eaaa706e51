"""Aggregate the records of `.runs/<task>/metrics.json` for `codex-orchestrator metrics`."""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .figures import percentile, reuse_pct

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")


def parse_duration(text: str) -> float:
    """`90s`, `30m`, `12h`, `7d`, `2w` -> seconds; ValueError otherwise."""
    match = _DURATION.match(text.strip())
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"expected a duration such as 30m, 12h or 7d, got {text!r}")
    return float(match.group(1)) * UNITS[match.group(2)]


def _epoch(timestamp: Any) -> float | None:
    if not isinstance(timestamp, str):
        return None
    base, _, millis = timestamp.rstrip("Z").partition(".")
    try:
        return calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) + int(millis or 0) / 1000
    except ValueError:
        return None


def load_records(root: Path, task: str | None, since: float | None,
                 warn: Any = None) -> tuple[list[str], list[dict[str, Any]]]:
    """(tasks read, their records newer than `since` seconds ago), oldest first."""
    from .._files import read_json

    runs_dir = root / ".runs"
    tasks = [task] if task else sorted(p.name for p in runs_dir.iterdir() if p.is_dir()) if runs_dir.is_dir() else []
    cutoff = time.time() - since if since is not None else None
    records: list[dict[str, Any]] = []
    read: list[str] = []
    for name in tasks:
        path = runs_dir / name / "metrics.json"
        try:
            document = read_json(path, within=root)
        except FileNotFoundError:
            continue
        except (OSError, ValueError) as exc:
            if warn is not None:
                warn(f"{path}: skipped ({exc})")
            continue
        read.append(name)
        for record in document.get("runs", []) if isinstance(document, dict) else []:
            if not isinstance(record, dict):
                continue
            when = _epoch(record.get("completed_at")) or _epoch(record.get("started_at"))
            if cutoff is not None and (when is None or when < cutoff):
                continue
            records.append({**record, "task_id": name})
    records.sort(key=lambda r: str(r.get("started_at") or ""))
    return read, records


def _total(records: Iterable[dict[str, Any]], key: str) -> int:
    return sum(int(r.get(key) or 0) for r in records)


def summarize(tasks: list[str], records: list[dict[str, Any]], since: str | None) -> dict[str, Any]:
    """The figures the issue asks for, over the records (child runs count for tools and approvals; JSONL
    adoption counts the runs a person or program started, i.e. top-level runs)."""
    by_status: dict[str, int] = {}
    for record in records:
        by_status[str(record.get("status"))] = by_status.get(str(record.get("status")), 0) + 1
    reused, prompted = _total(records, "approvals_reused"), _total(records, "approvals_prompted")
    needed = sum(max(int(r.get("approvals_needed") or 0),
                     int(r.get("approvals_reused") or 0) + int(r.get("approvals_prompted") or 0)) for r in records)
    latencies = [float(v) for r in records for v in (r.get("tool_latencies_ms") or []) if isinstance(v, int | float)]
    top = [r for r in records if not r.get("parent_run_id")]
    known = [r for r in top if r.get("output_format")]
    jsonl = sum(1 for r in known if r.get("output_format") == "jsonl")
    return {
        "tasks": tasks, "since": since, "runs": len(records), "by_status": dict(sorted(by_status.items())),
        "approvals": {"needed": needed, "reused": reused, "prompted": prompted,
                      "denied": _total(records, "approval_denials"), "reuse_pct": reuse_pct(reused, needed)},
        "tool_runs": _total(records, "tool_runs"),
        "tool_latency_ms": {"p50": percentile(latencies, 50), "p95": percentile(latencies, 95),
                            "samples": len(latencies)},
        "retries": _total(records, "retries"), "sandbox_denials": _total(records, "sandbox_denials"),
        "jsonl_adoption": {"jsonl_runs": jsonl, "runs": len(known), "unknown": len(top) - len(known),
                           "pct": round(100.0 * jsonl / len(known), 1) if known else None},
    }


def render_text(summary: dict[str, Any]) -> str:
    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f} %"

    def num(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    a, lat, j = summary["approvals"], summary["tool_latency_ms"], summary["jsonl_adoption"]
    scope = ", ".join(summary["tasks"]) or "(no runs recorded)"
    statuses = ", ".join(f"{k} {v}" for k, v in summary["by_status"].items()) or "-"
    rows = [
        ("tasks", scope + (f"  (last {summary['since']})" if summary["since"] else "")),
        ("runs", f"{summary['runs']}  ({statuses})"),
        ("approval reuse", f"{pct(a['reuse_pct'])}  ({a['reused']} reused of {a['needed']} needed; "
                           f"{a['prompted']} asked, {a['denied']} refused)"),
        ("tool runs", str(summary["tool_runs"])),
        ("tool latency P50", f"{num(lat['p50'])} ms"),
        ("tool latency P95", f"{num(lat['p95'])} ms  ({lat['samples']} samples)"),
        ("retries", str(summary["retries"])),
        ("sandbox denials", str(summary["sandbox_denials"])),
        ("JSONL adoption", f"{pct(j['pct'])}  ({j['jsonl_runs']} of {j['runs']} runs"
                           + (f"; {j['unknown']} older runs without a record of it" if j["unknown"] else "") + ")"),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)
