"""`mcp serve` takes one shell snapshot for Codex's default `login: true` calls: the profile runs once per server,
and the recorded command is still the `bash -lc` line Codex asked for (docs/exec.md "Shell snapshots")."""

from __future__ import annotations

from pathlib import Path

import anyio

from ..conftest import Repo
from .client import info, manifest, serve


def test_login_calls_run_the_profile_once_per_server(repo: Repo, isolated_home: Path, tmp_path: Path) -> None:
    counter = tmp_path / "counter"
    (isolated_home / ".profile").write_text(f'export FROM_PROFILE=yes\necho run >> "{counter}"\n')

    async def main() -> None:
        async with serve(repo.root) as client:
            for _ in range(3):
                result = await client.call("exec_command", {"cmd": "echo $FROM_PROFILE"})
                assert "Process exited with code 0" in result.content[0].text  # type: ignore[union-attr]
                assert "\nyes\n" in result.content[0].text  # type: ignore[union-attr]
            run = manifest(info(result))
            assert run["commands"][0]["command"] == "/bin/bash -lc 'echo $FROM_PROFILE'"
            assert run["tool_runs"][0]["sandboxState"] == "sandboxed"

    anyio.run(main)
    assert counter.read_text() == "run\n"
