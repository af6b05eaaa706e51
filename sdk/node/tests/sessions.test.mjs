// PTY sessions live as long as the server: state persists across run() calls.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { AbortError, Orchestrator, ServerExitedError, UsageError } from '../dist/index.js';
import { CLI, eventually, workspace } from './helpers.mjs';

function server(t) {
  const ws = workspace(t);
  const orch = ws.orchestrator();
  return { ws, orch };
}

const output = (r) => r.summary.outputs.stdoutTail;

test('cd and variables persist across run() calls', async (t) => {
  const { ws, orch } = server(t);
  mkdirSync(join(ws.dir, 'web'));
  const s = await orch.openSession();
  assert.ok(s.id);
  const first = await s.run('cd web && export GREETING=hello');
  assert.equal(first.exitCode, 0);
  const second = await s.run('pwd; echo "$GREETING"');
  assert.equal(second.exitCode, 0);
  assert.match(output(second), /\/web\r?\n/);
  assert.match(output(second), /hello/);
  const failed = await s.run('false');
  assert.equal(failed.exitCode, 1);
  assert.equal(failed.status, 'failed');
  const listed = await orch.listSessions();
  const info = listed.find((entry) => entry.sessionId === s.id);
  assert.equal(info.started, true);
  assert.equal(info.running, false);
  assert.equal(await s.close(), true);
  assert.ok(!(await orch.listSessions()).some((info) => info.sessionId === s.id));
});

test('two sessions are independent', async (t) => {
  const { orch } = server(t);
  const a = await orch.openSession();
  const b = await orch.openSession();
  await a.run('export WHO=a');
  await b.run('export WHO=b');
  assert.match(output(await a.run('echo "who=$WHO"')), /who=a/);
  assert.match(output(await b.run('echo "who=$WHO"')), /who=b/);
});

test('write answers a command that waits for input; poll reads a session', async (t) => {
  const { orch } = server(t);
  const s = await orch.openSession();
  let begun = false;
  const waiting = s.run('read -r NAME; echo "got $NAME"', { onEvent: (e) => { if (e.type === 'exec:begin') begun = true; } });
  await eventually(() => begun, 10000, 'the command to start');
  // exec:begin can precede the moment the session counts the command as running: retry until it does.
  await eventually(() => s.write('world\n').then(() => true, (e) => {
    if (!/no running command/.test(e.message)) throw e;
    return false;
  }), 10000, 'the session to take input');
  const answered = await waiting;
  assert.equal(answered.exitCode, 0);
  assert.match(output(answered), /got world/);
  const idle = await s.poll();
  assert.equal(idle.running, false);
  assert.match(idle.output, /got world/, 'poll returns the output since the previous poll');
  assert.doesNotMatch((await s.poll()).output, /got world/);
  await assert.rejects(s.write('nobody reads this\n'), UsageError, 'nothing runs: nothing to type into');
});

test('abort stops a session command; the session stays usable', async (t) => {
  const { orch } = server(t);
  const s = await orch.openSession();
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 300);
  await assert.rejects(s.run('sleep 30', { signal: controller.signal }), AbortError);
  assert.match(output(await s.run('echo still-here')), /still-here/);
});

test('a session opened read-only cannot write; each run is recorded', async (t) => {
  const { ws, orch } = server(t);
  const s = await orch.openSession({ sandbox: 'read-only' });
  const refused = await s.run('echo x > inside.txt');
  assert.notEqual(refused.exitCode, 0);
  const { existsSync } = await import('node:fs');
  assert.ok(!existsSync(join(ws.dir, 'inside.txt')));
  assert.ok(existsSync(refused.manifestPath));
  await orch.close();
  await assert.rejects(s.run('true'), ServerExitedError);
});
