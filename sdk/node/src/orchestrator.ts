// The Orchestrator: one warm `serve --stdio` process, started on the first call and reused by every
// later one (or, with `spawnPerCall`, one CLI process per call). A command that fails is a result;
// only a call that could not be made or finished throws (errors.ts).

import { cliEnvironment } from './config.js';
import { AbortError, ServerExitedError, UsageError } from './errors.js';
import type { OrchestratorEvent } from './events.generated.js';
import { execPerCall, resumePerCall, startPerCall, statusPerCall, type CliProcess } from './percall.js';
import { Connection, type CallHooks } from './rpc.js';
import type {
  ApprovalHandler, CallOptions, ExecOptions, ExecResult, OrchestratorOptions, ResumeOptions, RunResult,
  RunStatusView, SessionInfo, SessionOptions, SessionOutput, SessionRunOptions, StartOptions,
  StreamedExec,
} from './types.js';

/** What `initialize` answers: the server's version, capabilities and effective configuration. */
export interface ServerInfo {
  serverInfo: { name: string; version: string };
  protocolVersion: number;
  capabilities: Record<string, unknown>;
  config: Record<string, unknown>;
}

export class Orchestrator {
  private readonly cli: CliProcess;
  private readonly perCall: boolean;
  private connection: Promise<Connection> | null = null;
  /** The connection once it is open, for `serverPid` and crash detection. */
  private live: Connection | null = null;
  private info: ServerInfo | null = null;
  private closed = false;

  constructor(options: OrchestratorOptions = {}) {
    this.cli = {
      cliPath: options.cliPath ?? 'codex-orchestrator',
      cwd: options.cwd ?? process.cwd(),
      env: cliEnvironment(options.env, options.config),
      onApproval: options.onApproval,
    };
    this.perCall = options.spawnPerCall ?? false;
  }

  /** The pid of the running server, or null before the first call, after `close()` or in spawnPerCall mode. */
  get serverPid(): number | null {
    return this.live?.child.pid ?? null;
  }

  /** Run one command. `command`: a string is a shell command line, an array an argv. */
  async exec(command: string | string[], options: ExecOptions = {}): Promise<ExecResult> {
    checkCommand(command);
    if (this.perCall) return execPerCall(this.cli, command, options);
    const params = {
      command, cwd: options.cwd, env: options.env, task: options.task, sandbox: options.sandbox,
      approvalPolicy: options.approvalPolicy, timeoutMs: options.timeoutMs, outputSchema: options.outputSchema,
      pty: options.pty, escalate: options.escalate, justification: options.justification,
      parentRun: options.parentRun, events: options.onEvent !== undefined,
    };
    return this.call<ExecResult>('exec', params, options);
  }

  /** Run one command and read its events as they happen; `result` settles after the last event. */
  execStreamed(command: string | string[], options: ExecOptions = {}): StreamedExec {
    const queue = new EventQueue<OrchestratorEvent>();
    const onEvent = (event: OrchestratorEvent): void => {
      queue.push(event);
      options.onEvent?.(event);
    };
    const result = this.exec(command, { ...options, onEvent });
    result.then(() => queue.end(), (error: unknown) => queue.end(error));
    result.catch(() => undefined); // a caller who only reads `events` gets the error there
    return { events: queue.iterate(), result };
  }

  /** Open a PTY session that lives as long as the server: state (cwd, variables) persists across `run` calls. */
  async openSession(options: SessionOptions = {}): Promise<Session> {
    if (this.perCall) throw new UsageError('sessions need the server: they cannot outlive a per-call process (spawnPerCall)');
    const connection = await this.connect();
    const { sessionId } = await request<{ sessionId: string }>(connection, 'session/open', { ...options });
    return new Session(connection, sessionId, this.cli.onApproval);
  }

  async listSessions(): Promise<SessionInfo[]> {
    if (this.perCall) return [];
    const { sessions } = await request<{ sessions: SessionInfo[] }>(await this.connect(), 'session/list', {});
    return sessions;
  }

