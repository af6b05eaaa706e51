"""The Codex rules subset: parsing, load-time example checks, evaluation."""

from __future__ import annotations

from pathlib import Path

import pytest

from codex_orchestrator.errors import RulesError
from codex_orchestrator.tools.approvals import rules as rules_module
from codex_orchestrator.tools.approvals.rules import (
    Decision,
    PrefixRule,
    RuleSet,
    format_rule,
    load_rules,
    parse_policy,
    parse_rules,
)

FULL = """\
# Codex rules for this machine
prefix_rule(
    pattern = ["git", ["push", "fetch"]],
    decision = "prompt",            # ask every time
    justification = "talks to the network",
    match = [["git", "push"], "git fetch origin"],
    not_match = ["git pull", ["git"]],
)

prefix_rule(pattern=['rm', '-rf'], decision='forbidden', justification='no "recursive" deletes\\n')
prefix_rule(pattern = ["ls"],)
"""


def test_parses_the_documented_subset() -> None:
    push, rm, ls = parse_rules(FULL, "home.rules")
    assert push == PrefixRule((("git",), ("push", "fetch")), Decision.PROMPT, "talks to the network",
                              "home.rules", 2)
    assert rm.pattern == (("rm",), ("-rf",)) and rm.decision is Decision.FORBIDDEN
    assert rm.justification == 'no "recursive" deletes\n' and rm.line == 10
    assert ls == PrefixRule((("ls",),), Decision.ALLOW, None, "home.rules", 11)  # allow is the default


def test_empty_and_comment_only_files_have_no_rules() -> None:
    assert parse_rules("", "a.rules") == []
    assert parse_rules("# nothing here\n\n   # still nothing", "a.rules") == []


def test_string_escapes() -> None:
    (rule,) = parse_rules(r'prefix_rule(pattern=["a\tb", "\x41\u00e9\\", ' + "'it\\'s'])", "e.rules")
    assert rule.pattern == (("a\tb",), ("A\u00e9\\",), ("it's",))


@pytest.mark.parametrize(("text", "where", "words"), [
    # Codex semantics (W2-5): the file is Starlark, so variables, `+` and positional arguments are
    # fine; what Codex refuses is refused, with the file, line and column of the problem.
    ('load("x.star", "y")', "1:1", "No imports are available"),
    ("x = y", "1:5", "Variable `y` not found"),
    ('prefix_rule(pattern=X)', "1:21", "Variable `X` not found"),
    ('prefix_rule(["git"], pattern=["a"])', "1:1", "occurs more than once"),
    ('prefix_rule(pattern=["a"], color="red")', "1:1", "extra named parameter"),
    ('prefix_rule(pattern=["a"], decision="maybe")', "1:1", "invalid decision: maybe"),
    ('prefix_rule(pattern=[])', "1:1", "pattern cannot be empty"),
    ('prefix_rule(pattern=[[]])', "1:1", "alternatives cannot be empty"),
    ('prefix_rule(pattern=[["a", ["b"]]])', "1:1", "pattern alternative must be a string"),
    ('prefix_rule(decision="allow")', "1:1", "Missing parameter `pattern`"),
    ('prefix_rule(pattern=["a)', "1:22", "Parse error"),
    ('prefix_rule(pattern=["a"]', "1:", "Parse error"),
    ('\n\n  prefix_rule(pattern=["a"])', "3:", "Parse error"),
    ('\n\nprefix_rule(pattern=["a"]); prefix_rule(pattern=[1])', "3:29", "got int"),
    ("import os", "1:1", "reserved keyword `import`"),
    ('prefix_rule(pattern=["a"], justification="")', "1:1", "justification cannot be empty"),
])
def test_what_codex_refuses_names_file_line_and_column(text: str, where: str, words: str) -> None:
    with pytest.raises(RulesError) as caught:
        parse_rules(text, "bad.rules")
    message = str(caught.value)
    assert message.startswith(f"bad.rules:{where}"), message
    assert words in message


def test_starlark_that_codex_accepts_is_accepted() -> None:
    """The forms the hand-written parser refused (issue #12, item 1): every one is valid for Codex."""
    text = (
        'GIT = "git"\n'
        'prefix_rule(pattern = [GIT] + ["push"], decision = "prompt")\n'
        'prefix_rule([GIT, "status"], "allow", justification = """read\nonly""")\n'
        'host_executable(name = "git", paths = ["/usr/bin/git"])\n'
        'def deny(*words):\n'
        '    prefix_rule(pattern = list(words), decision = "forbidden")\n'
        'deny("rm", "-rf")\n'
        '[prefix_rule(pattern = [t, "--version"]) for t in ("node", "go")]\n'
    )
    ruleset = parse_policy(text, "ok.rules")
    assert [(r.pattern, str(r.decision), r.line) for r in ruleset.rules] == [
        ((("git",), ("push",)), "prompt", 2), ((("git",), ("status",)), "allow", 3),
        ((("rm",), ("-rf",)), "forbidden", 7), ((("node",), ("--version",)), "allow", 9),
        ((("go",), ("--version",)), "allow", 9)]  # the triple-quoted string spans lines 3-4
    assert ruleset.rules[1].justification == "read\nonly"
    assert ruleset.host_executables == {"git": ("/usr/bin/git",)}


