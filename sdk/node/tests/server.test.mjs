// The Orchestrator over one warm `serve --stdio` (docs/serve.md), against the real CLI.

import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';

import {
  AbortError, CliNotFoundError, EVENT_TYPES, Orchestrator, OrchestratorError, RequestFailedError, UsageError,
} from '../dist/index.js';
import { CLI, workspace } from './helpers.mjs';

function server(t, options = {}) {
  const ws = workspace(t);
  const orch = ws.orchestrator(options);
  return { ws, orch };
}

test('the server starts lazily, once, and every call reuses it', async (t) => {
  const { ws, orch } = server(t);
  assert.equal(orch.serverPid, null);
  const first = await orch.exec(['echo', 'hi']);
  const pid = orch.serverPid;
  assert.ok(pid > 0);
  assert.equal(first.status, 'succeeded');
  assert.equal(first.exitCode, 0);
  assert.equal(first.summary.outputs.stdoutTail, 'hi\n');
  assert.ok(first.manifestPath.startsWith(ws.dir), first.manifestPath);
  assert.equal(JSON.parse(readFileSync(first.manifestPath, 'utf8')).status, 'succeeded');
  const failed = await orch.exec('echo oops >&2; exit 4', { task: 'other', parentRun: first.runId });
  assert.equal(failed.status, 'failed');
  assert.equal(failed.exitCode, 4);
  assert.equal(failed.taskId, 'other');
  assert.equal(failed.summary.outputs.stderrTail, 'oops\n');
  assert.equal(JSON.parse(readFileSync(failed.manifestPath, 'utf8')).parent_run_id, first.runId);
  assert.equal(orch.serverPid, pid);
  const info = await orch.serverInfo();
  assert.equal(info.protocolVersion, 1);
});

test('events: run:start first, run:summary last, exec:chunk sequences increasing', async (t) => {
  const { orch } = server(t);
  const script = 'for i in $(seq 1 20); do echo line$i; echo err$i >&2; done';
  const { events, result } = orch.execStreamed(['sh', '-c', script]);
  const seen = [];
  for await (const event of events) seen.push(event);
  const r = await result;
  assert.equal(r.exitCode, 0);
  assert.equal(seen[0].type, 'run:start');
  assert.equal(seen.at(-1).type, 'run:summary');
  assert.equal(seen.filter((e) => e.type === 'run:summary').length, 1);
  assert.deepEqual(seen.at(-1).payload, r.summary);
  for (const e of seen) assert.ok(EVENT_TYPES.includes(e.type), e.type);
  const sequences = seen.filter((e) => e.type === 'exec:chunk').map((e) => e.payload.sequence);
  assert.ok(sequences.length >= 2);
  for (let i = 1; i < sequences.length; i++) assert.ok(sequences[i] > sequences[i - 1], `${sequences}`);
  const out = seen.filter((e) => e.type === 'exec:chunk' && e.payload.stream === 'stdout').map((e) => e.payload.data).join('');
  assert.equal(out, Array.from({ length: 20 }, (_, i) => `line${i + 1}\n`).join(''));
  const order = seen.map((e) => e.type).filter((type) => type !== 'exec:chunk');
  assert.deepEqual(order, ['run:start', 'tool:start', 'exec:begin', 'exec:end', 'tool:complete', 'run:summary']);
});

test('approvals answered from code: approved runs, denied does not, no handler denies', async (t) => {
  const { ws, orch } = server(t);
  const asked = [];
  const yes = await orch.exec(['touch', 'yes.txt'], {
    approvalPolicy: 'untrusted',
    onApproval: async (request) => { asked.push(request); return 'approved'; },
    onEvent: () => undefined, // the server knows the run id for approval/request only when it streams events
  });
  assert.equal(yes.exitCode, 0);
  assert.ok(existsSync(join(ws.dir, 'yes.txt')));
  assert.equal(asked.length, 1);
  assert.deepEqual(asked[0].command, ['touch', 'yes.txt']);
  assert.equal(asked[0].runId, yes.runId);
  assert.ok(asked[0].options.includes('approved'));
  const no = await orch.exec(['touch', 'no.txt'], { approvalPolicy: 'untrusted', onApproval: () => 'denied' });
  assert.equal(no.status, 'failed');
  assert.equal(no.exitCode, 77);
  assert.ok(!existsSync(join(ws.dir, 'no.txt')));
  const none = await orch.exec(['touch', 'none.txt'], { approvalPolicy: 'untrusted' });
  assert.equal(none.exitCode, 77);
  assert.ok(!existsSync(join(ws.dir, 'none.txt')));
  const thrown = await orch.exec(['touch', 'thrown.txt'], {
    approvalPolicy: 'untrusted', onApproval: () => { throw new Error('no way'); },
  });
  assert.equal(thrown.exitCode, 77);
  assert.ok(!existsSync(join(ws.dir, 'thrown.txt')));
  const manifest = JSON.parse(readFileSync(yes.manifestPath, 'utf8'));
  assert.equal(manifest.tool_runs[0].approvalSource, 'prompt', 'recorded as answered');
  assert.equal(yes.summary.metrics.approvalsPrompted, 1);
  assert.equal(no.summary.toolRun.approvalSource, 'prompt');
  assert.equal(no.summary.toolRun.status, 'rejected');
});

