"""One ToolOrchestrator, many calls at once (serve mode): calls share no state but the sessions."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from codex_orchestrator.exec.cancel import CancelToken
from codex_orchestrator.tools.request import ToolRequest, ToolResult

from .test_orchestrator import make


def test_concurrent_calls_keep_their_own_output_and_status(tmp_path: Path) -> None:
    orchestrator, collector = make(tmp_path, "never", "workspace-write")
    results: dict[int, ToolResult] = {}
    errors: list[BaseException] = []

    def call(n: int) -> None:
        try:
            # Each prints its own marker in pieces, sleeping between them, so the calls interleave.
            command = f"for i in 1 2 3; do printf '{n}-'; sleep 0.0{n % 5}; done; exit {n % 3}"
            results[n] = orchestrator.invoke(ToolRequest(tool="exec", command=command, cwd=tmp_path,
                                                         capture_stdout=1024))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    for n, result in results.items():
        assert result.captured_stdout == f"{n}-{n}-{n}-".encode(), n
        assert result.exit_code == n % 3
        assert result.status == ("succeeded" if n % 3 == 0 else "failed")
    assert len(results) == 12
    tool_runs = {p["toolRunId"] for p in collector.of("tool:complete")}
    assert tool_runs == {r.tool_run_id for r in results.values()}


def test_cancel_of_one_call_leaves_the_others_running(tmp_path: Path) -> None:
    orchestrator, _ = make(tmp_path, "never", "workspace-write")
    token = CancelToken()
    outcome: dict[str, Any] = {}

    def long_call() -> None:
        outcome["cancelled"] = orchestrator.invoke(ToolRequest(tool="exec", command="sleep 20", cwd=tmp_path),
                                                   cancel=token)

    thread = threading.Thread(target=long_call)
    thread.start()
    time.sleep(0.3)
    token.cancel()
    other = orchestrator.invoke(ToolRequest(tool="exec", command="echo still-here", cwd=tmp_path))
    thread.join(10)
    assert outcome["cancelled"].status == "cancelled"
    assert other.status == "succeeded" and "still-here" in other.tail_text("stdout")
