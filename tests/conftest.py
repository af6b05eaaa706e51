"""Shared fixtures: an isolated home for every test, and a way to run the real CLI."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--require-sandbox", action="store_true", default=False,
                     help="fail (instead of skipping) the sandbox tests when a backend does not work here; "
                          "implied by CI=true")
    parser.addoption("--warm-sandbox", action="store_true", default=False,
                     help="spawn through the warm sandbox wherever it can be used (sandbox/warm.py), in the "
                          "test process and the CLIs it starts (CODEX_ORCHESTRATOR_WARM_SANDBOX=always)")


# CODEX_ORCHESTRATOR_WARM_SANDBOX=0/1 survives the isolation below: the suite can run both ways.
_WARM_SANDBOX = os.environ.get("CODEX_ORCHESTRATOR_WARM_SANDBOX")


# The real `codex` (tests/peers) confines its commands with bubblewrap, which creates empty mount points
# for the names it protects (`.git`, `.codex`, `.agents`, ...) in every writable root, /tmp included, and
# leaves them there. An empty `/tmp/.git` would make every test directory under /tmp look like part of a
# repository rooted at /tmp. Remove such leftovers (rmdir: only while they are empty) before each test.
_CODEX_MOUNT_POINTS = tuple(os.path.join(os.path.realpath("/tmp"), name)
                            for name in (".git", ".codex", ".agents", ".aws"))


@pytest.fixture(autouse=True)
def no_codex_mount_points() -> None:
    for path in _CODEX_MOUNT_POINTS:
        with contextlib.suppress(OSError):
            os.rmdir(path)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[Path]:
    """No test may read or write the developer's ~/.codex or ~/.codex-orchestrator."""
    home = tmp_path / "home"
    (home / ".codex").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("CODEX_HOME", str(home / ".codex"))
    monkeypatch.setenv("CODEX_ORCHESTRATOR_HOME", str(home / ".codex-orchestrator"))
    for name in list(os.environ):
        if name.startswith("CODEX_ORCHESTRATOR_") and name != "CODEX_ORCHESTRATOR_HOME":
            monkeypatch.delenv(name)
    monkeypatch.delenv("MCP_RUNNER_TASK_ID", raising=False)
    warm = "always" if request.config.getoption("--warm-sandbox") else _WARM_SANDBOX
    if warm is not None:
        monkeypatch.setenv("CODEX_ORCHESTRATOR_WARM_SANDBOX", warm)
    yield home


@pytest.fixture(autouse=True)
def warm_sandbox_settled() -> None:
    """A test starts with no sandbox parked and no waiter of an earlier test's left to reap (sandbox/warm.py)."""
    pool = sys.modules.get("codex_orchestrator.sandbox.warm_pool")
    if pool is not None:
        assert pool.settle()


class Repo:
    """A throwaway project directory with an optional codex.orchestrator.json."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def config(self, document: Mapping[str, Any]) -> Path:
        path = self.root / "codex.orchestrator.json"
        path.write_text(json.dumps(document))
        return path

    def pipeline(self, *stages: Mapping[str, Any], pipeline_id: str = "p", **extra: Any) -> Path:
        return self.config({"pipelines": [{"id": pipeline_id, "title": pipeline_id, "stages": list(stages)}],
                            "defaultPipeline": pipeline_id, **extra})

    def run(self, *args: str, input: str | None = None, env: Mapping[str, str] | None = None,
            timeout: float = 60, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, cwd=cwd or self.root, input=input, env=env, timeout=timeout)

    def manifests(self, task: str = "default") -> list[dict[str, Any]]:
        cli_dir = self.root / ".runs" / task / "cli"
        # Hidden `.<id>.creating` folders are runs being created (or killed while being created).
        return [json.loads((d / "manifest.json").read_text()) for d in sorted(cli_dir.iterdir())
                if not d.name.startswith(".")] if cli_dir.exists() else []


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    root = tmp_path / "repo"
    root.mkdir()
    (root / ".git").mkdir()  # enough to be a repository root for discovery
    return Repo(root)


CLI = [sys.executable, "-m", "codex_orchestrator.cli.main"]


def live_pids(holds: str, *, where: str = "cmdline") -> list[int]:
    """Live processes whose /proc/PID/<where> (cmdline or environ) contains `holds`; zombies are dead."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            content = Path(entry.path, where).read_bytes()
            state = Path(entry.path, "stat").read_bytes().rsplit(b")", 1)[1].split()[0]
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if holds.encode() in content and state not in (b"Z", b"X"):
            found.append(int(entry.name))
    return found


