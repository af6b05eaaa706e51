"""Run one codex stage: `codex exec --json` (or `exec resume` of the stage's thread), streamed into our events.

The Codex process is trusted like the orchestrator itself (the program comes from
the user's settings only) and runs outside our sandbox: it needs the model API, and
it sandboxes every command its model runs itself, in the mode and with the bounds
we give it (codex/invocation.py). It is a tool run of its own (`tool: "codex"`,
`sandboxState: "unsandboxed"`), and every command or MCP call it makes is a tool
run with `source: "codex"` and the thread id, so the manifest links run -> stage ->
thread -> tool runs. Under `approval_policy = untrusted` the stage must be approved
before Codex starts, since Codex itself never asks (headless).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._files import make_dirs, open_file, write_json_atomic
from ..exec.process import run_pipes
from ..tools.outcome import Finished, attempt_status
from .invocation import CodexBounds, codex_argv, display_argv, resume_prompt
from .schema import load_schema, validate_message
from .translate import CodexTranslator

if TYPE_CHECKING:  # pragma: no cover
    from ..config import Config
    from ..events.protocol import (
        ApprovalSource,
        SandboxState,
        StageEnd,
        StageStatus,
        ToolComplete,
        ToolStart,
        ToolStatus,
    )
    from ..exec.cancel import CancelToken
    from ..pipelines.model import CodexStage
    from ..runs.active import ActiveRun
    from ..tools.orchestrator import ToolOrchestrator

EXIT_SCHEMA = 65  # the final message does not match outputSchema (as `exec --output-schema`)
SUMMARY_CHARS = 300


class CodexStageRun:
    def __init__(self, *, config: Config, run: ActiveRun, orchestrator: ToolOrchestrator, stage: CodexStage,
                 index: int, cwd: Path, bounds: CodexBounds, binary: str, env: Mapping[str, str],
                 cancel: CancelToken, log_path: Path) -> None:
        self.config, self.run, self.orchestrator, self.stage = config, run, orchestrator, stage
        self.index, self.cwd, self.bounds, self.binary = index, cwd, bounds, binary
        self.env, self.cancel, self.log_path = env, cancel, log_path
        self.tool_run_id = "tr_" + os.urandom(6).hex()
        self.started = time.monotonic()

    def execute(self) -> tuple[StageEnd, int | None]:
        """The stage's end and, when it failed, the exit code it stands for."""
        stage = self.stage
        thread_id = self.run.manifest.commands[self.index - 1].codex_thread_id
        schema, schema_path, problem = self._schema()
        if problem is not None:
            return self._end("failed", None, problem, thread_id), 2
        prompt = resume_prompt(stage.prompt) if thread_id else stage.prompt
        argv = codex_argv(self.binary, bounds=self.bounds, cwd=self.cwd, prompt=prompt,
                          instructions=self._instructions(), model=stage.model, profile=stage.profile,
                          schema=schema_path, thread_id=thread_id)
        shown = display_argv(argv)
        source, refusal = self._approve(shown)
        start: ToolStart = {
            "toolRunId": self.tool_run_id, "tool": "codex", "command": shown, "cwd": str(self.cwd),
            "sandboxMode": self.bounds.sandbox_mode, "approvalSource": source, "approvalKey": self._key(shown),
            "stageId": stage.id,
        }
        if thread_id:
            start["threadId"] = thread_id
        self.run.bus.publish("tool:start", start)
        if refusal is not None:
            self._complete("rejected", None, 0.0, source, refusal, thread_id)
            from ..errors import EXIT_DENIED

            return self._end("failed", None, refusal, thread_id), EXIT_DENIED
        translator = CodexTranslator(self.run.bus, stage_id=stage.id, index=self.index, cwd=self.cwd,
                                     sandbox_mode=self.bounds.sandbox_mode,
                                     network_blocked=not self.bounds.network_access, thread_id=thread_id)
        outcome = self._spawn(argv, translator)
        translator.close()
        return self._finish(outcome, translator, schema, source)

    # ------------------------------------------------------------------ steps

    def _schema(self) -> tuple[dict[str, Any] | None, Path | None, str | None]:
        """Our copy of the stage's outputSchema for Codex (read again now: an earlier stage may have changed it)."""
        if not self.stage.output_schema:
            return None, None, None
        from ..errors import UsageError

        try:
            schema = load_schema(self.config.repo_root, self.stage.output_schema, where=f"stage {self.stage.id!r}")
        except UsageError as exc:
            return None, None, str(exc)
        folder = self.run.paths.run_dir / "codex"
        make_dirs(folder, within=self.run.paths.root)
        path = folder / f"{self.index:02d}-{self.log_path.stem.split('-', 1)[-1]}.schema.json"
        write_json_atomic(path, schema, within=self.run.paths.root)
        return schema, path, None

    def _instructions(self) -> str | None:
        record = self.run.manifest.instructions
        if record is None or not record.path:
            return None
        try:
            return Path(record.path).read_text(encoding="utf-8")
        except OSError:
            return None

    def _key(self, shown: list[str]) -> str:
        from ..tools.approvals.keys import approval_key

        return approval_key(shown, self.cwd, False)

    def _approve(self, shown: list[str]) -> tuple[ApprovalSource, str | None]:
        """(approval source, None) to go on, or (source, why not): only `untrusted` asks for a whole stage."""
        policy = self.orchestrator.policy
        if policy != "untrusted":
            return "not-required", None
        reason = (f"approval_policy=untrusted: a codex stage lets the model run commands (sandbox_mode="
                  f"{self.bounds.sandbox_mode}) without asking for each")
        ok, source, message = self.orchestrator.approve(  # the orchestrator's one approval path
            tool_run_id=self.tool_run_id, argv=shown, cwd=self.cwd, reason=reason, mode=self.bounds.sandbox_mode)
        return source, None if ok else (message or "not approved")

    def _spawn(self, argv: list[str], translator: CodexTranslator) -> Any:
        import sys

        from . import reaper

        def on_chunk(stream: str, chunk: Any) -> None:
            if stream == "stdout":
                translator.feed(chunk.data)

        root = self.config.repo_root
        make_dirs(self.log_path.parent, within=root)
        fd = open_file(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, within=root)
        with os.fdopen(fd, "ab") as log:
            # Through the reaper, so that nothing Codex starts outlives us (codex/reaper.py).
            wrapped = [sys.executable, "-I", "-S", reaper.__file__, str(os.getpid()), "--", *argv]
            return run_pipes(wrapped, cwd=self.cwd, env=self.env, timeout=self.stage.timeout, on_chunk=on_chunk,
                             log=log, cancel=self.cancel)

    def _finish(self, outcome: Any, translator: CodexTranslator, schema: dict[str, Any] | None,
                source: ApprovalSource) -> tuple[StageEnd, int | None]:
        from ..errors import EXIT_TIMEOUT
        from ..tools.outcome import cancel_detail, cancel_exit_code

        thread_id = translator.thread_id
        structured: Any = None
        errors: list[str] = []
        code: int | None = None
        tool_status: ToolStatus
        status: Finished
        if outcome.cancelled or self.cancel.cancelled:
            status = tool_status = "cancelled"
            summary = cancel_detail(self.cancel.signum, self.cancel.reason)
            code = cancel_exit_code(self.cancel.signum)
        elif outcome.timed_out:
            status, tool_status, code = "failed", "timed_out", EXIT_TIMEOUT
            summary = f"timed out after {self.stage.timeout:g} s"
        elif translator.failure is not None:
            status = tool_status = "failed"
            code = outcome.exit_code or 1
            summary = f"Codex failed: {translator.failure}"
        elif outcome.exit_code != 0:
            status = tool_status = "failed"
            code = outcome.exit_code
            last = [line for line in outcome.streams["stderr"].tail().decode("utf-8", "replace").splitlines()
                    if line.strip()]
            summary = f"codex exited with {outcome.exit_code}" + (f": {last[-1].strip()[:200]}" if last else "")
        else:
            status = tool_status = "succeeded"
            summary = _one_line(translator.final_message) or "Codex finished without a final message"
            if schema is not None:
                structured, errors = validate_message(schema, translator.final_message)
                if errors:
                    status, code = "failed", EXIT_SCHEMA
                    summary = f"the final message does not match {self.stage.output_schema}: {errors[0]}"
        self._complete(tool_status, outcome.exit_code, outcome.duration_ms, source,
                       summary if status != "succeeded" else None, thread_id, signal=outcome.signal)
        end = self._end(status, outcome.exit_code, summary, thread_id)
        if schema is not None:
            end["structured"] = structured
            if errors:
                end["validationErrors"] = errors
        return end, code

    # ------------------------------------------------------------------ records

    def _complete(self, status: ToolStatus, exit_code: int | None, duration_ms: float, source: ApprovalSource,
                  message: str | None,
                  thread_id: str | None, *, signal: int | None = None) -> None:
        state: SandboxState = "unsandboxed"  # the Codex process itself; its commands carry their own state
        record: ToolComplete = {
            "toolRunId": self.tool_run_id, "tool": "codex", "status": status,
            "exitCode": exit_code, "signal": signal, "retryCount": 0, "sandboxState": state,
            "durationMs": round((time.monotonic() - self.started) * 1000, 3), "approvalSource": source,
            "attempts": [] if status == "rejected" else [{
                "attempt": 1, "sandboxState": state, "sandboxBackend": "none", "exitCode": exit_code,
                "signal": signal, "durationMs": round(duration_ms, 3), "status": attempt_status(status),
                "denied": False}],
            "stageId": self.stage.id,
        }
        if thread_id:
            record["threadId"] = thread_id
        if message:
            record["message"] = message
        self.run.bus.publish("tool:complete", record)

    def _end(self, status: StageStatus, exit_code: int | None, summary: str, thread_id: str | None) -> StageEnd:
        end: StageEnd = {"stageId": self.stage.id, "index": self.index, "status": status,
                         "exitCode": exit_code, "durationMs": 0.0, "summary": summary}
        if thread_id:
            end["threadId"] = thread_id
        return end


def _one_line(text: str | None) -> str:
    if not text:
        return ""
    line = " ".join(text.split())
    return line if len(line) <= SUMMARY_CHARS else line[: SUMMARY_CHARS - 1] + "…"
