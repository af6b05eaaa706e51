"""Nothing leaks: no process, zombie or descriptor after many runs; memory stays flat under volume."""

from __future__ import annotations

import os
from pathlib import Path

from codex_orchestrator.exec.chunker import Chunk
from codex_orchestrator.exec.process import run_pipes
from codex_orchestrator.exec.pty_shell import PtyShell

from .helpers import children_of, open_fds, rss_kib

ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}


def test_no_process_zombie_or_fd_left_after_1000_commands(tmp_path: Path) -> None:
    fds_before = open_fds()
    children_before = children_of(os.getpid())
    for i in range(500):
        argv = ["true"] if i % 10 else ["bash", "-c", "sleep 100 & echo $!"]
        assert run_pipes(argv, cwd=tmp_path, env=ENV).exit_code == 0
    with PtyShell("leak", cwd=tmp_path, env=ENV) as shell:
        for i in range(500):
            command = "true" if i % 10 else "/bin/true | cat"
            assert shell.run(command).exit_code == 0
        before = {pid for pid, _ in children_before}
        assert {pid for pid, _ in children_of(os.getpid())} - before == {shell.pid}
    assert children_of(os.getpid()) == children_before
    assert open_fds() == fds_before


def test_memory_stays_flat_while_200_mb_stream_through(tmp_path: Path) -> None:
    total = 200 * 1024 * 1024
    seen = 0
    samples: list[int] = []

    def consume(name: str, chunk: Chunk) -> None:
        nonlocal seen
        seen += len(chunk.data)
        if len(samples) * 4 * 1024 * 1024 <= seen:  # one sample per 4 MiB
            samples.append(rss_kib())

    baseline = rss_kib()
    with open(os.devnull, "wb") as log:
        outcome = run_pipes(["bash", "-c", f"yes 'some fairly ordinary log line €' | head -c {total}"],
                            cwd=tmp_path, env=ENV, on_chunk=consume, log=log)
    assert outcome.exit_code == 0
    assert seen == total == outcome.streams["stdout"].total_bytes
    growth_mib = (max(samples) - baseline) / 1024
    assert growth_mib < 30, f"RSS grew by {growth_mib:.1f} MiB"
