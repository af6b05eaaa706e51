"""`forbidden` and `prompt` rules see through common wrappers; `allow` never does (W2-1)."""

from __future__ import annotations

import pytest

from codex_orchestrator.tools.approvals.keys import canonical_argv
from codex_orchestrator.tools.approvals.rules import Decision, RuleSet, parse_rules

RULES = RuleSet(parse_rules('prefix_rule(pattern=["rm"], decision="forbidden")\n'
                            'prefix_rule(pattern=["git", "push"], decision="prompt")\n'
                            'prefix_rule(pattern=["ls"], decision="allow")\n', "t.rules"))

HIDDEN_RM = [
    "rm -rf x",
    "/usr/bin/rm -rf x",
    "/bin/rm x",
    "env rm -rf x",
    "env -i FOO=1 rm -rf x",
    "env -u HOME rm x",
    "command rm x",
    "command -p rm x",
    "exec rm x",
    "nice rm x",
    "nice -n 5 rm x",
    "nohup rm x",
    "timeout 10 rm x",
    "timeout -s KILL 5s rm x",
    "time rm x",
    "time -p rm x",
    "stdbuf -o0 rm x",
    "setsid rm x",
    "sudo rm x",
    "nice env FOO=1 timeout 3 /usr/bin/rm x",
    "ls && env rm x",
]


@pytest.mark.parametrize("command", HIDDEN_RM)
def test_forbidden_sees_through_wrappers(command: str) -> None:
    match = RULES.evaluate(canonical_argv(command))
    assert match is not None and match.decision == Decision.FORBIDDEN, command


@pytest.mark.parametrize("command", ["env git push", "/usr/bin/git push origin", "nohup git push"])
def test_prompt_sees_through_wrappers(command: str) -> None:
    match = RULES.evaluate(canonical_argv(command))
    assert match is not None and match.decision == Decision.PROMPT


@pytest.mark.parametrize("command", ["env ls", "/bin/ls", "nice ls", "env LD_PRELOAD=x ls", "timeout 5 ls"])
def test_allow_is_never_granted_through_a_wrapper_or_a_path(command: str) -> None:
    match = RULES.evaluate(canonical_argv(command))
    assert match is None or match.decision != Decision.ALLOW


@pytest.mark.parametrize("command", ["xargs rm", "find . -exec rm {} +", "sh script.sh"])
def test_what_is_not_caught_is_documented(command: str) -> None:
    """Opaque to a static reading (docs/approvals.md); the sandbox still confines these."""
    match = RULES.evaluate(canonical_argv(command))
    assert match is None or match.decision != Decision.FORBIDDEN
