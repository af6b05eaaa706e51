// One `codex-orchestrator serve --stdio` process and the JSON-RPC 2.0 traffic with it (docs/serve.md):
// one JSON object per line each way, many requests in flight, `event` notifications and
// `approval/request` requests routed to the call they belong to by its request id.

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';

import {
  CliNotFoundError, OrchestratorError, ProtocolError, RequestFailedError, ServerExitedError, UsageError,
} from './errors.js';
import type { ApprovalRequestPayload, OrchestratorEvent } from './events.generated.js';
import type { ApprovalDecision, ApprovalHandler } from './types.js';

/** What a call wants to hear about while it runs. */
export interface CallHooks {
  onEvent?: ((event: OrchestratorEvent) => void) | undefined;
  onApproval?: ApprovalHandler | undefined;
}

interface Pending extends CallHooks {
  method: string;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  /** What the caller's onEvent threw: the run is cancelled and the call rejects with it. */
  failure?: { error: unknown };
}

interface Message {
  jsonrpc?: string;
  id?: number | string | null;
  method?: string;
  params?: Record<string, unknown>;
  result?: unknown;
  error?: { code: number; message: string; data?: { exitCode?: number; kind?: string } };
}

const DECISIONS: ReadonlySet<string> = new Set<ApprovalDecision>(
  ['approved', 'approved_for_session', 'approved_always', 'denied', 'abort']);
const STDERR_KEEP = 4096;

export interface ConnectionOptions {
  cliPath: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
  onApproval?: ApprovalHandler | undefined;
}

/** The error a JSON-RPC error response stands for (docs/serve.md, Errors). */
export function errorFromResponse(error: NonNullable<Message['error']>, method: string): OrchestratorError {
  const message = `${method}: ${error.message}`;
  if (error.code === -32602) return new UsageError(message);
  if (error.code === -32001) {
    return new RequestFailedError(message, { exitCode: error.data?.exitCode ?? null, kind: error.data?.kind ?? null });
  }
  return new ProtocolError(message, error.code);
}

export class Connection {
  readonly child: ChildProcessWithoutNullStreams;
  /** Set once the process has ended: every later call fails with it. */
  dead: ServerExitedError | null = null;
  /** Resolves when the process has ended and its output has been read. */
  readonly closed: Promise<void>;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private buffer = '';
  private stderrTail = '';
  private closing = false;
  private readonly defaultApproval: ApprovalHandler | undefined;