  /** Run a pipeline (default: the repo's defaultPipeline, else the built-in diagnostics). */
  async start(pipeline?: string, options: StartOptions = {}): Promise<RunResult> {
    if (this.perCall) return startPerCall(this.cli, pipeline, options);
    const params = {
      pipeline, task: options.task, sandbox: options.sandbox, approvalPolicy: options.approvalPolicy,
      cwd: options.cwd, events: options.onEvent !== undefined,
    };
    return this.call<RunResult>('run/start', params, options);
  }

  /** Continue a failed, cancelled or interrupted run from its first stage not yet succeeded. */
  async resume(runId: string, options: ResumeOptions = {}): Promise<RunResult> {
    if (this.perCall) return resumePerCall(this.cli, runId, options);
    const params = {
      runId, task: options.task, token: options.token, cwd: options.cwd, events: options.onEvent !== undefined,
    };
    return this.call<RunResult>('run/resume', params, options);
  }

  /** The `status --format json` view of a run (RequestFailedError with exitCode 66 when there is none). */
  async status(runId: string, options: { task?: string; cwd?: string } = {}): Promise<RunStatusView> {
    if (this.perCall) return statusPerCall(this.cli, runId, options.task);
    return request<RunStatusView>(await this.connect(), 'run/status', { runId, task: options.task, cwd: options.cwd });
  }

  /** Cancel a run this server is running, by id (e.g. one started from another call). */
  async cancel(runId: string): Promise<boolean> {
    if (this.perCall) throw new UsageError('cancel(runId) needs the server; in spawnPerCall mode abort the call\'s signal');
    const { cancelled } = await request<{ cancelled: boolean }>(await this.connect(), 'run/cancel', { runId });
    return cancelled;
  }

  /** What the server answered to `initialize` (starting it if needed). */
  async serverInfo(): Promise<ServerInfo> {
    if (this.perCall) throw new UsageError('serverInfo() needs the server (spawnPerCall: false)');
    await this.connect();
    return this.info as ServerInfo;
  }

  /** Stop the server: runs still in flight are cancelled (and recorded); sessions end. */
  async close(): Promise<void> {
    this.closed = true;
    const pending = this.connection;
    this.connection = null;
    const connection = pending ? await pending.catch(() => null) : null;
    await connection?.close();
  }

  /** The running server, started (again, after a crash) when needed. */
  private async connect(): Promise<Connection> {
    for (let attempt = 0; ; attempt++) {
      if (this.closed) throw new UsageError('this Orchestrator is closed');
      if (!this.connection) this.connection = this.open();
      const opening = this.connection;
      const connection = await opening;
      if (!connection.dead || attempt > 0) return connection; // a server that dies at once: its error surfaces
      if (this.connection === opening) this.connection = null;
    }
  }

  private open(): Promise<Connection> {
    const opening = Connection.open(this.cli).then(async (connection) => {
      void connection.closed.then(() => {
        if (this.live !== connection) return;
        this.live = null;
        if (this.connection === opening) this.connection = null;
      });
      this.info = await request<ServerInfo>(connection, 'initialize',
        { clientInfo: { name: 'codex-orchestrator-sdk', version: '0.1.0' } });
      this.live = connection;
      return connection;
    });
    opening.catch(() => { if (this.connection === opening) this.connection = null; });
    return opening;
  }

  /** A run-starting request: events and approvals routed to the call, the signal mapped to `$/cancelRequest`. */
  private async call<T>(method: string, params: Record<string, unknown>, options: CallOptions): Promise<T> {
    const { signal } = options;
    if (signal?.aborted) throw new AbortError(signal.reason);
    const connection = await this.connect();
    if (signal?.aborted) throw new AbortError(signal.reason);
    const hooks: CallHooks = { onEvent: options.onEvent, onApproval: options.onApproval };
    return runRequest<T>(connection, method, params, hooks, signal);
  }
}

