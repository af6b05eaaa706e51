"""Approvals over MCP: the orchestrator's question becomes an elicitation to the client's user.

A client that declared the `elicitation` capability (Codex does) gets a form with one field, `decision`,
whose choices are our approval decisions. Anything but an accepted form with a valid decision is a
refusal: `decline` is `denied`, `cancel` is `abort`, an error or a closed connection denies. A client
without elicitation is no channel at all, so the configured policy decides and a command that needs a
person is refused (fail closed), exactly as `exec` without a terminal.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..tools.asker import OPTIONS, printable

if TYPE_CHECKING:  # pragma: no cover
    from ..events.protocol import ApprovalDecision
    from ..tools.asker import ApprovalQuestion, Cancel, Report

DECISION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"decision": {
        "type": "string", "title": "Decision", "enum": list(OPTIONS),
        "enumNames": ["Approve once", "Approve for this session", "Approve always", "Deny"],
    }},
    "required": ["decision"],
}


class ChannelClosed(Exception):
    """The client went away before it answered."""


class Channel(Protocol):
    """The client of one tool call, as the approval code sees it (server.py implements it over the SDK)."""

    @property
    def elicitation(self) -> bool:
        """Whether the client declared the elicitation capability."""

    def elicit(self, message: str, schema: Mapping[str, Any], timeout: float,
               cancel: Cancel | None) -> tuple[str, Mapping[str, Any] | None]:
        """(action, content): accept/decline/cancel. Raises TimeoutError, ChannelClosed, or the client's error;
        returns ("cancel", None) as soon as `cancel` is cancelled."""


class ElicitationAsker:
    """An `Asker` (tools/asker.py) that asks through MCP elicitation.

    `prefix_rule` is the call's proposed rule: answered `approved_always` to run outside the sandbox, it is
    stored in `$CODEX_HOME/rules/default.rules` as Codex would store it (tools/approvals/amend.py).
    """

    def __init__(self, channel: Channel, *, codex_home: Path, prefix_rule: Sequence[str] | None = None,
                 escalate: bool = False) -> None:
        self._channel = channel
        self._codex_home = codex_home
        self._prefix_rule = list(prefix_rule) if prefix_rule else None
        self._escalate = escalate
        self.available = channel.elicitation  # no elicitation: no one to ask, the policy fails closed
        self.stored_rule: Path | None = None
        self.rule_error: str | None = None

    def ask(self, question: ApprovalQuestion, timeout: float, cancel: Cancel | None = None,
            report: Report | None = None) -> ApprovalDecision:
        if cancel is not None and cancel.cancelled:
            return "abort"
        outside = self._escalate or question.sandbox_mode == "danger-full-access"
        rule = self._prefix_rule if outside else None
        try:
            action, content = self._channel.elicit(self._message(question, rule), DECISION_SCHEMA, timeout, cancel)
        except TimeoutError:
            return "timed_out"
        except ChannelClosed:
            return "channel-closed"
        except Exception as exc:  # the client answered with an error: nobody approved
            if report is not None:
                report("approval:error", {"line": str(exc)[:200],
                                          "error": "the client could not ask its user (elicitation failed); denied"})
            return "denied"
        if cancel is not None and cancel.cancelled:
            return "abort"
        if action == "cancel":
            return "abort"
        if action != "accept":
            return "denied"
        decision = (content or {}).get("decision")
        if decision not in OPTIONS:
            if report is not None:
                report("approval:error", {"line": json.dumps(content)[:200],
                                          "error": "the client's answer is not a decision; denied"})
            return "denied"
        if decision == "approved_always" and rule is not None:
            self._store_rule(rule)
        return decision  # type: ignore[no-any-return]

    def _store_rule(self, rule: list[str]) -> None:
        from ..errors import OrchestratorError
        from ..tools.approvals.amend import append_prefix_rule

        try:
            self.stored_rule = append_prefix_rule(self._codex_home, rule)
        except OrchestratorError as exc:  # the approval itself stands; the rule is reported as not stored
            self.rule_error = str(exc)

    @staticmethod
    def _message(question: ApprovalQuestion, rule: list[str] | None) -> str:
        lines = [
            "codex-orchestrator asks for approval to run a command.",
            f"Command: {printable(question.command)}",
            f"Working directory: {printable(question.cwd)}",
            f"Why: {printable(question.reason)}",
            f"Sandbox: {question.sandbox_mode}",
        ]
        if rule is not None:
            from ..tools.approvals.amend import rule_line

            lines.append("\"Approve always\" also adds this rule to your Codex rules (default.rules): every command "
                         f"starting with these words then runs without asking, outside the sandbox: "
                         f"{printable(rule_line(rule))}")
        return "\n".join(lines)