  private constructor(child: ChildProcessWithoutNullStreams, options: ConnectionOptions) {
    this.child = child;
    this.defaultApproval = options.onApproval;
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (text: string) => this.receive(text));
    child.stderr.on('data', (text: string) => {
      this.stderrTail = (this.stderrTail + text).slice(-STDERR_KEEP);
    });
    // Writing to a server that just died raises EPIPE here; the 'close' handler reports it.
    child.stdin.on('error', () => undefined);
    this.closed = new Promise((resolve) => {
      child.once('close', (code, signal) => {
        const why = this.closing ? 'the server was closed' : 'the codex-orchestrator server exited';
        this.dead = new ServerExitedError(why, { code, signal, stderrTail: this.stderrTail });
        for (const call of this.pending.values()) call.reject(this.dead);
        this.pending.clear();
        resolve();
      });
    });
    this.idle();
  }

  /** Start `cliPath serve --stdio` and wait until it runs (a missing CLI rejects with CliNotFoundError). */
  static async open(options: ConnectionOptions): Promise<Connection> {
    const child = spawn(options.cliPath, ['serve', '--stdio'], {
      cwd: options.cwd, env: options.env, stdio: ['pipe', 'pipe', 'pipe'],
    });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (error) => reject(new CliNotFoundError(options.cliPath, error)));
    });
    return new Connection(child, options);
  }

  /** Send a request; the promise settles with its result or the typed error. */
  request(method: string, params: Record<string, unknown>, hooks: CallHooks = {}): { id: number; promise: Promise<unknown> } {
    const id = this.nextId++;
    if (this.dead) return { id, promise: Promise.reject(this.dead) };
    const promise = new Promise<unknown>((resolve, reject) => {
      this.pending.set(id, { method, resolve, reject, onEvent: hooks.onEvent, onApproval: hooks.onApproval });
    });
    this.busy();
    this.send({ jsonrpc: '2.0', id, method, params });
    return { id, promise };
  }

  notify(method: string, params: Record<string, unknown>): void {
    if (!this.dead) this.send({ jsonrpc: '2.0', method, params });
  }

  /** Ask the server to finish (it cancels what still runs), end its stdin, and wait for it to exit. */
  async close(graceMs = 5000): Promise<void> {
    if (this.dead) return;
    this.closing = true;
    this.setRef(true); // an awaited close must keep Node alive until the server is gone
    await within(this.request('shutdown', {}).promise.catch(() => undefined), graceMs);
    this.setRef(true);
    this.child.stdin.end();
    if (await within(this.closed, graceMs)) return;
    this.child.kill('SIGTERM');
    if (await within(this.closed, graceMs)) return;
    this.child.kill('SIGKILL');
    await this.closed;
  }

  private send(message: Message): void {
    this.child.stdin.write(`${JSON.stringify(message)}\n`);
  }

  private receive(text: string): void {
    this.buffer += text;
    let start = 0;
    for (let end = this.buffer.indexOf('\n'); end !== -1; end = this.buffer.indexOf('\n', start)) {
      const line = this.buffer.slice(start, end);
      start = end + 1;
      if (line.trim()) this.dispatch(line);
    }
    this.buffer = this.buffer.slice(start);
  }

  private dispatch(line: string): void {
    let message: Message;
    try {
      message = JSON.parse(line) as Message;
    } catch {
      this.stderrTail = (this.stderrTail + `[stdout, not JSON] ${line.slice(0, 200)}\n`).slice(-STDERR_KEEP);
      return;
    }
    if (message.method === undefined) {
      this.settle(message);
    } else if (message.id === undefined || message.id === null) {
      if (message.method === 'event') this.routeEvent(message.params ?? {});
    } else if (message.method === 'approval/request') {
      void this.answerApproval(message.id, message.params ?? {});
    } else {
      this.send({ jsonrpc: '2.0', id: message.id, error: { code: -32601, message: `unknown method ${message.method}` } });
    }
  }

  private settle(message: Message): void {
    const id = typeof message.id === 'number' ? message.id : Number(message.id);
    const call = this.pending.get(id);
    if (!call) return;
    this.pending.delete(id);
    if (this.pending.size === 0) this.idle();
    if (call.failure) call.reject(call.failure.error as Error);
    else if (message.error) call.reject(errorFromResponse(message.error, call.method));
    else call.resolve(message.result);
  }

  private routeEvent(params: Record<string, unknown>): void {
    const call = this.pending.get(params.requestId as number);
    if (!call?.onEvent || !params.event || call.failure) return;
    try {
      call.onEvent(params.event as OrchestratorEvent);
    } catch (error) {
      call.failure = { error };
      this.notify('$/cancelRequest', { id: params.requestId as number });
    }
  }

  private async answerApproval(id: number | string, params: Record<string, unknown>): Promise<void> {
    const call = this.pending.get(params.requestId as number);
    const handler = call?.onApproval ?? this.defaultApproval;
    const approval = (params.approval ?? {}) as ApprovalRequestPayload;
    if (!handler) {
      this.send({ jsonrpc: '2.0', id, result: { decision: 'denied' } });
      return;
    }
    try {
      const decision = await handler({ ...approval, runId: (params.runId as string | undefined) ?? null });
      if (!DECISIONS.has(decision)) throw new Error(`onApproval returned ${JSON.stringify(decision)}, not a decision`);
      if (!this.dead) this.send({ jsonrpc: '2.0', id, result: { decision } });
    } catch (error) {
      // An error answer denies (fail closed); the server records it.
      const text = error instanceof Error ? error.message : String(error);
      if (!this.dead) this.send({ jsonrpc: '2.0', id, error: { code: -32000, message: `onApproval failed: ${text}` } });
    }
  }

  /** While calls are in flight the server keeps Node alive; idle, it does not hold the process open. */
  private busy(): void {
    if (this.pending.size === 1) this.setRef(true);
  }

  private idle(): void {
    if (!this.closing) this.setRef(false);
  }

  private setRef(on: boolean): void {
    for (const handle of [this.child, this.child.stdout, this.child.stderr] as unknown as Refable[]) {
      if (on) handle.ref();
      else handle.unref();
    }
  }
}

interface Refable { ref(): void; unref(): void }

/** True when `promise` settled within `ms`, false when the time ran out first. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), ms); });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
