"""Codex execution rules (`rules/*.rules`), evaluated by a real Starlark engine.

Codex writes its rules in Starlark and evaluates them with starlark-rust
(codex-rs/execpolicy). We use the same engine through `starlark-pyo3`, with the
same dialect (Starlark's extended dialect plus f-strings) and the same three
builtins, so that every file Codex accepts is accepted here: variables, `+`,
list comprehensions, `def`, positional arguments, triple-quoted strings,
`host_executable(...)`, `network_rule(...)`. Starlark cannot reach the file
system, the network or the host (no `load`, no `import`, no `print`), and
evaluation here is bounded in time, so a rules file is data, not a program that
can touch the machine.

The engine is imported only when a rules directory has files (start-up is a
feature, docs/approvals.md). Every problem is a RulesError naming the file and
line; unlike Codex, which logs a warning and drops *all* rules, we refuse to run
(fails closed: a dropped `forbidden` must never turn into "run it").

`RuleSet.check` is `codex execpolicy check` exactly (tests/approvals/
test_rules_codex_diff.py holds the two side by side). `RuleSet.evaluate` is what
runs before a command: Codex's runtime reading (one `bash -lc` level, every
command allowed before anything leaves the sandbox), plus stricter searches for
`forbidden`/`prompt` behind wrappers, paths and scripts we cannot parse.
"""

from __future__ import annotations

import os
import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from pathlib import Path

from ..._record import field, record
from ...errors import RulesError
from .keys import canonical_argv, shell_script, split_script


class Decision(StrEnum):
    ALLOW = "allow"
    PROMPT = "prompt"
    FORBIDDEN = "forbidden"


_STRICTNESS = {Decision.ALLOW: 0, Decision.PROMPT: 1, Decision.FORBIDDEN: 2}
EVAL_SECONDS = 10.0  # a rules file that computes longer than this is refused (Codex has no bound)
# Codex's shells for its one `bash -lc` level (shell-command/src/bash.rs: bash, zsh, sh; -c or -lc).
RUNTIME_SHELLS = frozenset({"bash", "zsh", "sh"})


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
class NetworkRule:
    """A `network_rule`: read and validated as Codex does; our sandbox has no per-host network proxy,
    so it never opens the network (docs/codex-compat.md)."""

    host: str
    protocol: str
    decision: Decision
    justification: str | None


@record(frozen=True)
class RuleMatch:
    """The strictest decision for a command and the rules that gave it (in load order)."""

    decision: Decision
    rules: tuple[PrefixRule, ...]


@record
class RuleSet:
    rules: list[PrefixRule] = field(default_factory=list)
    # host_executable(name, paths): the absolute paths a basename rule may stand for.
    host_executables: dict[str, tuple[str, ...]] = field(default_factory=dict)
    network_rules: list[NetworkRule] = field(default_factory=list)

    def extend(self, other: RuleSet) -> None:
        self.rules += other.rules
        self.host_executables.update(other.host_executables)
        self.network_rules += other.network_rules

    # ------------------------------------------------------------------ Codex's matching

    def check(self, argv: Sequence[str], *, resolve_host_executables: bool = False) -> list[PrefixRule]:
        """The rules matching `argv`, as `codex execpolicy check [--resolve-host-executables]` finds them:
        the first word exactly; else, when resolving, an absolute path by its basename, if no
        `host_executable` for that name leaves the path out."""
        if not argv:
            return []
        exact = [rule for rule in self.rules if rule.matches(argv)]
        if exact or not resolve_host_executables:
            return exact
        program = argv[0]
        if not os.path.isabs(program):
            return []
        base = os.path.basename(os.path.normpath(program))
        declared = self.host_executables.get(base)
        if declared is not None and os.path.normpath(program) not in declared:
            return []
        return [rule for rule in self.rules if rule.matches([base, *argv[1:]])]

    # ------------------------------------------------------------------ what runs

    def _strict_inner(self, argv: Sequence[str]) -> list[PrefixRule]:
        """`forbidden`/`prompt` rules matching a command hidden behind a wrapper or a path (wrappers.py)."""
        from .wrappers import inner_commands

        return [rule for inner in inner_commands(argv) for rule in self.rules
                if rule.decision != Decision.ALLOW and rule.matches(inner)]

    def _strict(self, argv: list[str]) -> list[PrefixRule]:
        """Every forbidden/prompt rule for `argv` (canonical), its wrappers and its script's commands."""
        found = [rule for rule in self.rules if rule.decision != Decision.ALLOW and rule.matches(argv)]
        found += self._strict_inner(argv)
        script = shell_script(argv)
        if script is None:
            return found
        commands = split_script(script)
        for command in commands if commands is not None else loose_segments(script):
            found += [rule for rule in self.rules if rule.decision != Decision.ALLOW and rule.matches(command)]
            found += self._strict_inner(command)
        return found

    def allowed_commands(self, command: Sequence[str] | str) -> list[list[PrefixRule]] | None:
        """Codex's runtime allow: the commands of one shell level (a string is the `bash -lc` script
        Codex would run; an argv `bash|zsh|sh -c|-lc SCRIPT` is unwrapped once), each with its allow
        rules; None when the script is not plain or a command has no allow rule. `bash -c 'touch x'`
        given as a string is one command, `bash -c ...`: a rule for `touch` does not reach it."""
        if isinstance(command, str):
            commands = split_script(command)
        else:
            argv = list(command)
            script = shell_script(argv)
            if script is not None and _shell_name(argv[0]) in RUNTIME_SHELLS:
                commands = split_script(script)
            else:
                commands = [argv] if argv else None
        if not commands:
            return None
        per_command = []
        for words in commands:
            # An absolute path stands for a basename rule only where a host_executable lists it: Codex
            # also resolves undeclared paths (`/tmp/x/git`); we do not (stricter on purpose).
            declared = os.path.isabs(words[0]) and os.path.basename(words[0]) in self.host_executables
            allows = [rule for rule in self.check(words, resolve_host_executables=declared)
                      if rule.decision == Decision.ALLOW]
            if not allows:
                return None
            per_command.append(allows)
        return per_command

    def evaluate(self, command: Sequence[str] | str) -> RuleMatch | None:
        """The strictest decision for running `command`, or None if no rule speaks to it.

        `forbidden`/`prompt` are searched for everywhere we can see a command (each
        command of a shell chain, behind wrappers and paths, in scripts we cannot
        parse): stricter than Codex, on purpose. `allow` holds only as Codex's
        runtime grants it (allowed_commands): never through a second shell level,
        a wrapper, or a script that is not plain.
        """
        argv = canonical_argv(command)
        if not argv:
            return None
        found = self._strict(argv)
        if not isinstance(command, str):
            original = list(command)
            if original != argv:
                found += self._strict(original)
        if not found:
            allowed = self.allowed_commands(command)
            if allowed is None:
                return None
            found = [rule for rules in allowed for rule in rules]
        decision = max((rule.decision for rule in found), key=_STRICTNESS.__getitem__)
        chosen: list[PrefixRule] = []
        for rule in found:
            if rule.decision == decision and rule not in chosen:
                chosen.append(rule)
        return RuleMatch(decision, tuple(chosen))


