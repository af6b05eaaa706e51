"""Evaluate one Codex rules file with starlark-pyo3 (the engine Codex uses, starlark-rust).

Only `rules.parse_policy` imports this module, and only when a rules file
exists: the engine is the one heavy import of the approvals path.

The builtins take their arguments as Codex's do (codex-rs/execpolicy/src/
parser.rs): `prefix_rule(pattern, decision, match, not_match, justification)`,
`network_rule(host, protocol, decision, justification)` and
`host_executable(name, paths)`, positionally or by name, with the same checks
and, as far as the engine lets us, the same wording. Where a Codex error has
no location (failed `match`/`not_match` examples) ours still names the rule's
line.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from typing import Any

from ...errors import RulesError
from .rules import Decision, NetworkRule, PrefixRule, RuleSet, deadline_check, describe

_LOCATION = re.compile(r"^\s*--> (.+):(\d+):(\d+)\s*$", re.MULTILINE)
_FRAME = re.compile(r"^\s*\* (.+):(\d+), in ", re.MULTILINE)
_ERROR_LINE = re.compile(r"^\s*error: (.*)$", re.MULTILINE)
_DECISIONS = {d.value: d for d in Decision}
_PROTOCOLS = {"http": "http", "https": "https", "https_connect": "https", "http-connect": "https",
              "socks5_tcp": "socks5_tcp", "socks5_udp": "socks5_udp"}
# Rules made in loops or functions are located by evaluating the file again up to that call; past
# this many such rules a rule keeps the line of the file's only textual call, else line 0 (unknown).
MAX_LOCATED_CALLS = 16


class RuleProblem(ValueError):
    """Raised inside a builtin: the engine reports it at the call, with file and line."""


class _StopAtCall(Exception):
    """Raised to learn where the n-th builtin call is (see _locate)."""


def _type_name(value: Any) -> str:
    return {str: "string", list: "list", dict: "dict", int: "int", bool: "bool", float: "float",
            type(None): "NoneType"}.get(type(value), type(value).__name__)


def _bind(name: str, params: Sequence[str], required: int, args: tuple[Any, ...],
          kwargs: dict[str, Any]) -> dict[str, Any]:
    """Positional and named arguments to a dict, refusing what starlark-rust refuses."""
    if len(args) > len(params):
        raise RuleProblem(f"Found {len(args) - len(params)} extra positional parameter(s) for call to {name}")
    bound = dict(zip(params, args, strict=False))
    extra = [key for key in kwargs if key not in params]
    if extra:
        raise RuleProblem(f"Found `{', '.join(extra)}` extra named parameter(s) for call to {name}")
    for key, value in kwargs.items():
        if key in bound:
            raise RuleProblem(f"Argument `{key}` occurs more than once")
        bound[key] = value
    for key in params[:required]:
        if key not in bound:
            raise RuleProblem(f"Missing parameter `{key}` for call to `{name}`")
    return bound


def _typed(bound: dict[str, Any], key: str, kind: type) -> Any:
    value = bound.get(key)
    if key in bound and not isinstance(value, kind):
        expected = "list" if kind is list else "str"
        raise RuleProblem(f"Type of parameter `{key}` doesn't match, expected `{expected}`, "
                          f"actual `{_type_name(value)} (repr: {value!r})`")
    return value


def _justification(raw: str | None) -> str | None:
    if raw is not None and not raw.strip():
        raise RuleProblem("invalid rule: justification cannot be empty")
    return raw


def _decision(raw: str | None) -> Decision:
    if raw is None:
        return Decision.ALLOW
    if raw not in _DECISIONS:
        raise RuleProblem(f"invalid decision: {raw}")
    return _DECISIONS[raw]


def _pattern(items: list[Any]) -> tuple[tuple[str, ...], ...]:
    out: list[tuple[str, ...]] = []
    for item in items:
        if isinstance(item, str):
            out.append((item,))
        elif isinstance(item, list):
            bad = next((w for w in item if not isinstance(w, str)), None)
            if bad is not None:
                raise RuleProblem(f"invalid pattern element: pattern alternative must be a string "
                                  f"(got {_type_name(bad)})")
            if not item:
                raise RuleProblem("invalid pattern element: pattern alternatives cannot be empty")
            out.append(tuple(dict.fromkeys(item)))
        else:
            raise RuleProblem(f"invalid pattern element: pattern element must be a string or list of strings "
                              f"(got {_type_name(item)})")
    if not out:
        raise RuleProblem("invalid pattern element: pattern cannot be empty")
    return tuple(out)


def _examples(items: list[Any] | None) -> list[list[str]]:
    examples: list[list[str]] = []
    for item in items or []:
        if isinstance(item, str):
            try:
                words = shlex.split(item)
            except ValueError:
                raise RuleProblem("invalid example: example string has invalid shell syntax") from None
            if not words:
                raise RuleProblem("invalid example: example cannot be an empty string")
        elif isinstance(item, list):
            bad = next((w for w in item if not isinstance(w, str)), None)
            if bad is not None:
                raise RuleProblem(f"invalid example: example tokens must be strings (got {_type_name(bad)})")
            if not item:
                raise RuleProblem("invalid example: example cannot be an empty list")
            words = list(item)
        else:
            raise RuleProblem(f"invalid example: example must be a string or list of strings "
                              f"(got {_type_name(item)})")
        examples.append(words)
    return examples


class _Collector:
    """The builtins of one evaluation and what they gathered, in call order."""

    def __init__(self, stop_at: int | None = None) -> None:
        self.calls = 0
        self.stop_at = stop_at
        self.prefix: list[tuple[int, tuple[tuple[str, ...], ...], Decision, str | None,
                                list[list[str]], list[list[str]]]] = []
        self.network: list[NetworkRule] = []
        self.hosts: dict[str, tuple[str, ...]] = {}

    def _count(self) -> int:
        index = self.calls
        self.calls += 1
        if self.stop_at is not None and index == self.stop_at:
            raise _StopAtCall()
        return index

    def prefix_rule(self, *args: Any, **kwargs: Any) -> None:
        index = self._count()
        bound = _bind("prefix_rule", ("pattern", "decision", "match", "not_match", "justification"), 1,
                      args, kwargs)
        pattern = _typed(bound, "pattern", list)
        decision = _decision(_typed(bound, "decision", str))
        matches = _typed(bound, "match", list)
        not_matches = _typed(bound, "not_match", list)
        justification = _justification(_typed(bound, "justification", str))
        self.prefix.append((index, _pattern(pattern), decision, justification, _examples(matches),
                            _examples(not_matches)))

    def network_rule(self, *args: Any, **kwargs: Any) -> None:
        self._count()
        bound = _bind("network_rule", ("host", "protocol", "decision", "justification"), 3, args, kwargs)
        host, protocol = _typed(bound, "host", str), _typed(bound, "protocol", str)
        raw_decision = _typed(bound, "decision", str)
        justification = _justification(_typed(bound, "justification", str))
        if protocol not in _PROTOCOLS:
            raise RuleProblem("invalid rule: network_rule protocol must be one of http, https, socks5_tcp, "
                              f"socks5_udp (got {protocol})")
        decision = Decision.FORBIDDEN if raw_decision == "deny" else _decision(raw_decision)
        self.network.append(NetworkRule(_network_host(host), _PROTOCOLS[protocol], decision, justification))

    def host_executable(self, *args: Any, **kwargs: Any) -> None:
        self._count()
        bound = _bind("host_executable", ("name", "paths"), 2, args, kwargs)
        name, paths = _typed(bound, "name", str), _typed(bound, "paths", list)
        if not name:
            raise RuleProblem("invalid rule: host_executable name cannot be empty")
        if "/" in name or name in (".", ".."):
            raise RuleProblem(f"invalid rule: host_executable name must be a bare executable name (got {name})")
        parsed: list[str] = []
        for raw in paths:
            if not isinstance(raw, str):
                raise RuleProblem(f"invalid rule: host_executable paths must be strings (got {_type_name(raw)})")
            if not raw.startswith("/"):
                raise RuleProblem(f"invalid rule: host_executable paths must be absolute (got {raw})")
            path = _normpath(raw)
            if path.rsplit("/", 1)[-1] != name:
                raise RuleProblem(f"invalid rule: host_executable path `{raw}` must have basename `{name}`")
            if path not in parsed:
                parsed.append(path)
        self.hosts[name] = tuple(parsed)


def _normpath(path: str) -> str:
    import os

    return os.path.normpath(path)


def _network_host(raw: str) -> str:
    host = raw.strip()
    if not host:
        raise RuleProblem("invalid rule: network_rule host cannot be empty")
    if "://" in host or any(c in host for c in "/?#"):
        raise RuleProblem("invalid rule: network_rule host must be a hostname or IP literal (without scheme or path)")
    if host.count(":") == 1:
        name, port = host.rsplit(":", 1)
        if name and port.isdigit():
            host = name
    host = host.rstrip(".").strip().lower()
    if not host:
        raise RuleProblem("invalid rule: network_rule host cannot be empty")
    if "*" in host:
        raise RuleProblem("invalid rule: network_rule host must be a specific host; wildcards are not allowed")
    if any(c.isspace() for c in host):
        raise RuleProblem("invalid rule: network_rule host cannot contain whitespace")
    return host


def _problem(exc: Exception, source: str) -> RulesError:
    """A StarlarkError as `file:line:column: message` (the engine's own traceback dropped)."""
    text = str(exc)
    error = _ERROR_LINE.search(text)
    message = error.group(1).strip() if error else text.strip().splitlines()[0] if text.strip() else "error"
    message = re.sub(r"^(RuleProblem|ValueError): ", "", message)
    if "cancelled" in message.lower():
        message = "the rules file took too long to evaluate (a loop that does not end?)"
    found = _LOCATION.findall(text)
    if found:
        _, line, column = found[-1]
        return RulesError(f"{source}:{line}:{column}: {message}")
    return RulesError(f"{source}: {message}")


def _run(text: str, source: str, collector: _Collector) -> None:
    import starlark

    dialect = starlark.Dialect.extended()
    dialect.enable_f_strings = True
    module = starlark.Module()
    for name in ("prefix_rule", "network_rule", "host_executable"):
        module.add_callable(name, getattr(collector, name))
    ast = starlark.parse(source, text, dialect)
    options = starlark.EvalOptions(check_cancelled=deadline_check())
    starlark.eval_with(options, module, ast, starlark.Globals.standard())


def _locate(text: str, source: str, index: int) -> int:
    """The line of the `index`-th builtin call: evaluate again, stopping there, and read the engine's
    location (only for files whose calls do not map one-to-one onto their text)."""
    import starlark

    try:
        _run(text, source, _Collector(stop_at=index))
    except starlark.StarlarkError as exc:
        found = _FRAME.findall(str(exc)) or _LOCATION.findall(str(exc))
        if found:
            return int(found[-1][1])  # the innermost frame: the line that calls the builtin
    return 0


def _sites(text: str) -> tuple[list[int], bool]:
    """The lines where a builtin is called in the text, and whether the file is straight-line code (no
    def/for/if/lambda/while, so each textual call runs once, in order). ([], False) if it does not tokenize."""
    import io
    import tokenize

    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return [], False
    names = ("prefix_rule", "network_rule", "host_executable")
    straight = not any(t.type == tokenize.NAME and t.string in ("def", "for", "if", "lambda", "while")
                       for t in tokens)
    return [t.start[0] for i, t in enumerate(tokens[:-1])
            if t.type == tokenize.NAME and t.string in names and tokens[i + 1].string == "("], straight


def evaluate_file(text: str, source: str, host_executables: dict[str, tuple[str, ...]]) -> RuleSet:
    """One file's rules; `host_executables` (of earlier files) is where example checks resolve paths."""
    import starlark

    collector = _Collector()
    try:
        _run(text, source, collector)
    except starlark.StarlarkError as exc:
        raise _problem(exc, source) from None
    sites, straight = _sites(text)
    lines = sites if straight and len(sites) == collector.calls else None
    only_site = sites[0] if len(set(sites)) == 1 else 0
    hosts = {**host_executables, **collector.hosts}
    ruleset = RuleSet(host_executables=dict(collector.hosts), network_rules=list(collector.network))
    for number, (index, pattern, decision, justification, matches, not_matches) in enumerate(collector.prefix):
        if lines is not None:
            line = lines[index]
        else:
            line = _locate(text, source, index) if number < MAX_LOCATED_CALLS else only_site
        rule = PrefixRule(pattern, decision, justification, source, line)
        _check_examples(rule, matches, not_matches, hosts)
        ruleset.rules.append(rule)
    return ruleset


def _check_examples(rule: PrefixRule, matches: list[list[str]], not_matches: list[list[str]],
                    hosts: dict[str, tuple[str, ...]]) -> None:
    """Codex checks a rule's examples once the file is read, resolving absolute paths by basename."""
    alone = RuleSet([rule], host_executables=hosts)
    where = f"{rule.source}:{rule.line}"
    for example in not_matches:
        if alone.check(example, resolve_host_executables=True):
            raise RulesError(f"{where}: not_match example {shlex.join(example)!r} matches the rule's pattern "
                             f"{describe(rule.pattern)}")
    unmatched = [shlex.join(e) for e in matches if not alone.check(e, resolve_host_executables=True)]
    if unmatched:
        raise RulesError(f"{where}: match example {unmatched[0]!r} does not match the rule's pattern "
                         f"{describe(rule.pattern)}")
