// spawnPerCall: one `codex-orchestrator exec --jsonl` process per call, approvals over its stdin.

import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';

import { AbortError, CliNotFoundError, Orchestrator, UsageError } from '../dist/index.js';
import { CLI, workspace } from './helpers.mjs';

function perCall(t, options = {}) {
  const ws = workspace(t);
  return { ws, orch: new Orchestrator({ cliPath: CLI, cwd: ws.dir, env: ws.env, spawnPerCall: true, ...options }) };
}

test('exec returns the result and records the run; a non-zero exit is a result', async (t) => {
  const { ws, orch } = perCall(t);
  const ok = await orch.exec(['echo', 'hi']);
  assert.equal(ok.status, 'succeeded');
  assert.equal(ok.exitCode, 0);
  assert.equal(ok.summary.outputs.stdoutTail, 'hi\n');
  assert.ok(ok.manifestPath.startsWith(ws.dir));
  assert.equal(JSON.parse(readFileSync(ok.manifestPath, 'utf8')).status, 'succeeded');
  const bad = await orch.exec('exit 3', { task: 'fails', parentRun: ok.runId });
  assert.equal(bad.status, 'failed');
  assert.equal(bad.exitCode, 3);
  assert.equal(bad.taskId, 'fails');
  assert.ok(existsSync(join(ws.dir, '.runs', 'fails')));
  assert.equal(JSON.parse(readFileSync(bad.manifestPath, 'utf8')).parent_run_id, ok.runId);
});

test('events arrive in order through onEvent and execStreamed', async (t) => {
  const { orch } = perCall(t);
  const { events, result } = orch.execStreamed(['sh', '-c', 'for i in 1 2 3; do echo line$i; sleep 0.05; done']);
  const seen = [];
  for await (const event of events) seen.push(event);
  const r = await result;
  assert.equal(r.status, 'succeeded');
  assert.equal(seen[0].type, 'run:start');
  assert.equal(seen.at(-1).type, 'run:summary');
  const sequences = seen.filter((e) => e.type === 'exec:chunk').map((e) => e.payload.sequence);
  assert.ok(sequences.length >= 1);
  assert.deepEqual(sequences, [...sequences].sort((a, b) => a - b));
});

test('approvals are answered from code: approve runs the command, deny does not', async (t) => {
  const { ws, orch } = perCall(t);
  const asked = [];
  const approve = await orch.exec(['touch', 'approved.txt'], {
    approvalPolicy: 'untrusted', onApproval: async (req) => { asked.push(req); return 'approved'; },
  });
  assert.equal(approve.exitCode, 0);
  assert.ok(existsSync(join(ws.dir, 'approved.txt')));
  assert.deepEqual(asked[0].command, ['touch', 'approved.txt']);
  assert.ok(asked[0].requestId.startsWith('apr_'));
  const deny = await orch.exec(['touch', 'denied.txt'], { approvalPolicy: 'untrusted', onApproval: () => 'denied' });
  assert.equal(deny.status, 'failed');
  assert.equal(deny.exitCode, 77);
  assert.equal(deny.summary.toolRun.approvalSource, 'prompt');
  assert.ok(!existsSync(join(ws.dir, 'denied.txt')));
});

test('without a handler an approval fails closed', async (t) => {
  const { ws, orch } = perCall(t);
  const r = await orch.exec(['touch', 'x.txt'], { approvalPolicy: 'untrusted' });
  assert.equal(r.exitCode, 77);
  assert.ok(!existsSync(join(ws.dir, 'x.txt')));
});

test('abort cancels the run and rejects with AbortError carrying the cancelled result', async (t) => {
  const { orch } = perCall(t);
  const controller = new AbortController();
  const started = Date.now();
  const call = orch.exec(['sleep', '30'], {
    signal: controller.signal, onEvent: (e) => { if (e.type === 'exec:begin') controller.abort(); },
  });
  const error = await call.then(() => null, (e) => e);
  assert.ok(error instanceof AbortError, String(error));
  assert.equal(error.name, 'AbortError');
  assert.equal(error.result?.status, 'cancelled');
  assert.ok(Date.now() - started < 10000);
  await assert.rejects(orch.exec(['true'], { signal: AbortSignal.abort() }), AbortError);
});

test('a bad option is a UsageError; a missing CLI is a CliNotFoundError', async (t) => {
  const { orch, ws } = perCall(t);
  await assert.rejects(orch.exec(['true'], { sandbox: 'nope' }), UsageError);
  await assert.rejects(orch.exec([]), UsageError);
  await assert.rejects(orch.openSession(), UsageError);
  const missing = new Orchestrator({ cliPath: join(ws.root, 'no-such-cli'), spawnPerCall: true });
  await assert.rejects(missing.exec(['true']), CliNotFoundError);
});

test('outputSchema validates stdout into structuredOutput', async (t) => {
  const { orch } = perCall(t);
  const schema = { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] };
  const r = await orch.exec(['echo', '{"n": 4}'], { outputSchema: schema });
  assert.equal(r.exitCode, 0);
  assert.deepEqual(r.structuredOutput, { n: 4 });
  const bad = await orch.exec(['echo', '{"n": "four"}'], { outputSchema: schema });
  assert.equal(bad.exitCode, 65);
});

test('start, status and resume run through the CLI commands', async (t) => {
  const { ws, orch } = perCall(t);
  writeFileSync(join(ws.dir, 'codex.orchestrator.json'), JSON.stringify({
    pipelines: [{ id: 'ci', title: 'CI', stages: [
      { kind: 'command', id: 'check', title: 'check', command: 'test -f ok' },
    ] }], defaultPipeline: 'ci',
  }));
  const failed = await orch.start('ci', { task: 'pipe' });
  assert.equal(failed.status, 'failed');
  const view = await orch.status(failed.runId, { task: 'pipe' });
  assert.equal(view.status, 'failed');
  writeFileSync(join(ws.dir, 'ok'), '');
  const token = readFileSync(join(dirname(failed.manifestPath), '.resume-token'), 'utf8').trim();
  const resumed = await orch.resume(failed.runId, { task: 'pipe', token });
  assert.equal(resumed.status, 'succeeded');
});

test('an onEvent callback that throws stops the per-call process and rejects with its error', async (t) => {
  const { orch } = perCall(t);
  const boom = new Error('listener failed');
  const started = Date.now();
  const error = await orch.exec(['sleep', '30'], {
    onEvent: (e) => { if (e.type === 'exec:begin') throw boom; },
  }).then(() => null, (e) => e);
  assert.equal(error, boom);
  assert.ok(Date.now() - started < 10000);
});
