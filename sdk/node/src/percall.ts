// The one-process-per-call mode (`spawnPerCall: true`): each call runs the CLI itself with
// `--format jsonl`, as the reference SDK does, and answers approvals with `approval:response`
// lines on its stdin (`--approvals stdin`, docs/approvals.md). No server, so no sessions.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';

import { AbortError, CliNotFoundError, RequestFailedError, ServerExitedError, UsageError } from './errors.js';
import type { OrchestratorEvent, RunSummaryPayload } from './events.generated.js';
import type { ApprovalHandler, CallOptions, ExecOptions, ExecResult, ResumeOptions, RunResult, StartOptions } from './types.js';

export interface CliProcess {
  cliPath: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
  onApproval?: ApprovalHandler | undefined;
}

interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  summary: RunSummaryPayload | null;
}

/** Run the CLI once; with `jsonl`, read its events as they come and answer its approval requests. */
export function runCli(cli: CliProcess, args: string[], options: CallOptions & { jsonl: boolean }): Promise<Finished> {
  const handler = options.onApproval ?? cli.onApproval;
  const approvals = options.jsonl ? ['--approvals', handler ? 'stdin' : 'none'] : [];
  // The flags go right after the subcommand: after `--` they would be the command's arguments.
  const child = spawn(cli.cliPath, [...args.slice(0, 1), ...approvals, ...args.slice(1)], {
    cwd: cli.cwd, env: cli.env, stdio: [handler && options.jsonl ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  const out: Finished = { code: null, signal: null, stdout: '', stderr: '', summary: null };
  let buffer = '';
  let failure: { error: unknown } | null = null; // what onEvent threw: the run is stopped and the call rejects
  const onLine = (line: string): void => {
    let event: OrchestratorEvent;
    try {
      event = JSON.parse(line) as OrchestratorEvent;
    } catch {
      return; // not an event (the CLI writes only events to stdout with --format jsonl)
    }
    if (failure) return;
    try {
      options.onEvent?.(event);
    } catch (error) {
      failure = { error };
      child.kill('SIGTERM');
      return;
    }
    if (event.type === 'approval:request' && handler) {
      void answer(handler, event.payload, child.stdin);
    } else if (event.type === 'run:summary') {
      out.summary = event.payload;
      child.stdin?.end();
    }
  };
  const { stdout, stderr } = child as unknown as { stdout: Readable; stderr: Readable };
  child.stdin?.on('error', () => undefined);
  stdout.setEncoding('utf8');
  stdout.on('data', (text: string) => {
    if (!options.jsonl) {
      out.stdout += text;
      return;
    }
    buffer += text;
    let start = 0;
    for (let end = buffer.indexOf('\n'); end !== -1; end = buffer.indexOf('\n', start)) {
      onLine(buffer.slice(start, end));
      start = end + 1;
    }
    buffer = buffer.slice(start);
  });
  stderr.setEncoding('utf8');
  stderr.on('data', (text: string) => { out.stderr = (out.stderr + text).slice(-8192); });
  const abort = (): void => { child.kill('SIGTERM'); };
  options.signal?.addEventListener('abort', abort, { once: true });
  return new Promise<Finished>((resolve, reject) => {
    child.once('error', (error) => reject(new CliNotFoundError(cli.cliPath, error)));
    child.once('close', (code, signal) => {
      options.signal?.removeEventListener('abort', abort);
      if (buffer.trim()) onLine(buffer);
      out.code = code;
      out.signal = signal;
      if (failure) reject(failure.error);
      else resolve(out);
    });
  });
}

async function answer(handler: ApprovalHandler, payload: OrchestratorEvent['payload'], stdin: NodeJS.WritableStream | null): Promise<void> {
  const request = payload as Parameters<ApprovalHandler>[0];
  let decision: string;
  try {
    decision = await handler({ ...request, runId: null });
  } catch {
    decision = 'denied'; // fail closed, as the server does
  }
  stdin?.write(`${JSON.stringify({ type: 'approval:response', requestId: request.requestId, decision })}\n`);
}

/** The result of a finished per-call run, or the typed error when it produced no summary. */
function finish(done: Finished, signal: AbortSignal | undefined): RunResult & ExecResult {
  if (!done.summary) {
    if (signal?.aborted) throw new AbortError(signal.reason);
    if (done.code === 2) throw new UsageError(done.stderr.trim() || 'the CLI rejected the arguments');
    throw new ServerExitedError('the codex-orchestrator CLI exited without a run:summary',
      { code: done.code, signal: done.signal, stderrTail: done.stderr });
  }
  const s = done.summary;
  const result = {
    runId: s.run.id, taskId: s.run.taskId, status: s.status, exitCode: done.code ?? s.result.exitCode,
    signal: s.result.signal, statusDetail: s.statusDetail, manifestPath: s.run.manifest, summary: s,
    structuredOutput: s.outputs.structured ?? null,
  };
  if (signal?.aborted) throw new AbortError(signal.reason, result);
  return result;
}

function commonFlags(options: { task?: string | undefined; sandbox?: string | undefined; approvalPolicy?: string | undefined }): string[] {
  const flags: string[] = [];
  if (options.task !== undefined) flags.push('--task', options.task);
  if (options.sandbox !== undefined) flags.push('--sandbox', options.sandbox);
  if (options.approvalPolicy !== undefined) flags.push('--approval-policy', options.approvalPolicy);
  return flags;
}

export async function execPerCall(cli: CliProcess, command: string | string[], options: ExecOptions): Promise<ExecResult> {
  if (options.signal?.aborted) throw new AbortError(options.signal.reason);
  const args = ['exec', '--jsonl', ...commonFlags(options)];
  if (options.cwd !== undefined) args.push('--cwd', options.cwd);
  for (const [name, value] of Object.entries(options.env ?? {})) args.push('--env', `${name}=${value}`);
  if (options.timeoutMs !== undefined) args.push('--timeout', String(options.timeoutMs / 1000));
  if (options.pty !== undefined) args.push(options.pty ? '--pty' : '--no-pty');
  if (options.escalate) args.push('--escalate');
  if (options.parentRun !== undefined) args.push('--parent-run', options.parentRun);
  if (options.justification !== undefined) args.push('--justification', options.justification);
  let schemaDir: string | null = null;
  if (typeof options.outputSchema === 'string') {
    args.push('--output-schema', options.outputSchema);
  } else if (options.outputSchema !== undefined) {
    schemaDir = mkdtempSync(join(tmpdir(), 'co-sdk-schema-'));
    const file = join(schemaDir, 'output.schema.json');
    writeFileSync(file, JSON.stringify(options.outputSchema));
    args.push('--output-schema', file);
  }
  args.push('--', ...(typeof command === 'string' ? [command] : command));
  try {
    return finish(await runCli(cli, args, { ...options, jsonl: true }), options.signal);
  } finally {
    if (schemaDir) rmSync(schemaDir, { recursive: true, force: true });
  }
}

export async function startPerCall(cli: CliProcess, pipeline: string | undefined, options: StartOptions): Promise<RunResult> {
  if (options.signal?.aborted) throw new AbortError(options.signal.reason);
  if (options.cwd !== undefined) throw new UsageError('start({cwd}) needs the server; give the Orchestrator that cwd');
  const args = ['start', ...(pipeline ? [pipeline] : []), '--format', 'jsonl', ...commonFlags(options)];
  return finish(await runCli(cli, args, { ...options, jsonl: true }), options.signal);
}

export async function resumePerCall(cli: CliProcess, runId: string, options: ResumeOptions): Promise<RunResult> {
  if (options.signal?.aborted) throw new AbortError(options.signal.reason);
  if (options.cwd !== undefined) throw new UsageError('resume({cwd}) needs the server; give the Orchestrator that cwd');
  const args = ['resume', '--run', runId, '--format', 'jsonl', ...commonFlags(options)];
  if (options.token !== undefined) args.push('--token', options.token);
  return finish(await runCli(cli, args, { ...options, jsonl: true }), options.signal);
}

export async function statusPerCall(cli: CliProcess, runId: string, task: string | undefined): Promise<Record<string, unknown>> {
  const args = ['status', '--run', runId, '--format', 'json', ...commonFlags({ task })];
  const done = await runCli(cli, args, { jsonl: false });
  if (done.code === 0) return JSON.parse(done.stdout) as Record<string, unknown>;
  if (done.code === 2) throw new UsageError(done.stderr.trim());
  throw new RequestFailedError(`run/status: ${done.stderr.trim() || `exit code ${done.code}`}`,
    { exitCode: done.code, kind: done.code === 66 ? 'not-found' : null });
}