def test_a_rules_file_cannot_loop_forever(monkeypatch: pytest.MonkeyPatch) -> None:
    from codex_orchestrator.tools.approvals import starlark_eval

    monkeypatch.setattr(starlark_eval, "deadline_check", lambda: rules_module.deadline_check(0.2))
    text = "def f():\n    for i in range(2000000000):\n        for j in range(2000000000):\n            pass\nf()\n"
    with pytest.raises(RulesError, match=r"slow\.rules:\d+:\d+: the rules file took too long"):
        parse_rules(text, "slow.rules")


def test_match_examples_are_checked_on_load() -> None:
    with pytest.raises(RulesError, match=r"x\.rules:1: match example 'ls -l' does not match"):
        parse_rules('prefix_rule(pattern=["git"], match=["ls -l"])', "x.rules")
    with pytest.raises(RulesError, match=r"not_match example 'git push' matches"):
        parse_rules('prefix_rule(pattern=["git"], not_match=[["git", "push"]])', "x.rules")
    with pytest.raises(RulesError, match="invalid shell syntax"):
        parse_rules("prefix_rule(pattern=[\"git\"], match=[\"git 'push\"])", "x.rules")
    with pytest.raises(RulesError, match="example cannot be an empty string"):
        parse_rules('prefix_rule(pattern=["git"], match=[""])', "x.rules")


def test_prefix_semantics() -> None:
    rule = parse_rules('prefix_rule(pattern=["git", ["push", "fetch"], "origin"])', "p.rules")[0]
    assert rule.matches(["git", "push", "origin"])
    assert rule.matches(["git", "fetch", "origin", "main", "--force"])
    assert not rule.matches(["git", "push"])  # shorter than the pattern
    assert not rule.matches(["git", "pull", "origin"])
    assert not rule.matches(["sudo", "git", "push", "origin"])  # a prefix, not a substring


RULES = """\
prefix_rule(pattern=["git"], decision="allow", justification="git is fine")
prefix_rule(pattern=["git", "push"], decision="prompt", justification="pushing is public")
prefix_rule(pattern=["git", "push", "--force"], decision="forbidden", justification="never force-push")
prefix_rule(pattern=["rm"], decision="forbidden")
prefix_rule(pattern=["ls"])
prefix_rule(pattern=["git", "push"], decision="prompt", justification="said twice")
"""


@pytest.fixture
def ruleset() -> RuleSet:
    return RuleSet(parse_rules(RULES, "r.rules"))


def test_strictest_decision_wins_and_names_its_rules(ruleset: RuleSet) -> None:
    assert ruleset.evaluate(["make"]) is None
    assert ruleset.evaluate([]) is None
    status = ruleset.evaluate(["git", "status"])
    assert status is not None and status.decision is Decision.ALLOW
    assert [r.justification for r in status.rules] == ["git is fine"]
    push = ruleset.evaluate(["git", "push", "origin"])
    assert push is not None and push.decision is Decision.PROMPT
    assert [(r.line, r.justification) for r in push.rules] == [(2, "pushing is public"), (6, "said twice")]
    force = ruleset.evaluate(["git", "push", "--force"])
    assert force is not None and force.decision is Decision.FORBIDDEN
    assert [r.line for r in force.rules] == [3]


def test_shell_chains_are_judged_command_by_command(ruleset: RuleSet) -> None:
    def decision(script: str) -> Decision | None:
        match = ruleset.evaluate(["bash", "-lc", script])
        return None if match is None else match.decision

    assert decision("git status && ls -la") is Decision.ALLOW  # every command allowed
    assert decision("git status && make") is None  # one unknown command: no allow for the script
    assert decision("ls; rm -rf build") is Decision.FORBIDDEN
    assert decision("git status | git push origin") is Decision.PROMPT
    # scripts we cannot parse exactly are still searched for forbidden commands, never for allow
    assert decision("rm -rf build > /dev/null") is Decision.FORBIDDEN
    assert decision("FOO=1 rm -rf x") is Decision.FORBIDDEN
    assert decision("(cd x && rm -rf y)") is Decision.FORBIDDEN
    assert decision("ls > listing.txt") is None


def test_load_rules_reads_every_rules_file_sorted(tmp_path: Path) -> None:
    assert load_rules(tmp_path / "absent").rules == []
    (tmp_path / "b.rules").write_text('prefix_rule(pattern=["b"])\n')
    (tmp_path / "a.rules").write_text('prefix_rule(pattern=["a"], decision="forbidden")\n')
    (tmp_path / "notes.txt").write_text("not a rules file")
    (tmp_path / "dir.rules").mkdir()
    rules = load_rules(tmp_path).rules
    assert [(Path(r.source).name, r.pattern) for r in rules] == [("a.rules", (("a",),)),
                                                                  ("b.rules", (("b",),))]


def test_load_rules_errors_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "bad.rules").write_text('prefix_rule(pattern=["git"], match=["ls"])\n')
    with pytest.raises(RulesError, match=r"bad\.rules:1:"):
        load_rules(tmp_path)
    (tmp_path / "bad.rules").write_bytes(b"\xff\xfe")
    with pytest.raises(RulesError, match=r"bad\.rules: cannot read"):
        load_rules(tmp_path)
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    with pytest.raises(RulesError, match="not a directory"):
        load_rules(not_a_dir)


def test_format_rule_reads_back() -> None:
    rule = PrefixRule((("a b",), ("x", 'y"\\\n\x01')), Decision.PROMPT, "why\tnot", "f.rules", 1)
    assert parse_rules(format_rule(rule), "f.rules") == [rule]
