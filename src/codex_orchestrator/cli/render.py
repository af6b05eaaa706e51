"""The human view: live output and one status line per stage, for a terminal."""

from __future__ import annotations

import os
import sys
from typing import Any, TextIO


def _write(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class HumanView:
    """A bus subscriber that renders a run for a person. Never critical: it must not break a run."""

    critical = False

    def __init__(self, out: TextIO | None = None, *, show_output: bool = True) -> None:
        self.out = out or sys.stderr
        self.color = self.out.isatty() and "NO_COLOR" not in os.environ
        self.show_output = show_output
        self._mid_line = False  # the command's last output did not end a line
        self._open_subpipelines: list[tuple[str, int]] = []  # (stageId, index) of each enclosing subpipeline

    def _style(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color else text

    def _line(self, text: str) -> None:
        if self._mid_line:  # do not glue a status line to a command's unfinished last line
            self.out.write("\n")
            self._mid_line = False
        self.out.write(text + "\n")
        self.out.flush()

    def handle(self, event: Any, line: str) -> None:
        kind = event["type"]
        p = event["payload"]
        if kind == "run:start":
            self._line(self._style(f"run {p['runId']} · task {p['taskId']} · pipeline {p['pipelineId']} · "
                                   f"{p['approvalPolicy']} / {p['sandboxMode']}", "2"))
        elif kind == "stage:start":
            command = f": {_printable(p['command'])}" if p.get("command") else ""
            indent = "  " * len(self._open_subpipelines)
            self._line(self._style(f"{indent}▶ [{p['index']}] {p['title']}{command}", "1"))
            if p["kind"] == "subpipeline":  # the child run's stages follow, until this stage ends
                self._open_subpipelines.append((p["stageId"], p["index"]))
        elif kind == "exec:chunk" and self.show_output:
            from base64 import b64decode

            data = b64decode(p["data"]) if p.get("encoding") == "base64" else p["data"].encode("utf-8")
            self.out.flush()
            _write(2 if p["stream"] == "stderr" else 1, data)
            self._mid_line = not data.endswith(b"\n")
        elif kind == "approval:request":
            shown = _printable(" ".join(p["command"]))
            self._line(self._style(f"? approval needed for `{shown}`: {_printable(p['reason'])}", "33"))
        elif kind == "approval:decision":
            self._line(self._style(f"  approval: {p['decision']} ({p['approvalSource']})", "2"))
        elif kind == "tool:retry":
            self._line(self._style(f"↻ attempt {p['attempt']} in {p['delayMs']} ms: {p['reason']}", "33"))
        elif kind == "telemetry:degraded":
            self._line(self._style(f"! telemetry export stopped ({_printable(p['endpoint'])}): "
                                   f"{_printable(p['reason'])}; the run goes on", "33"))
        elif kind == "stage:end":
            ends_subpipeline = "childRunId" in p or p["status"] == "skipped"  # a command stage has neither
            if ends_subpipeline and self._open_subpipelines[-1:] == [(p["stageId"], p["index"])]:
                self._open_subpipelines.pop()
            ok = p["status"] in ("succeeded", "skipped")
            mark = self._style("✓", "32") if ok else self._style("✗", "31")
            indent = "  " * len(self._open_subpipelines)
            self._line(f"{indent}{mark} [{p['index']}] {p['stageId']} {_printable(p['summary'])} "
                       f"({p['durationMs'] / 1000:.2f} s)")
        elif kind == "run:summary":
            ok = p["status"] == "succeeded"
            text = (f"{p['status']} (exit {p['result']['exitCode']}) in {p['result']['durationMs'] / 1000:.2f} s · "
                    f"run {p['run']['id']} · manifest {p['run']['manifest']}")
            self._line(self._style(text, "32" if ok else "31"))
            if p.get("statusDetail") and not ok:
                self._line(self._style(f"  {_printable(p['statusDetail'])}", "31"))

    def close(self) -> None:
        pass


def _printable(text: str) -> str:
    from ..tools.asker import printable

    return printable(text)
