// The public option and result types. Names follow the CLI flags (docs/cli.md) in camelCase.

import type { ApprovalRequestPayload, OrchestratorEvent, RunSummaryPayload } from './events.generated.js';

export type SandboxMode = 'read-only' | 'workspace-write' | 'danger-full-access';
export type ApprovalPolicy = 'untrusted' | 'on-failure' | 'on-request' | 'never';
/** The answers a caller may give to an approval request. */
export type ApprovalDecision = 'approved' | 'approved_for_session' | 'approved_always' | 'denied' | 'abort';
/** The status of a finished run. */
export type RunStatus = RunSummaryPayload['status'];

/** An approval question: the `approval:request` payload and the run it belongs to. */
export interface ApprovalRequest extends ApprovalRequestPayload {
  runId: string | null;
}

/**
 * Answers an approval request from code. Throwing (or returning anything else than a decision)
 * denies: the server fails closed.
 */
export type ApprovalHandler = (request: ApprovalRequest) => ApprovalDecision | Promise<ApprovalDecision>;

/** Settings in the configuration's key names (docs/configuration.md), e.g. `{ approval_timeout_seconds: 5 }`. */
export type ConfigOverrides = Partial<Record<ConfigKey, string | number | boolean | string[]>>;

/** The configuration keys that can be set for the CLI process (through their CODEX_ORCHESTRATOR_* variables). */
export type ConfigKey =
  | 'approval_policy'
  | 'sandbox_mode'
  | 'sandbox_workspace_write.writable_roots'
  | 'sandbox_workspace_write.network_access'
  | 'sandbox_backend'
  | 'approval_timeout_seconds'
  | 'retry.max_attempts'
  | 'retry.backoff_ms'
  | 'heartbeat_interval_seconds'
  | 'output_limit_bytes'
  | 'on_output_limit'
  | 'default_task'
  | 'notify'
  | 'project_doc_max_bytes';

export interface OrchestratorOptions {
  /** The CLI to run (default: `codex-orchestrator` on PATH). */
  cliPath?: string;
  /** The working directory of the CLI, and the default cwd of every call (default: `process.cwd()`). */
  cwd?: string;
  /** Variables added to (or, with `undefined`, removed from) `process.env` for the CLI. */
  env?: Record<string, string | undefined>;
  /** Configuration settings for the CLI, the same as its CODEX_ORCHESTRATOR_* variables. */
  config?: ConfigOverrides;
  /**
   * Run each call as its own `codex-orchestrator exec --jsonl` process (as the reference SDK does)
   * instead of one warm `serve --stdio`. Slower (a process start per call) and without sessions.
   */
  spawnPerCall?: boolean;
  /** Answers approval requests of every call that has no `onApproval` of its own. Without one, they are denied. */
  onApproval?: ApprovalHandler;
}

/** What every run-starting call accepts. */
export interface CallOptions {
  /** Task id: where the run is recorded (`.runs/<task>/`). */
  task?: string;
  /** Cancels the run; the promise then rejects with an `AbortError`. */
  signal?: AbortSignal;
  /** Answers this call's approval requests (takes precedence over the Orchestrator's). */
  onApproval?: ApprovalHandler;
  /** Called with every event of the run, in order. */
  onEvent?: (event: OrchestratorEvent) => void;
}

export interface ExecOptions extends CallOptions {
  sandbox?: SandboxMode;
  approvalPolicy?: ApprovalPolicy;
  /** Stop the command's process group after this many milliseconds (status `timed_out`, exit code 124). */
  timeoutMs?: number;
  /** stdout must be JSON valid against this JSON Schema (an object, or the path of a file). */
  outputSchema?: Record<string, unknown> | string;
  /** Working directory of the command (default: the Orchestrator's cwd). */
  cwd?: string;
  /** Variables set for the command. */
  env?: Record<string, string>;
  /** Run in a pseudo-terminal (stdout and stderr arrive merged as one `pty` stream). */
  pty?: boolean;
  /** Ask to run outside the sandbox (needs approval). */
  escalate?: boolean;
  /** Why `escalate` is needed (shown in the approval request). */
  justification?: string;
  /** Record the run as a child of this run id. */
  parentRun?: string;
}

export interface ExecResult {
  runId: string;
  taskId: string;
  /** `succeeded`, `failed` or `cancelled`. */
  status: RunStatus;
  /** The code the CLI would exit with: the command's own, 77 not approved, 124 timed out, ... */
  exitCode: number | null;
  signal: number | null;
  statusDetail: string | null;
  manifestPath: string;
  /** The `run:summary` payload. */
  summary: RunSummaryPayload;
  /** stdout parsed and validated, when `outputSchema` was given (else null). */
  structuredOutput?: unknown;
}

export interface SessionOptions {
  cwd?: string;
  sandbox?: SandboxMode;
  approvalPolicy?: ApprovalPolicy;
  /** Reuse or name the session (default: the server picks an id). */
  sessionId?: string;
}

export interface SessionRunOptions extends CallOptions {
  /** Stop the command after this many milliseconds (exit code 124); the session lives on. */
  timeoutMs?: number;
  env?: Record<string, string>;
}

/** What `session.poll()` returns: the output since the previous poll (the latest 1 MiB). */
export interface SessionOutput {
  output: string;
  /** Whether a command is running in the session now. */
  running: boolean;
}

export interface SessionInfo {
  sessionId: string;
  cwd: string;
  /** The sandbox mode the session was opened with (null: the configured one). */
  sandbox: SandboxMode | null;
  /** The shell starts at the first `run`. */
  started: boolean;
  running: boolean;
}

export interface StartOptions extends CallOptions {
  sandbox?: SandboxMode;
  approvalPolicy?: ApprovalPolicy;
  /** The project folder (default: the Orchestrator's cwd). */
  cwd?: string;
}

export interface ResumeOptions extends CallOptions {
  /** The run's resume token (its `.resume-token` file); checked when given. */
  token?: string;
  /** The project folder (default: the Orchestrator's cwd). */
  cwd?: string;
}

export interface RunResult {
  runId: string;
  taskId: string;
  status: RunStatus;
  exitCode: number | null;
  manifestPath: string;
  summary: RunSummaryPayload;
}

/** The `status --format json` view of a run. */
export type RunStatusView = Record<string, unknown>;

/** `execStreamed`: the events as they happen, and the final result. */
export interface StreamedExec {
  events: AsyncGenerator<OrchestratorEvent, void, undefined>;
  result: Promise<ExecResult>;
}
