"""The built-in `diagnostics` pipeline: useful in any repository, decided by what the repo has.

Detection only looks at files (no command runs at plan time), so `plan` shows
exactly what `start` will run.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from .model import CommandStage, Pipeline


def _python(root: Path) -> str:
    for candidate in (".venv/bin/python", "venv/bin/python"):
        if (root / candidate).is_file():
            return shlex.quote(candidate)
    return "python3"


def _npm_scripts(root: Path) -> dict[str, str]:
    try:
        scripts = json.loads((root / "package.json").read_text()).get("scripts", {})
    except (OSError, ValueError, AttributeError):
        return {}
    return scripts if isinstance(scripts, dict) else {}


def _make_targets(root: Path) -> set[str]:
    try:
        text = (root / "Makefile").read_text(errors="replace")
    except OSError:
        return set()
    return {line.split(":", 1)[0].strip() for line in text.splitlines() if ":" in line and not line[:1].isspace()}


def diagnostics_pipeline(root: Path) -> Pipeline:
    stages: list[CommandStage] = []
    if (root / ".git").exists():
        stages.append(CommandStage("git-status", "Git status", "git status --short --branch", allow_failure=True))

    scripts = _npm_scripts(root)
    has_node_modules = (root / "node_modules").is_dir()
    for script in ("build", "lint", "test"):
        if script in scripts and (has_node_modules or script == "test"):
            stages.append(CommandStage(f"npm-{script}", f"npm run {script}", f"npm run --silent {script}"))

    python_markers = ("pyproject.toml", "setup.py", "setup.cfg", "pytest.ini", "tox.ini")
    if any((root / marker).exists() for marker in python_markers) or (root / "tests").is_dir():
        python = _python(root)
        stages.append(CommandStage("python-compile", "Python byte-compile check",
                                   f"{python} -m compileall -q -x '(^|/)(\\.venv|venv|node_modules|\\.git)/' ."))
        stages.append(CommandStage("pytest", "Python tests (pytest)", f"{python} -m pytest -q -x"))

    targets = _make_targets(root)
    if "test" in targets and not any(stage.id in ("pytest", "npm-test") for stage in stages):
        stages.append(CommandStage("make-test", "make test", "make test"))

    if not any(stage.id != "git-status" for stage in stages):
        stages.append(CommandStage("inventory", "Repository inventory",
                                   "ls -la && (git ls-files 2>/dev/null | head -n 50 || true)"))
    return Pipeline("diagnostics", "Diagnostics (detected from the repository)", tuple(stages), "builtin")
