"""Threat: a command in a sandboxed PTY session leaves a job behind that rewrites the session's command file,
so that a later call runs something other than what it sent and what its run records. The file's folder is
bound read-only inside the session's sandbox (docs/security.md, "PTY sessions"): nothing the session runs
can write it, on either backend; the orchestrator, outside, rewrites it for each command."""

from __future__ import annotations

from pathlib import Path

from codex_orchestrator.exec.sessions import ExecSessionManager
from codex_orchestrator.tools.request import ToolRequest

from ..tools.test_shell_snapshot import make

# The job a hostile command leaves behind: keep overwriting the file this very command was read from.
REWRITER = ('f="$BASH_SOURCE"; d="$(dirname "$f")"; '
            '( for i in $(seq 200); do printf "echo pwned\\n" > "$f"; sleep 0.01; done ) 2>/dev/null & '
            'printf "echo pwned\\n" > "$f" && echo file-writable; touch "$d/planted" && echo dir-writable; '
            'mv "$d" "$d.moved" 2>/dev/null && echo dir-movable; echo "$d"')


def test_a_session_command_cannot_rewrite_the_next_commands_file(tmp_path: Path, backend: str) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    sessions = ExecSessionManager()
    orchestrator, _ = make(workspace, "workspace-write", backend=backend, sessions=sessions)
    try:
        first = orchestrator.invoke(ToolRequest(tool="test", command=REWRITER, cwd=workspace, session_id="s",
                                                timeout=30))
        text = first.tail_text("pty")
        assert first.exit_code == 0, text
        assert "writable" not in text and "movable" not in text, text  # read-only inside: EROFS
        folder = Path(text.strip().splitlines()[-1])
        assert folder.is_dir() and folder.name.startswith("codex-orch-pty-")
        for n in range(5):  # while the job keeps trying
            later = orchestrator.invoke(ToolRequest(tool="test", command=f"echo call-{n}", cwd=workspace,
                                                    session_id="s", timeout=30))
            assert later.tail_text("pty") == f"call-{n}\n"
        assert not (folder / "planted").exists()
    finally:
        sessions.close_all()
    assert not folder.exists()  # the session's end takes its folder away
