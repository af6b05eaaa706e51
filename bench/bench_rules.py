"""Loading Codex rules through starlark-pyo3: the engine's import and a 400-rule rules folder.

    .venv/bin/python bench/bench_rules.py

200 straight-line `prefix_rule` calls plus 200 made by list comprehensions (whose lines are found by
evaluating the file again, for the first 16 of them). No reference: Codex loads its rules once per
session inside its own process.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    started = time.perf_counter()
    import starlark  # noqa: F401

    print(f"import starlark: {(time.perf_counter() - started) * 1000:.1f} ms")
    from codex_orchestrator.tools.approvals.rules import load_rules

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "rules"
        folder.mkdir()
        (folder / "a.rules").write_text("".join(
            f'prefix_rule(pattern=["cmd{i}", ["a", "b"]], decision="prompt", justification="r{i}")\n'
            for i in range(200)))
        (folder / "b.rules").write_text('GIT = "git"\n' + "".join(
            f'[prefix_rule([GIT, s]) for s in ["s{i}", "t{i}"]]\n' for i in range(100)))
        times = []
        for _ in range(10):
            started = time.perf_counter()
            count = len(load_rules(folder).rules)
            times.append(time.perf_counter() - started)
    print(f"load {count} rules: median {statistics.median(times) * 1000:.1f} ms over 10 loads")


if __name__ == "__main__":
    main()
