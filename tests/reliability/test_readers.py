"""The reader of stdout never decides whether a run can stop (W2-2 items 3 and 4)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from ..conftest import CLI, Repo


def _last_run(repo: Repo) -> tuple[dict[str, object], list[dict[str, object]]]:
    manifest = repo.manifests()[-1]
    lines = Path(str(manifest["events_path"])).read_text().splitlines()
    return manifest, [json.loads(line) for line in lines]


@pytest.mark.parametrize("command", [["exec", "--jsonl", "--", "yes"],
                                     ["start", "--format", "jsonl"]])
def test_a_closed_reader_stops_the_command(repo: Repo, command: list[str]) -> None:
    repo.pipeline({"kind": "command", "id": "yes", "title": "yes", "command": "yes"})
    began = time.monotonic()
    proc = subprocess.Popen([*CLI, *command], cwd=repo.root, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    for _ in range(3):
        proc.stdout.readline()
    proc.stdout.close()  # like `| head -n 3`
    assert proc.wait(timeout=30) == 141
    assert time.monotonic() - began < 10
    manifest, stream = _last_run(repo)
    assert manifest["status"] == "cancelled"
    assert "output-closed" in str(manifest["status_detail"])
    assert stream[-1]["type"] == "run:summary"
    size = Path(str(manifest["events_path"])).stat().st_size
    assert size < 50_000_000, size  # bounded: not gigabytes of `y`


def test_sigterm_wins_over_a_stalled_reader(repo: Repo) -> None:
    reader, writer = os.pipe()  # nobody ever reads `reader`
    try:
        proc = subprocess.Popen([*CLI, "exec", "--jsonl", "--", "yes"], cwd=repo.root, stdout=writer,
                                stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        os.close(writer)
        writer = -1
        time.sleep(1.5)  # the pipe and our queue are full: the producer is held back
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        elapsed = time.monotonic() - sent
    finally:
        os.close(reader)
        if writer >= 0:
            os.close(writer)
    assert code == 143
    assert elapsed < 3.0, elapsed  # the kill grace (2 s) plus 1 s, whatever the reader does
    manifest, stream = _last_run(repo)
    assert manifest["status"] == "cancelled"
    assert stream[-1]["type"] == "run:summary"