/** A PTY session on the server. It ends with `close()`, or when the server ends. */
export class Session {
  constructor(private readonly connection: Connection, readonly id: string,
    private readonly defaultApproval: ApprovalHandler | undefined) {}

  /**
   * Run a command line in the session's shell and wait for it. Each run goes through the approval
   * policy and is recorded as a run of its own; `cd`, variables and functions persist to the next.
   */
  async run(command: string, options: SessionRunOptions = {}): Promise<ExecResult> {
    checkCommand(command);
    this.checkAlive();
    if (options.signal?.aborted) throw new AbortError(options.signal.reason);
    const params = {
      sessionId: this.id, command, timeoutMs: options.timeoutMs, task: options.task, env: options.env,
      events: options.onEvent !== undefined,
    };
    const hooks: CallHooks = { onEvent: options.onEvent, onApproval: options.onApproval ?? this.defaultApproval };
    return runRequest<ExecResult>(this.connection, 'session/run', params, hooks, options.signal);
  }

  /**
   * Type into the command a `run` in flight is running (an answer to `read`, a password prompt,
   * `\u0003` for Ctrl-C). Returns the number of bytes typed; a UsageError when nothing runs.
   */
  async write(chars: string): Promise<number> {
    this.checkAlive();
    const { written } = await request<{ written: number }>(this.connection, 'session/write', { sessionId: this.id, chars });
    return written;
  }

  /** The session's output since the previous poll (the latest 1 MiB), and whether a command is running. */
  async poll(): Promise<SessionOutput> {
    this.checkAlive();
    return request<SessionOutput>(this.connection, 'session/poll', { sessionId: this.id });
  }

  async close(): Promise<boolean> {
    if (this.connection.dead) return false;
    const { closed } = await request<{ closed: boolean }>(this.connection, 'session/close', { sessionId: this.id });
    return closed;
  }

  private checkAlive(): void {
    if (this.connection.dead) {
      throw new ServerExitedError(`session ${this.id} ended with its server`, {
        code: this.connection.dead.processExitCode, signal: this.connection.dead.signal, stderrTail: '',
      });
    }
  }
}

async function request<T>(connection: Connection, method: string, params: Record<string, unknown>): Promise<T> {
  return (await connection.request(method, params).promise) as T;
}

async function runRequest<T>(connection: Connection, method: string, params: Record<string, unknown>,
  hooks: CallHooks, signal: AbortSignal | undefined): Promise<T> {
  const { id, promise } = connection.request(method, params, hooks);
  const abort = (): void => connection.notify('$/cancelRequest', { id });
  signal?.addEventListener('abort', abort, { once: true });
  try {
    const result = (await promise) as T;
    if (signal?.aborted) throw new AbortError(signal.reason, result as ExecResult);
    return result;
  } finally {
    signal?.removeEventListener('abort', abort);
  }
}

function checkCommand(command: unknown): void {
  const ok = typeof command === 'string'
    ? command.trim() !== ''
    : Array.isArray(command) && command.length > 0 && command.every((a) => typeof a === 'string');
  if (!ok) throw new UsageError('command must be a non-empty string (a shell command line) or a non-empty array of strings (an argv)');
}

/** An unbounded single-consumer queue read as an AsyncGenerator; `end(error)` makes the reader throw. */
class EventQueue<T> {
  private items: T[] = [];
  private head = 0;
  private done = false;
  private error: unknown = undefined;
  private wake: (() => void) | null = null;

  push(item: T): void {
    this.items.push(item);
    this.notify();
  }

  end(error?: unknown): void {
    this.done = true;
    this.error = error;
    this.notify();
  }

  async *iterate(): AsyncGenerator<T, void, undefined> {
    for (;;) {
      if (this.head < this.items.length) {
        const item = this.items[this.head] as T;
        this.items[this.head++] = undefined as T; // let it be collected
        yield item;
      } else if (this.done) {
        if (this.error !== undefined) throw this.error;
        return;
      } else {
        await new Promise<void>((resolve) => { this.wake = resolve; });
      }
    }
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}