def run_cli(*args: str, cwd: Path, input: str | None = None, env: Mapping[str, str] | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([*CLI, *args], cwd=cwd, input=input if input is not None else "", text=True,
                          capture_output=True, env=full_env, timeout=timeout)


def events(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def run_on_terminal(*args: str, cwd: Path, answer: bytes | None = None, prompt: bytes = b"[n] deny",
                    timeout: float = 30) -> tuple[int, str]:
    """Run the CLI on a real pseudo-terminal (its stdin, stdout, stderr and controlling tty).

    When `answer` is given it is typed once `prompt` appears. Returns (exit code, everything shown).
    """
    import pty
    import select
    import time

    pid, master = pty.fork()
    if pid == 0:  # the child becomes the CLI
        os.chdir(cwd)
        os.execv(CLI[0], [*CLI, *args])
    screen = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                data = os.read(master, 4096)
            except OSError:  # EIO: the terminal hung up, the CLI is done
                break
            if not data:
                break
            screen += data
        if answer is not None and prompt in screen:
            os.write(master, answer)
            answer = None
    _, status = os.waitpid(pid, 0)
    os.close(master)
    return os.waitstatus_to_exitcode(status), screen.decode(errors="replace")


# ---------------------------------------------------------------------- every event, checked

def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Validate every line of every `events.jsonl` the suite wrote against `schemas/events/`.

    The payload types are checked statically (`EventBus.publish` overloads); this is the runtime
    half: an event that a test produced but no test inspected still has to match its schema,
    so a wrong key in `approval:request` or `run:error` fails the suite.
    """
    if exitstatus != 0 or session.testscollected == 0 or getattr(session.config, "workerinput", None):
        return
    base = session.config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]
    problems = _invalid_events(Path(base))
    if problems:
        session.exitstatus = 1
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_sep("=", "events that do not match schemas/events/", red=True)
            for line in problems[:20]:
                reporter.write_line(line)


def _invalid_events(base: Path) -> list[str]:
    import jsonschema

    schemas = Path(__file__).resolve().parents[1] / "schemas" / "events"
    validators: dict[str, Any] = {}
    for path in schemas.glob("*.schema.json"):
        schema = json.loads(path.read_text())
        schema.pop("allOf", None)  # the envelope's per-type $refs: payloads are checked one by one below
        validators[path.name.removesuffix(".schema.json")] = jsonschema.Draft202012Validator(schema)
    problems: list[str] = []
    checked = 0
    for events in base.rglob("events.jsonl"):
        if events.is_symlink():
            continue
        with events.open(encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
        for number, line in enumerate(lines, 1):
            try:
                event = json.loads(line)
            except ValueError:
                if number == len(lines):
                    continue  # a torn last line after a kill -9 (docs/manifest.md)
                problems.append(f"{events}:{number}: not JSON")
                continue
            name = str(event.get("type", "")).replace(":", "-")
            validator = validators.get(name)
            if validator is None:
                problems.append(f"{events}:{number}: unknown event type {event.get('type')!r}")
                continue
            checked += 1
            for error in list(validators["envelope"].iter_errors(event)) + list(
                    validator.iter_errors(event.get("payload"))):
                problems.append(f"{events}:{number}: {event['type']}: "
                                f"{'/'.join(map(str, error.absolute_path)) or '$'}: {error.message}")
    return problems