def _shell_name(program: str) -> str:
    return program.rsplit("/", 1)[-1]


def loose_segments(script: str) -> list[list[str]]:
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
    reserved = frozenset({"do", "then", "else", "elif", "if", "while", "until", "!", "{"})
    out = []
    for segment in segments:
        while segment and segment[0] in reserved:  # `do rm -rf x`, `then rm -f y`: the command follows
            segment = segment[1:]
        if segment:
            out.append(segment)  # wrappers such as `time -p` are peeled later (wrappers.py)
    return out


# ---------------------------------------------------------------------------- loading


def load_rules(rules_dir: Path) -> RuleSet:
    """Every `*.rules` file of `rules_dir`, sorted by name; a missing directory is an empty RuleSet."""
    return load_rule_dirs([rules_dir])


def rules_files(rules_dir: Path) -> list[Path]:
    """The `*.rules` files of one directory, sorted; [] when it does not exist."""
    if not rules_dir.exists():
        return []
    if not rules_dir.is_dir():
        raise RulesError(f"{rules_dir}: the Codex rules location is not a directory")
    return sorted(p for p in rules_dir.iterdir() if p.name.endswith(".rules") and p.is_file())


def load_rule_dirs(rules_dirs: Sequence[Path]) -> RuleSet:
    """The rules of several folders, lowest precedence first, every decision counting."""
    return load_rule_layers([(rules_dir, True) for rules_dir in rules_dirs])


def load_rule_layers(layers: Sequence[tuple[Path, bool]]) -> RuleSet:
    """The rules of several layers (Codex: user, then project), lowest precedence first.

    A layer whose flag is False (an untrusted project's `.codex/rules`) only tightens: its `allow`
    rules and `host_executable` entries are dropped, its `prompt`/`forbidden` rules kept. Its files
    are still read, and a broken one still stops the run: refusing to run is tightening too.
    """
    ruleset = RuleSet()
    for rules_dir, allow in layers:
        for path in rules_files(rules_dir):
            if path.is_symlink() and not allow:
                continue  # a repository's link could point at any file of the machine
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise RulesError(f"{path}: cannot read the rules file: {exc}") from None
            layer = parse_policy(text, str(path), ruleset.host_executables)
            if not allow:
                layer = RuleSet([rule for rule in layer.rules if rule.decision != Decision.ALLOW],
                                network_rules=[rule for rule in layer.network_rules if rule.decision != Decision.ALLOW])
            ruleset.extend(layer)
    return ruleset


def parse_rules(text: str, source: str) -> list[PrefixRule]:
    """The prefix rules of one file's `text`; `source` names the file in rules and errors."""
    return parse_policy(text, source).rules


def parse_policy(text: str, source: str, host_executables: Mapping[str, tuple[str, ...]] | None = None) -> RuleSet:
    """Evaluate one rules file with the Starlark engine; `host_executables` are those of files read before."""
    from . import starlark_eval

    return starlark_eval.evaluate_file(text, source, dict(host_executables or {}))


def format_rule(rule: PrefixRule) -> str:
    """The rule as a `prefix_rule(...)` call that parse_rules reads back to an equal rule."""
    words = [_quote(p[0]) if len(p) == 1 else "[" + ", ".join(map(_quote, p)) + "]" for p in rule.pattern]
    parts = [f"pattern = [{', '.join(words)}]", f"decision = {_quote(rule.decision.value)}"]
    if rule.justification is not None:
        parts.append(f"justification = {_quote(rule.justification)}")
    return "prefix_rule(\n    " + ",\n    ".join(parts) + ",\n)\n"


_ESCAPES_OUT = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


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


def describe(pattern: tuple[tuple[str, ...], ...]) -> str:
    return "[" + ", ".join(p[0] if len(p) == 1 else "[" + "|".join(p) + "]" for p in pattern) + "]"


def deadline_check(seconds: float = EVAL_SECONDS) -> Callable[[], bool]:
    """A cancellation check for the engine: true once `seconds` have passed."""
    end = time.monotonic() + seconds
    return lambda: time.monotonic() > end

