"""The ToolOrchestrator with real commands: every policy x sandbox mode, approvals, retries, records."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from codex_orchestrator.config import load_config
from codex_orchestrator.events.bus import EventBus
from codex_orchestrator.exec.cancel import CancelToken
from codex_orchestrator.tools.asker import ApprovalQuestion, NoChannel
from codex_orchestrator.tools.orchestrator import ToolOrchestrator
from codex_orchestrator.tools.request import ToolRequest


class Collector:
    critical = True

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def handle(self, event: Any, line: str) -> None:
        self.events.append(event)

    def close(self) -> None:
        pass

    def types(self) -> list[str]:
        return [e["type"] for e in self.events]

    def of(self, type_: str) -> list[dict[str, Any]]:
        return [e["payload"] for e in self.events if e["type"] == type_]


class ScriptedAsker:
    """Answers every question with the given decisions in turn, and remembers what it was asked."""

    available = True

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.questions: list[ApprovalQuestion] = []

    def ask(self, question: ApprovalQuestion, timeout: float, cancel: Any = None, report: Any = None) -> Any:
        self.questions.append(question)
        return self.answers.pop(0)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    return ws


def make(workspace: Path, policy: str, mode: str, asker: Any = None, **env: str) -> tuple[ToolOrchestrator, Collector]:
    import os

    config = load_config(workspace, {"approval_policy": policy, "sandbox_mode": mode},
                         {**os.environ, **{f"CODEX_ORCHESTRATOR_{k}": v for k, v in env.items()}})
    bus = EventBus()
    collector = Collector()
    bus.subscribe(collector)
    orchestrator = ToolOrchestrator(config, bus, cancel=CancelToken(), asker=asker or NoChannel())
    return orchestrator, collector


WRITE = "echo data > written.txt"

# (policy, mode) -> (status, file written, asked)
MATRIX = {
    ("untrusted", "read-only"): ("rejected", False),
    ("untrusted", "workspace-write"): ("rejected", False),
    ("untrusted", "danger-full-access"): ("rejected", False),
    ("on-failure", "read-only"): ("denied", False),  # denied; rerunning it outside needs an approval
    ("on-failure", "workspace-write"): ("succeeded", True),
    ("on-failure", "danger-full-access"): ("succeeded", True),
    ("on-request", "read-only"): ("denied", False),
    ("on-request", "workspace-write"): ("succeeded", True),
    ("on-request", "danger-full-access"): ("succeeded", True),
    ("never", "read-only"): ("denied", False),
    ("never", "workspace-write"): ("succeeded", True),
    ("never", "danger-full-access"): ("succeeded", True),
}


@pytest.mark.parametrize(("policy", "mode"), sorted(MATRIX))
def test_policy_by_sandbox_matrix_without_a_channel(workspace: Path, policy: str, mode: str) -> None:
    orchestrator, events = make(workspace, policy, mode)
    result = orchestrator.invoke(ToolRequest(tool="test", command=WRITE, cwd=workspace))
    status, written = MATRIX[(policy, mode)]
    assert result.status == status, result
    assert (workspace / "written.txt").exists() == written
    assert events.types()[-1] == "tool:complete"
    assert "tool:start" in events.types()
    if status == "rejected" or (policy, mode) == ("on-failure", "read-only"):
        assert "no approval channel" in (result.message or "")


@pytest.mark.parametrize("policy", ["untrusted", "on-failure", "on-request", "never"])
def test_known_safe_read_command_runs_under_every_policy(workspace: Path, policy: str) -> None:
    (workspace / "a.txt").write_text("hello")
    orchestrator, _ = make(workspace, policy, "read-only")
    result = orchestrator.invoke(ToolRequest(tool="test", command=["cat", "a.txt"], cwd=workspace))
    assert result.status == "succeeded"
    assert result.tail_text("stdout") == "hello"
    assert result.approval_source == ("known-safe" if policy == "untrusted" else "not-required")


def test_on_failure_denial_asks_then_reruns_unsandboxed(workspace: Path) -> None:
    asker = ScriptedAsker("approved")
    orchestrator, events = make(workspace, "on-failure", "read-only", asker)
    result = orchestrator.invoke(ToolRequest(tool="test", command=WRITE, cwd=workspace))
    assert result.status == "succeeded"
    assert result.sandbox_state == "escalated"
    assert result.retry_count == 1
    assert [a["sandboxState"] for a in result.attempts] == ["denied", "escalated"]
    assert (workspace / "written.txt").read_text() == "data\n"
    assert len(asker.questions) == 1 and "denied" in asker.questions[0].reason
    order = events.types()
    assert order.index("approval:request") < order.index("tool:retry") < order.index("tool:complete")


def test_untrusted_approval_for_the_sandbox_does_not_cover_leaving_it(workspace: Path) -> None:
    """W2-1 item 10: approving a command *in* the sandbox never approves running it outside."""
    asker = ScriptedAsker("approved", "approved")
    orchestrator, _ = make(workspace, "untrusted", "read-only", asker)
    result = orchestrator.invoke(ToolRequest(tool="test", command=WRITE, cwd=workspace))
    assert result.status == "succeeded" and result.sandbox_state == "escalated"
    assert len(asker.questions) == 2
    assert asker.questions[0].sandbox_mode == "read-only"
    assert asker.questions[1].sandbox_mode == "danger-full-access"


def test_untrusted_refusing_to_leave_the_sandbox_is_a_refusal(workspace: Path) -> None:
    asker = ScriptedAsker("approved", "denied")
    orchestrator, _ = make(workspace, "untrusted", "read-only", asker)
    result = orchestrator.invoke(ToolRequest(tool="test", command=WRITE, cwd=workspace))
    assert result.status == "denied" and result.escalation_refused
    assert not (workspace / "written.txt").exists()


def test_an_escalate_request_is_asked_once(workspace: Path) -> None:
    """A request to run outside the sandbox *is* the escalation question: its approval covers the run."""
    asker = ScriptedAsker("approved")
    orchestrator, _ = make(workspace, "untrusted", "read-only", asker)
    result = orchestrator.invoke(ToolRequest(tool="test", command=WRITE, cwd=workspace, escalate=True))
    assert result.status == "succeeded" and len(asker.questions) == 1


def test_session_approval_is_reused_without_asking(workspace: Path) -> None:
    asker = ScriptedAsker("approved_for_session")
    orchestrator, events = make(workspace, "untrusted", "workspace-write", asker)
    first = orchestrator.invoke(ToolRequest(tool="test", command=WRITE, cwd=workspace))
    second = orchestrator.invoke(ToolRequest(tool="test", command=WRITE, cwd=workspace))
    assert first.approval_source == "prompt" and second.approval_source == "session"
    assert len(asker.questions) == 1
    assert orchestrator.approvals_prompted == 1 and orchestrator.approvals_reused == 1
    decisions = events.of("approval:decision")
    assert [d["approvalSource"] for d in decisions] == ["prompt", "session"]
    assert decisions[0]["approvalKey"].startswith("sha256:")


def test_denied_answer_rejects(workspace: Path) -> None:
    orchestrator, _ = make(workspace, "untrusted", "workspace-write", ScriptedAsker("denied"))
    result = orchestrator.invoke(ToolRequest(tool="test", command=WRITE, cwd=workspace))
    assert result.status == "rejected" and not (workspace / "written.txt").exists()


def test_never_refuses_escalation_requests(workspace: Path) -> None:
    asker = ScriptedAsker()
    orchestrator, _ = make(workspace, "never", "read-only", asker)
    result = orchestrator.invoke(ToolRequest(tool="test", command=WRITE, cwd=workspace, escalate=True,
                                             justification="need to write"))
    assert result.status == "rejected" and result.approval_source == "denied-by-policy"
    assert asker.questions == []


def test_on_request_escalation_asks_with_justification(workspace: Path) -> None:
    asker = ScriptedAsker("approved")
    orchestrator, _ = make(workspace, "on-request", "read-only", asker)
    result = orchestrator.invoke(ToolRequest(tool="test", command=WRITE, cwd=workspace, escalate=True,
                                             justification="write the report"))
    assert result.status == "succeeded" and result.sandbox_state == "unsandboxed"
    assert asker.questions[0].reason == "write the report"


def test_transient_failures_retry_with_backoff(workspace: Path) -> None:
    orchestrator, events = make(workspace, "on-request", "workspace-write", RETRY_BACKOFF_MS="10")
    script = "n=$(cat n 2>/dev/null || echo 0); n=$((n+1)); echo $n > n; [ $n -ge 3 ] || exit 75"
    result = orchestrator.invoke(ToolRequest(tool="test", command=script, cwd=workspace,
                                             retry_on_exit_codes=(75,)))
    assert result.status == "succeeded" and result.retry_count == 2
    assert [r["delayMs"] for r in events.of("tool:retry")] == [10, 20]
    assert len(result.attempts) == 3


def test_transient_failures_stop_at_max_attempts(workspace: Path) -> None:
    orchestrator, _ = make(workspace, "on-request", "workspace-write", RETRY_BACKOFF_MS="1",
                           RETRY_MAX_ATTEMPTS="2")
    result = orchestrator.invoke(ToolRequest(tool="test", command="exit 75", cwd=workspace,
                                             retry_on_exit_codes=(75,)))
    assert result.status == "failed" and len(result.attempts) == 2 and result.exit_code == 75


def test_codex_rules_allow_and_forbid(workspace: Path, isolated_home: Path) -> None:
    rules = isolated_home / ".codex" / "rules"
    rules.mkdir()
    (rules / "project.rules").write_text(
        'prefix_rule(pattern=["touch", ["allowed.txt", "also.txt"]], decision="allow", '
        'justification="touching is fine")\n'
        'prefix_rule(pattern=["rm"], decision="forbidden", justification="never delete")\n'
    )
    orchestrator, _ = make(workspace, "untrusted", "read-only")
    allowed = orchestrator.invoke(ToolRequest(tool="test", command=["touch", "allowed.txt"], cwd=workspace))
    assert allowed.status == "succeeded" and allowed.approval_source == "codex-rules"
    assert allowed.sandbox_state == "unsandboxed"  # as in Codex, an allow rule runs outside the sandbox
    (workspace / "keep.txt").write_text("x")
    for policy in ("never", "on-request", "untrusted"):
        orchestrator, _ = make(workspace, policy, "danger-full-access")
        forbidden = orchestrator.invoke(ToolRequest(tool="test", command=["rm", "keep.txt"], cwd=workspace))
        assert forbidden.status == "rejected" and forbidden.approval_source == "forbidden-by-rule"
        assert "never delete" in (forbidden.message or "")
    assert (workspace / "keep.txt").exists()


def test_cancel_stops_the_command(workspace: Path) -> None:
    orchestrator, _ = make(workspace, "on-request", "workspace-write")
    timer = threading.Timer(0.5, orchestrator.cancel.cancel, args=(15,))
    timer.start()
    result = orchestrator.invoke(ToolRequest(tool="test", command="sleep 30", cwd=workspace))
    timer.join()
    assert result.status == "cancelled"


def test_records_hold_no_secrets(workspace: Path) -> None:
    orchestrator, events = make(workspace, "on-request", "workspace-write")
    orchestrator.invoke(ToolRequest(tool="test", command="true", cwd=workspace,
                                    env={"MY_API_TOKEN": "s3cr3t-value"}))
    assert "s3cr3t-value" not in repr(events.events)