test('the Orchestrator-wide onApproval answers calls that have none', async (t) => {
  const { ws, orch } = server(t, { onApproval: () => 'approved' });
  const r = await orch.exec(['touch', 'default.txt'], { approvalPolicy: 'untrusted' });
  assert.equal(r.exitCode, 0);
  assert.ok(existsSync(join(ws.dir, 'default.txt')));
});

test('abort cancels the run via $/cancelRequest and rejects with AbortError', async (t) => {
  const { orch } = server(t);
  const controller = new AbortController();
  const started = Date.now();
  const call = orch.exec(['sleep', '30'], {
    signal: controller.signal, onEvent: (e) => { if (e.type === 'exec:begin') controller.abort(new Error('enough')); },
  });
  const error = await call.then(() => null, (e) => e);
  assert.ok(error instanceof AbortError, String(error));
  assert.equal(error.name, 'AbortError');
  assert.equal(error.reason.message, 'enough');
  assert.equal(error.result.status, 'cancelled');
  assert.ok(Date.now() - started < 10000);
  const manifest = JSON.parse(readFileSync(error.result.manifestPath, 'utf8'));
  assert.equal(manifest.status, 'cancelled');
  await assert.rejects(orch.exec(['true'], { signal: AbortSignal.abort() }), AbortError);
  assert.equal((await orch.exec(['true'])).exitCode, 0, 'the server carries on');
});

test('timeoutMs and outputSchema', async (t) => {
  const { orch } = server(t);
  const slow = await orch.exec(['sleep', '10'], { timeoutMs: 200 });
  assert.equal(slow.exitCode, 124);
  const schema = { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] };
  const ok = await orch.exec(['echo', '{"n": 7}'], { outputSchema: schema });
  assert.deepEqual(ok.structuredOutput, { n: 7 });
  const bad = await orch.exec(['echo', '[]'], { outputSchema: schema });
  assert.equal(bad.exitCode, 65);
});

test('usage errors, unknown runs and a missing CLI are typed errors', async (t) => {
  const { ws, orch } = server(t);
  await assert.rejects(orch.exec(['true'], { sandbox: 'wide-open' }), UsageError);
  await assert.rejects(orch.exec(''), UsageError);
  await assert.rejects(orch.exec(['true'], { timeoutMs: -1 }), UsageError);
  const missing = await orch.status('2026-01-01T00-00-00-000Z-deadbeef').then(() => null, (e) => e);
  assert.ok(missing instanceof RequestFailedError, String(missing));
  assert.equal(missing.exitCode, 66);
  assert.equal((await orch.exec(['true'])).exitCode, 0, 'the server survives bad requests');
  const nowhere = new Orchestrator({ cliPath: join(ws.root, 'missing', 'codex-orchestrator') });
  const error = await nowhere.exec(['true']).then(() => null, (e) => e);
  assert.ok(error instanceof CliNotFoundError);
  assert.ok(error instanceof OrchestratorError);
  await nowhere.close();
});

test('start, status, resume: a pipeline run through the server', async (t) => {
  const { ws, orch } = server(t);
  writeFileSync(join(ws.dir, 'codex.orchestrator.json'), JSON.stringify({
    pipelines: [{ id: 'ci', title: 'CI', stages: [
      { kind: 'command', id: 'build', title: 'build', command: 'echo built' },
      { kind: 'command', id: 'check', title: 'check', command: 'test -f ok' },
    ] }], defaultPipeline: 'ci',
  }));
  const events = [];
  const failed = await orch.start('ci', { task: 'pipe', onEvent: (e) => events.push(e.type) });
  assert.equal(failed.status, 'failed');
  assert.equal(failed.summary.stages.length, 2);
  assert.equal(events[0], 'run:start');
  assert.equal(events.at(-1), 'run:summary');
  assert.ok(events.includes('stage:start'));
  const view = await orch.status(failed.runId, { task: 'pipe' });
  assert.equal(view.status, 'failed');
  writeFileSync(join(ws.dir, 'ok'), '');
  const token = readFileSync(join(dirname(failed.manifestPath), '.resume-token'), 'utf8').trim();
  const wrong = await orch.resume(failed.runId, { task: 'pipe', token: 'not-the-token' }).then(() => null, (e) => e);
  assert.ok(wrong instanceof OrchestratorError, String(wrong));
  const resumed = await orch.resume(failed.runId, { task: 'pipe', token });
  assert.equal(resumed.status, 'succeeded');
  assert.equal(resumed.runId, failed.runId);
});

test('config settings reach the server as its environment layer', async (t) => {
  const { orch } = server(t, { config: { default_task: 'from-config' } });
  const r = await orch.exec(['true']);
  assert.equal(r.taskId, 'from-config');
  assert.throws(() => new Orchestrator({ config: { no_such_key: 1 } }), UsageError);
});

test('close() ends the server; a closed Orchestrator refuses calls', async (t) => {
  const { orch } = server(t);
  await orch.exec(['true']);
  const pid = orch.serverPid;
  await orch.close();
  assert.equal(orch.serverPid, null);
  assert.throws(() => process.kill(pid, 0), /ESRCH/);
  await assert.rejects(orch.exec(['true']), UsageError);
});

test('an onEvent callback that throws cancels the run and rejects the call with its error', async (t) => {
  const { orch } = server(t);
  const boom = new Error('listener failed');
  const error = await orch.exec(['sleep', '30'], {
    onEvent: (e) => { if (e.type === 'exec:begin') throw boom; },
  }).then(() => null, (e) => e);
  assert.equal(error, boom);
  assert.equal((await orch.exec(['true'])).exitCode, 0, 'the server carries on');
});
