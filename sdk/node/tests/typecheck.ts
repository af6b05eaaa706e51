// Compiled (never run) by `npm run build`: the public types must allow what docs/sdk.md shows
// and reject what they should, so a type regression fails the build.

import {
  AbortError, Orchestrator, type ApprovalRequest, type ExecResult, type OrchestratorEvent,
} from '../src/index.js';

export async function usage(): Promise<void> {
  const orch = new Orchestrator({ cwd: '/tmp', env: { FOO: 'bar' }, config: { approval_timeout_seconds: 5 } });
  const r: ExecResult = await orch.exec(['pytest', '-q'], {
    task: 't', sandbox: 'workspace-write', approvalPolicy: 'untrusted', timeoutMs: 1000,
    outputSchema: { type: 'object' }, signal: AbortSignal.timeout(1000),
    onApproval: async (req: ApprovalRequest) => (req.command[0] === 'rm' ? 'denied' : 'approved'),
  });
  const code: number | null = r.exitCode;
  void code;
  const { events, result } = orch.execStreamed('make test');
  for await (const event of events) {
    narrow(event);
  }
  await result;
  const s = await orch.openSession({ cwd: '/tmp', sandbox: 'read-only' });
  const sr: ExecResult = await s.run('cd web && npm test');
  void sr;
  const polled = await s.poll();
  const running: boolean = polled.running;
  const typed: number = await s.write('y\n');
  void running; void typed;
  await s.close();
  await orch.start('ci', { task: 't' });
  await orch.resume('run-id', { token: 'x' });
  await orch.close();
  try { await orch.exec('true'); } catch (e) { if (e instanceof AbortError) void e.result; }
  // @ts-expect-error: not a sandbox mode
  await orch.exec('true', { sandbox: 'wide-open' });
  // @ts-expect-error: not a decision
  await orch.exec('true', { onApproval: () => 'maybe' });
  // @ts-expect-error: not a config key
  new Orchestrator({ config: { nope: 1 } });
}

function narrow(event: OrchestratorEvent): void {
  switch (event.type) {
    case 'exec:chunk': {
      const sequence: number = event.payload.sequence;
      const stream: 'stdout' | 'stderr' | 'pty' = event.payload.stream;
      void sequence; void stream;
      break;
    }
    case 'run:summary': {
      const status: string = event.payload.status;
      void status;
      // @ts-expect-error: exec:chunk has data, run:summary does not
      void event.payload.data;
      break;
    }
    default:
      break;
  }
}
