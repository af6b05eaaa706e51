"""Codex execution rules: `$CODEX_HOME/rules/*.rules`, read without executing them.

Codex writes these files in Starlark, but the only statement they need is
`prefix_rule(...)` with literal arguments. We parse exactly that subset with a
tokenizer and a recursive-descent parser of our own: nothing in a rules file is
ever evaluated, so a file with `__import__('os').system(...)` is a syntax error
here, not a program. Everything outside the subset is a RulesError naming the
file, line and column, because silently skipping a rule could turn a
`forbidden` into "run it".

A rule's `match` / `not_match` examples are checked when the file loads, as
Codex does, so a pattern that does not mean what its author thought fails loudly
instead of allowing the wrong commands.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Iterator, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TypeAlias

from ..._record import field, record
from ...errors import RulesError
from .keys import shell_script, split_script


class Decision(StrEnum):
    ALLOW = "allow"
    PROMPT = "prompt"
    FORBIDDEN = "forbidden"


_STRICTNESS = {Decision.ALLOW: 0, Decision.PROMPT: 1, Decision.FORBIDDEN: 2}
_DECISIONS = frozenset(d.value for d in Decision)


@record(frozen=True)
class PrefixRule:
    """One `prefix_rule`: each pattern position lists the words accepted there."""

    pattern: tuple[tuple[str, ...], ...]
    decision: Decision
    justification: str | None
    source: str
    line: int

    def matches(self, argv: Sequence[str]) -> bool:
        return len(argv) >= len(self.pattern) and all(
            word in accepted for word, accepted in zip(argv, self.pattern, strict=False)
        )


@record(frozen=True)
class RuleMatch:
    """The strictest decision for a command and the rules that gave it (in load order)."""

    decision: Decision
    rules: tuple[PrefixRule, ...]


@record
class RuleSet:
    rules: list[PrefixRule] = field(default_factory=list)

    def _strict_inner(self, argv: Sequence[str]) -> list[PrefixRule]:
        """`forbidden`/`prompt` rules matching a command hidden behind a wrapper or a path (wrappers.py)."""
        from .wrappers import inner_commands

        return [rule for inner in inner_commands(argv) for rule in self.rules
                if rule.decision != Decision.ALLOW and rule.matches(inner)]

    def evaluate(self, argv: Sequence[str]) -> RuleMatch | None:
        """The strictest decision of every rule matching `argv`, or None if none matches.

        A plain `bash -lc` chain (see keys.split_script) is also judged command by
        command: any command that is forbidden or needs a prompt makes the whole
        script so, but the script is allowed only when *every* command in it is
        allowed, since an allow rule lets a command run outside the sandbox.
        Scripts we cannot read are additionally searched word by word for
        forbidden or prompt rules, never for allow rules.
        """
        argv = list(argv)
        if not argv:
            return None
        found = [rule for rule in self.rules if rule.matches(argv)]
        found += self._strict_inner(argv)
        script = shell_script(argv)
        if script is not None:
            commands = split_script(script)
            if commands is not None:
                for command in commands:
                    found += self._strict_inner(command)
                per_command = [[rule for rule in self.rules if rule.matches(c)] for c in commands]
                found += [rule for rules in per_command for rule in rules if rule.decision != Decision.ALLOW]
                if all(rules and all(r.decision == Decision.ALLOW for r in rules) for rules in per_command):
                    found += [rule for rules in per_command for rule in rules]
            else:
                for segment in _loose_segments(script):
                    found += [rule for rule in self.rules
                              if rule.decision != Decision.ALLOW and rule.matches(segment)]
                    found += self._strict_inner(segment)
        if not found:
            return None
        decision = max((rule.decision for rule in found), key=_STRICTNESS.__getitem__)
        chosen: list[PrefixRule] = []
        for rule in found:
            if rule.decision == decision and rule not in chosen:
                chosen.append(rule)
        return RuleMatch(decision, tuple(chosen))


def _loose_segments(script: str) -> list[list[str]]:
    """Best-effort commands of a script we cannot parse exactly, only to find stricter rules."""
    try:
        lexer = shlex.shlex(script, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        tokens = list(lexer)
    except ValueError:
        return []
    segments: list[list[str]] = [[]]
    for token in tokens:
        if token and all(c in "();<>|&" for c in token):
            segments.append([])
        elif "=" in token and not segments[-1] and token.split("=", 1)[0].isidentifier():
            continue  # `FOO=1 rm -rf x` runs `rm`
        else:
            segments[-1].append(token.lstrip("({`$"))
    return [s for s in segments if s]


def load_rules(rules_dir: Path) -> RuleSet:
    """Every `*.rules` file of `rules_dir`, sorted by name; a missing directory is an empty RuleSet."""
    if not rules_dir.exists():
        return RuleSet()
    if not rules_dir.is_dir():
        raise RulesError(f"{rules_dir}: the Codex rules location is not a directory")
    rules: list[PrefixRule] = []
    for path in sorted(p for p in rules_dir.iterdir() if p.name.endswith(".rules") and p.is_file()):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RulesError(f"{path}: cannot read the rules file: {exc}") from None
        rules += parse_rules(text, str(path))
    return RuleSet(rules)


def format_rule(rule: PrefixRule) -> str:
    """The rule as a `prefix_rule(...)` call that parse_rules reads back to an equal rule."""
    words = [_quote(p[0]) if len(p) == 1 else "[" + ", ".join(map(_quote, p)) + "]" for p in rule.pattern]
    parts = [f"pattern = [{', '.join(words)}]", f"decision = {_quote(rule.decision.value)}"]
    if rule.justification is not None:
        parts.append(f"justification = {_quote(rule.justification)}")
    return "prefix_rule(\n    " + ",\n    ".join(parts) + ",\n)\n"


def _quote(text: str) -> str:
    out = ['"']
    for c in text:
        if c in '"\\':
            out.append("\\" + c)
        elif c in _ESCAPES_OUT:
            out.append(_ESCAPES_OUT[c])
        elif ord(c) < 0x20 or ord(c) == 0x7F or 0xD800 <= ord(c) <= 0xDFFF:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


# ---------------------------------------------------------------------------- parsing

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", "'": "'", '"': '"', "\n": ""}
_ESCAPES_OUT = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}
_PUNCTUATION = frozenset("()[],=")
_MAX_DEPTH = 8  # nesting deeper than a few lists is never valid; stop before Python's recursion limit
_KEYWORDS = ("pattern", "decision", "justification", "match", "not_match")

# A value as parsed: a string, or a list of values; with the position where it starts.
_Value: TypeAlias = 'str | list["_Node"]'


@record(frozen=True)
class _Token:
    kind: str  # "name", "string", one of _PUNCTUATION, or "end"
    text: str
    offset: int


@record(frozen=True)
class _Node:
    value: _Value
    offset: int


class _Parser:
    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source
        # Tokens are read on demand so that the first error reported is the first one in the file.
        self._stream = self._tokenize()
        self.tokens: list[_Token] = []
        self.pos = 0

    # -------------------------------------------------------------- errors

    def error(self, offset: int, message: str) -> RulesError:
        line = self.text.count("\n", 0, offset) + 1
        column = offset - (self.text.rfind("\n", 0, offset) + 1) + 1
        return RulesError(f"{self.source}:{line}:{column}: {message}")

    def line_of(self, offset: int) -> int:
        return self.text.count("\n", 0, offset) + 1

    # -------------------------------------------------------------- tokens

    def _tokenize(self) -> Iterator[_Token]:
        text, i, n = self.text, 0, len(self.text)
        while i < n:
            c = text[i]
            if c in " \t\r\n":
                i += 1
            elif c == "#":
                end = text.find("\n", i)
                i = n if end < 0 else end
            elif c in _PUNCTUATION:
                yield _Token(c, c, i)
                i += 1
            elif c in "'\"":
                value, end = self._string(i)
                yield _Token("string", value, i)
                i = end
            elif c.isascii() and (c.isalpha() or c == "_"):
                start = i
                while i < n and text[i].isascii() and (text[i].isalnum() or text[i] == "_"):
                    i += 1
                yield _Token("name", text[start:i], start)
            else:
                raise self.error(i, f"unexpected character {c!r} (only prefix_rule(...) with literal "
                                    "strings and lists is supported)")
        while True:
            yield _Token("end", "", n)

    def _string(self, start: int) -> tuple[str, int]:
        text, quote = self.text, self.text[start]
        if text.startswith(quote * 3, start):
            raise self.error(start, "triple-quoted strings are not supported; use a single-line string")
        out: list[str] = []
        i = start + 1
        while True:
            if i >= len(text) or text[i] == "\n":
                raise self.error(start, "unterminated string")
            c = text[i]
            if c == quote:
                return "".join(out), i + 1
            if c != "\\":
                out.append(c)
                i += 1
                continue
            esc = text[i + 1] if i + 1 < len(text) else ""
            if esc in _ESCAPES:
                out.append(_ESCAPES[esc])
                i += 2
            elif esc in ("x", "u", "U"):
                width = {"x": 2, "u": 4, "U": 8}[esc]
                digits = text[i + 2:i + 2 + width]
                if len(digits) != width or any(d not in "0123456789abcdefABCDEF" for d in digits):
                    raise self.error(i, f"bad \\{esc} escape")
                code = int(digits, 16)
                if code > 0x10FFFF:
                    raise self.error(i, f"bad \\{esc} escape")
                out.append(chr(code))
                i += 2 + width
            else:
                raise self.error(i, f"unknown escape \\{esc}" if esc else "unterminated string")

    def peek(self) -> _Token:
        while len(self.tokens) <= self.pos:
            self.tokens.append(next(self._stream))
        return self.tokens[self.pos]

    def take(self, kind: str, what: str) -> _Token:
        token = self.peek()
        if token.kind != kind:
            found = "end of file" if token.kind == "end" else repr(token.text)
            raise self.error(token.offset, f"expected {what}, found {found}")
        self.pos += 1
        return token

    # -------------------------------------------------------------- grammar

    def parse(self) -> list[PrefixRule]:
        rules: list[PrefixRule] = []
        while self.peek().kind != "end":
            name = self.take("name", "prefix_rule(...)")
            if name.text != "prefix_rule":
                raise self.error(name.offset, f"unsupported statement {name.text!r}: only prefix_rule(...) "
                                              "calls are allowed in a rules file")
            self.take("(", "'(' after prefix_rule")
            args: dict[str, _Node] = {}
            while self.peek().kind != ")":
                key = self.take("name", "a keyword argument (pattern = [...], decision = ...)")
                if key.text not in _KEYWORDS:
                    raise self.error(key.offset, f"unknown prefix_rule argument {key.text!r} "
                                                 f"(known: {', '.join(_KEYWORDS)})")
                if key.text in args:
                    raise self.error(key.offset, f"argument {key.text!r} given twice")
                self.take("=", f"'=' after {key.text}")
                args[key.text] = self.value(0)
                if self.peek().kind != ")":
                    self.take(",", "',' or ')'")
            self.take(")", "')'")
            rules.append(self.rule(args, name.offset))
        return rules

    def value(self, depth: int) -> _Node:
        token = self.peek()
        if token.kind == "string":
            self.pos += 1
            return _Node(token.text, token.offset)
        if token.kind != "[":
            found = "end of file" if token.kind == "end" else repr(token.text)
            raise self.error(token.offset, f"expected a string or a list, found {found} (expressions, "
                                           "variables and calls are not supported)")
        if depth >= _MAX_DEPTH:
            raise self.error(token.offset, "lists nested too deeply")
        self.pos += 1
        items: list[_Node] = []
        while self.peek().kind != "]":
            items.append(self.value(depth + 1))
            if self.peek().kind != "]":
                self.take(",", "',' or ']'")
        self.pos += 1
        return _Node(items, token.offset)

    # -------------------------------------------------------------- meaning

    def rule(self, args: dict[str, _Node], offset: int) -> PrefixRule:
        if "pattern" not in args:
            raise self.error(offset, "prefix_rule needs a pattern = [...]")
        pattern = self.pattern(args["pattern"])
        decision = Decision.ALLOW
        if "decision" in args:
            node = args["decision"]
            if not isinstance(node.value, str) or node.value not in _DECISIONS:
                raise self.error(node.offset, "decision must be \"allow\", \"prompt\" or \"forbidden\"")
            decision = Decision(node.value)
        justification = None
        if "justification" in args:
            node = args["justification"]
            if not isinstance(node.value, str):
                raise self.error(node.offset, "justification must be a string")
            justification = node.value
        rule = PrefixRule(pattern, decision, justification, self.source, self.line_of(offset))
        for name, must_match in (("match", True), ("not_match", False)):
            if name not in args:
                continue
            for example, at in self.examples(args[name], name):
                if rule.matches(example) != must_match:
                    verb = "does not match" if must_match else "matches"
                    raise self.error(at, f"{name} example {shlex.join(example)!r} {verb} the rule's pattern "
                                         f"{_describe(pattern)}")
        return rule

    def pattern(self, node: _Node) -> tuple[tuple[str, ...], ...]:
        if not isinstance(node.value, list) or not node.value:
            raise self.error(node.offset, "pattern must be a non-empty list")
        out: list[tuple[str, ...]] = []
        for item in node.value:
            if isinstance(item.value, str):
                out.append((item.value,))
                continue
            words = [self.word(w, "pattern alternatives must be strings") for w in item.value]
            if not words:
                raise self.error(item.offset, "a list of alternatives in a pattern cannot be empty")
            out.append(tuple(dict.fromkeys(words)))
        return tuple(out)

    def examples(self, node: _Node, name: str) -> Iterable[tuple[list[str], int]]:
        if not isinstance(node.value, list):
            raise self.error(node.offset, f"{name} must be a list of examples")
        for item in node.value:
            if isinstance(item.value, str):
                try:
                    argv = shlex.split(item.value)
                except ValueError as exc:
                    raise self.error(item.offset, f"{name} example cannot be split: {exc}") from None
            else:
                message = f"{name} examples must be strings or lists of strings"
                argv = [self.word(w, message) for w in item.value]
            if not argv:
                raise self.error(item.offset, f"{name} example is empty")
            yield argv, item.offset

    def word(self, node: _Node, message: str) -> str:
        if not isinstance(node.value, str):
            raise self.error(node.offset, message)
        return node.value


def _describe(pattern: tuple[tuple[str, ...], ...]) -> str:
    return "[" + ", ".join(p[0] if len(p) == 1 else "[" + "|".join(p) + "]" for p in pattern) + "]"


def parse_rules(text: str, source: str) -> list[PrefixRule]:
    """The prefix rules of one file's `text`; `source` names the file in rules and errors."""
    return _Parser(text, source).parse()
