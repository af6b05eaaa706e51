"""Fuzzing the rules loader (Starlark since W2-5): it only ever says RulesError, never runs anything,
and round-trips."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codex_orchestrator.errors import RulesError
from codex_orchestrator.tools.approvals.rules import Decision, PrefixRule, format_rule, parse_rules

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

VALID = """\
# a comment
prefix_rule(
    pattern = ["git", ["push", "fetch"]],
    decision = "prompt",
    justification = 'it\\'s "networked"',
    match = [["git", "push"], "git fetch origin"],
    not_match = ["git pull"],
)
prefix_rule(pattern=["ls"],)
"""

GRAMMAR_PIECES = ["prefix_rule", "(", ")", "[", "]", ",", "=", '"x"', "'y'", "pattern", "decision", "match",
                  "not_match", "justification", '"allow"', '"forbidden"', "#", "\n", " ", "\\", '"', "'"]


def _parse_or_rules_error(text: str) -> None:
    try:
        parse_rules(text, "fuzz.rules")
    except RulesError as exc:
        assert str(exc).startswith("fuzz.rules:")


@FUZZ
@given(st.text(max_size=300))
def test_random_text_only_raises_rules_error(text: str) -> None:
    _parse_or_rules_error(text)


@FUZZ
@given(st.lists(st.sampled_from(GRAMMAR_PIECES), max_size=60))
def test_random_token_soup_only_raises_rules_error(pieces: list[str]) -> None:
    _parse_or_rules_error("".join(pieces))


@FUZZ
@given(st.data())
def test_mutated_valid_files_only_raise_rules_error(data: st.DataObject) -> None:
    text = VALID
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(text)))
        kind = data.draw(st.sampled_from(["insert", "delete", "replace"]))
        piece = data.draw(st.text(max_size=8) | st.sampled_from(GRAMMAR_PIECES))
        if kind == "insert":
            text = text[:at] + piece + text[at:]
        elif kind == "delete":
            text = text[:at] + text[at + len(piece) + 1:]
        else:
            text = text[:at] + piece + text[at + len(piece):]
    _parse_or_rules_error(text)


def _payloads(sentinel: Path) -> list[str]:
    target = str(sentinel)
    return [
        f"__import__('os').system('touch {target}')",
        f"open('{target}', 'w').write('x')",
        f"exec(\"open('{target}','w')\")",
        f"eval(\"__import__('os').system('touch {target}')\")",
        f"[open('{target}', 'w')]",
        f"getattr(__builtins__, 'open')('{target}', 'w')",
        f"load('{target}', 'x')",
    ]


def test_a_lambda_is_valid_starlark_but_can_reach_nothing(tmp_path: Path) -> None:
    """Codex's dialect has lambdas, but names resolve before anything runs: no `open` to find."""
    sentinel = tmp_path / "pwned"
    assert parse_rules("f = lambda: len([])\n", "l.rules") == []
    with pytest.raises(RulesError, match="Variable `open` not found"):
        parse_rules(f"f = lambda: open('{sentinel}', 'w')\n", "l.rules")
    with pytest.raises(RulesError, match="open"):
        parse_rules(f"f = lambda: open('{sentinel}', 'w')\nf()\n", "l.rules")
    assert not sentinel.exists()


@FUZZ
@given(st.data())
def test_code_in_a_rules_file_is_rejected_and_never_runs(tmp_path: Path, data: st.DataObject) -> None:
    sentinel = tmp_path / "pwned"
    payload = data.draw(st.sampled_from(_payloads(sentinel)))
    spots = [m for m in range(len(VALID)) if VALID[m] in "[=(,\n"]
    at = data.draw(st.sampled_from(spots))
    text = VALID[:at + 1] + payload + VALID[at + 1:]
    with pytest.raises(RulesError):
        parse_rules(text, "evil.rules")
    assert not sentinel.exists()


@pytest.mark.parametrize("template", [
    "prefix_rule(pattern = {})", "prefix_rule(pattern = [{}])", "prefix_rule(pattern = [['a', {}]])",
    "prefix_rule(pattern = ['ls'], decision = {})", "prefix_rule(pattern = ['ls'], justification = {})",
    "prefix_rule(pattern = ['ls'], match = [{}])", "{}", "prefix_rule({})",
])
def test_payload_in_every_argument_position(tmp_path: Path, template: str) -> None:
    sentinel = tmp_path / "pwned"
    for payload in _payloads(sentinel):
        text = template.format(payload)
        with pytest.raises(RulesError):
            parse_rules(text, "evil.rules")
    assert not sentinel.exists()


words = st.text(st.characters(codec="utf-8"), min_size=0, max_size=12)
rules = st.builds(
    PrefixRule,
    pattern=st.lists(st.lists(words, min_size=1, max_size=3, unique=True).map(tuple), min_size=1, max_size=5)
    .map(tuple),
    decision=st.sampled_from(list(Decision)),
    justification=st.none() | words.filter(lambda w: bool(w.strip())),  # Codex refuses a blank one
    source=st.just("gen.rules"),
    line=st.just(1),
)


@FUZZ
@given(st.lists(rules, min_size=1, max_size=4))
def test_generated_rules_round_trip(generated: list[PrefixRule]) -> None:
    text = ""
    expected = []
    for rule in generated:
        line = text.count("\n") + 1
        expected.append(PrefixRule(rule.pattern, rule.decision, rule.justification, rule.source, line))
        text += format_rule(rule)
    parsed = parse_rules(text, "gen.rules")
    assert parsed == expected
    for rule in parsed:  # and each rule matches the argv made of its first alternatives
        assert rule.matches([alternatives[0] for alternatives in rule.pattern])
