"""Canonical argv and approval keys; the script splitter is checked against a real bash."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codex_orchestrator.tools.approvals.keys import approval_key, canonical_argv, shell_script, split_script


@pytest.mark.parametrize("spelling", [
    "ls -la src",
    "  ls   -la 'src'  ",
    ["ls", "-la", "src"],
    ["bash", "-lc", "ls -la src"],
    ["sh", "-c", "ls -la \"src\""],
    ["/bin/bash", "-lc", "ls -la src;"],
    ["bash", "-lc", "bash -lc 'ls -la src'"],
])
def test_every_spelling_of_a_simple_command_is_one_argv(spelling: str | list[str]) -> None:
    assert canonical_argv(spelling) == ["ls", "-la", "src"]


@pytest.mark.parametrize("script", [
    "ls | wc -l", "make && make test", "echo $HOME", "echo `id`", "echo $(id)", "ls > out", "cat < in",
    "ls *.py", "ls ~", "echo {a,b}", "sleep 1 &", "FOO=1 ls", "if true; then ls; fi", "ls # note",
    "(ls)", "echo 'unterminated", "a ||", "echo \"$HOME\"",
])
def test_scripts_that_are_not_one_plain_command_keep_their_wrapper(script: str) -> None:
    assert canonical_argv(script) == ["bash", "-lc", script]
    assert canonical_argv(["sh", "-c", script]) == ["sh", "-c", script]


def test_argvs_that_are_not_wrappers_are_returned_as_given() -> None:
    not_wrappers = (["./bash", "-lc", "ls"], ["bash", "-x", "ls"], ["sh", "-c", "ls", "x"],
                    ["python", "-c", "1"])
    for argv in not_wrappers:
        assert canonical_argv(argv) == argv
    assert shell_script(["/usr/bin/zsh", "-c", "ls"]) == "ls"
    assert shell_script(["/tmp/bash", "-c", "ls"]) is None
    assert canonical_argv("") == [] and canonical_argv([]) == []


def test_split_script_chains() -> None:
    assert split_script("git status && ls -la | wc -l; echo 'a  b'\n pwd") == [
        ["git", "status"], ["ls", "-la"], ["wc", "-l"], ["echo", "a  b"], ["pwd"]]
    assert split_script("ls &&\n  pwd") == [["ls"], ["pwd"]]
    assert split_script("echo a\\ b \"c\\\"d\" ''") == [["echo", "a b", 'c"d', ""]]
    for bad in ("", "   ", "; ls", "ls && && pwd", "ls |& cat", "case x in ;; esac", "ls |"):
        assert split_script(bad) is None, bad


def test_approval_key_depends_on_command_cwd_and_escalation(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    key = approval_key(["ls", "-la"], tmp_path / "a", False)
    assert key.startswith("sha256:") and len(key) == len("sha256:") + 64
    assert approval_key("ls -la", tmp_path / "a", False) == key
    assert approval_key(["bash", "-lc", "ls -la"], tmp_path / "b" / ".." / "a", False) == key
    assert approval_key(["ls", "-la"], tmp_path / "b", False) != key
    assert approval_key(["ls", "-la"], tmp_path / "a", True) != key
    assert approval_key(["ls", "-l", "a"], tmp_path / "a", False) != key
    assert approval_key(["echo", "\udcff"], Path("/"), False).startswith("sha256:")  # undecodable bytes


WORD = st.text(st.sampled_from("ab -_.,:=%@+/\"'\\\t"), min_size=1, max_size=8)


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash to compare word splitting")
@settings(max_examples=120, deadline=None)
@given(st.lists(WORD, min_size=1, max_size=4))
def test_plain_commands_split_exactly_like_bash(pieces: list[str]) -> None:
    script = " ".join(pieces)
    commands = split_script(script)
    if commands is None or len(commands) != 1:
        return
    probe = subprocess.run(["bash", "--norc", "--noprofile", "-c", f"set -- {script}\nprintf '%s\\0' \"$@\""],
                           capture_output=True, timeout=10)
    assert probe.returncode == 0, (script, probe.stderr)
    assert probe.stdout.decode().split("\0")[:-1] == commands[0], script
