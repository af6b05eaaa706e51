"""The approval policy table (mirrors the Codex CLI; docs/approvals.md has it in prose).

Pure functions: given the policy, the command and what the rules say, decide
whether to run now, ask first, or refuse. No I/O, so the table is easy to test
exhaustively.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from .._record import record

if TYPE_CHECKING:  # pragma: no cover
    from ..events.protocol import ApprovalSource

Action = Literal["run", "ask", "reject"]

# Policies that, after a sandbox denial, may ask to rerun the command outside the sandbox.
ESCALATE_ON_DENIAL = frozenset({"on-failure", "untrusted"})


@record(frozen=True)
class Assessment:
    action: Action
    source: ApprovalSource  # when no one is asked (or why it was refused)
    reason: str
    sandboxed: bool  # False: the command runs outside the sandbox once allowed
    escalated: bool  # the approval asked for is to run outside the sandbox


def assess(
    policy: str,
    *,
    rule_decision: str | None,
    rule_reason: str | None,
    escalate: bool,
    known_safe: bool,
    justification: str | None = None,
) -> Assessment:
    if rule_decision == "forbidden":
        return Assessment("reject", "forbidden-by-rule", rule_reason or "forbidden by a Codex rule", True, False)
    if rule_decision == "allow":
        # As in Codex: a command an `allow` rule matches runs without asking, outside the sandbox.
        return Assessment("run", "codex-rules", rule_reason or "allowed by a Codex rule", False, False)
    if escalate:
        why = justification or "the caller asked to run outside the sandbox"
        if policy == "never":
            return Assessment("reject", "denied-by-policy",
                              "approval_policy=never refuses requests to run outside the sandbox", True, True)
        return Assessment("ask", "prompt", why, False, True)
    if rule_decision == "prompt":
        if policy == "never":
            return Assessment("reject", "denied-by-policy",
                              f"{rule_reason or 'a Codex rule requires a prompt'}; approval_policy=never never "
                              "prompts", True, False)
        return Assessment("ask", "prompt", rule_reason or "a Codex rule asks for approval", True, False)
    if policy == "untrusted":
        if known_safe:
            return Assessment("run", "known-safe", "a known-safe read-only command", True, False)
        return Assessment("ask", "prompt", "approval_policy=untrusted asks before commands that are not known-safe",
                          True, False)
    return Assessment("run", "not-required", f"approval_policy={policy} runs it in the sandbox", True, False)
