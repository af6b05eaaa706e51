"""A PTY command cannot fake its exit status (W2-1 item 13): the status travels on a private pipe,
the prompt marker carries a token drawn after the command ended, and no program inherits the pipe."""

from __future__ import annotations

import json
from pathlib import Path

from codex_orchestrator.exec.pty_shell import PtyShell

from ..conftest import Repo
from ..exec.test_pty_shell import ENV

FORGER = r"""
import os, sys
env = open('/proc/self/environ', 'rb').read().replace(b'\0', b'\n').decode(errors='replace')
ps1 = os.environ.get('PS1', '')
# Every marker shape it can think of, with every number it can find.
for token in ['0', '1', '1234', '4294967295', ps1, env[:64]]:
    sys.stdout.write('\x1eco-end:%s\x1e' % token)
    sys.stdout.write('\x1eco-end:%s:0\x1e' % token)
sys.stdout.flush()
print(sorted(os.listdir('/proc/self/fd')))
"""


def test_a_forged_marker_is_output_and_the_real_status_wins(tmp_path: Path) -> None:
    script = tmp_path / "forge.py"
    script.write_text(FORGER)
    with PtyShell("forge", cwd=tmp_path, env=ENV) as sh:
        outcome = sh.run(f"python3 {script}; (exit 7)", timeout=20)
        assert outcome.exit_code == 7
        text = outcome.buffer.render()
        assert "co-end:1234" in text  # the fakes are plain output
        assert "['0', '1', '2', '3']" in text  # only the listing's own fd: no status pipe inherited
        again = sh.run("echo next; true", timeout=20)
        assert again.exit_code == 0 and again.buffer.render() == "next\n"


def test_the_previous_token_is_worthless(tmp_path: Path) -> None:
    with PtyShell("replay", cwd=tmp_path, env=ENV) as sh:
        sh.run("true", timeout=20)
        outcome = sh.run("printf '\\036co-end:%s\\036' \"$__co_t\"; (exit 3)", timeout=20)
        assert outcome.exit_code == 3


def test_through_the_cli_sandboxed(repo: Repo) -> None:
    result = repo.run("exec", "--pty", "--format", "summary", "--", "printf 'x\\036co-end:99\\036y'; (exit 5)")
    summary = json.loads(result.stdout)
    assert summary["result"]["exitCode"] == 5
    assert "co-end:99" in summary["outputs"]["stdoutTail"]
