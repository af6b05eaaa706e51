// The errors the SDK throws. A command that fails (non-zero exit, denied, timed out) is a *result*,
// never one of these: these mean the call itself could not be made or finished.

import type { ExecResult } from './types.js';

/** The base class of every error the SDK throws, so that `catch (e) { if (e instanceof OrchestratorError) }` works. */
export class OrchestratorError extends Error {
  /** The exit code the CLI would have used for this failure, when there is one (2 usage, 66 not found, ...). */
  readonly exitCode: number | null;

  constructor(message: string, options: { exitCode?: number | null; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.exitCode = options.exitCode ?? null;
  }
}

/** Bad input: an unknown option value, a bad command, an option the mode cannot honour (exit code 2). */
export class UsageError extends OrchestratorError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { exitCode: 2, ...options });
  }
}

/** The CLI could not be started: `cliPath` does not exist or is not executable. */
export class CliNotFoundError extends OrchestratorError {
  readonly cliPath: string;

  constructor(cliPath: string, cause: unknown) {
    const code = (cause as NodeJS.ErrnoException | undefined)?.code ?? 'error';
    super(`cannot start the codex-orchestrator CLI at ${JSON.stringify(cliPath)} (${code}); `
      + 'install it, put it on PATH, or pass { cliPath }', { exitCode: 127, cause });
    this.cliPath = cliPath;
  }
}

/**
 * The CLI process ended before answering: the server crashed or was killed (calls in flight reject
 * with this; the next call starts a new server), or a per-call process exited without a summary.
 */
export class ServerExitedError extends OrchestratorError {
  /** The process's exit code, or null when it died of a signal. */
  readonly processExitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  /** The last lines the process wrote on stderr (its log), to say why. */
  readonly stderrTail: string;

  constructor(message: string, info: { code: number | null; signal: NodeJS.Signals | null; stderrTail: string }) {
    const why = info.signal ? `killed by ${info.signal}` : `exit code ${info.code}`;
    const tail = info.stderrTail.trim() ? `\n${info.stderrTail.trim()}` : '';
    super(`${message} (${why})${tail}`);
    this.processExitCode = info.code;
    this.signal = info.signal;
    this.stderrTail = info.stderrTail;
  }
}

/**
 * The orchestrator refused or failed the request (JSON-RPC error -32001): a run that does not exist (66),
 * a sandbox that is unavailable (71), a busy run (75), a wrong resume token, ...
 */
export class RequestFailedError extends OrchestratorError {
  /** The kind of failure the server named (`not-found`, `busy`, ...), when it named one. */
  readonly kind: string | null;

  constructor(message: string, options: { exitCode?: number | null; kind?: string | null }) {
    super(message, { exitCode: options.exitCode ?? null });
    this.kind = options.kind ?? null;
  }
}

/** The server and the SDK disagree about the protocol (bad JSON, unknown method, an internal server error). */
export class ProtocolError extends OrchestratorError {
  /** The JSON-RPC error code. */
  readonly code: number;

  constructor(message: string, code: number) {
    super(message);
    this.code = code;
  }
}

/**
 * The caller's AbortSignal fired: the run was cancelled (and recorded as `cancelled`). `result` holds
 * the cancelled run's result when the run had started; `reason` is the signal's reason.
 */
export class AbortError extends OrchestratorError {
  readonly code = 'ABORT_ERR';
  readonly result: ExecResult | null;
  readonly reason: unknown;

  constructor(reason: unknown, result: ExecResult | null = null) {
    super('the operation was aborted', { cause: reason });
    this.reason = reason;
    this.result = result;
  }
}
