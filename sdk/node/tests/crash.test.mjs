// A server that dies: calls in flight reject with ServerExitedError, the next call starts a new one.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Orchestrator, ServerExitedError } from '../dist/index.js';
import { CLI, eventually, workspace } from './helpers.mjs';

test('kill -9 of the server: pending calls reject typed, the next call respawns', async (t) => {
  const ws = workspace(t);
  const orch = ws.orchestrator();
  await orch.exec(['true']);
  const pid = orch.serverPid;
  const session = await orch.openSession();
  let begun = 0;
  const onEvent = (e) => { if (e.type === 'exec:begin') begun++; };
  const pending = [1, 2, 3].map(() => orch.exec(['sleep', '30'], { onEvent }).then(() => null, (e) => e));
  await eventually(() => begun === 3, 10000, 'the three commands to start');
  process.kill(pid, 'SIGKILL');
  const errors = await Promise.all(pending);
  for (const error of errors) {
    assert.ok(error instanceof ServerExitedError, String(error));
    assert.equal(error.signal, 'SIGKILL');
  }
  await assert.rejects(session.run('true'), ServerExitedError, 'a session dies with its server');
  const again = await orch.exec(['echo', 'back']);
  assert.equal(again.exitCode, 0);
  assert.notEqual(orch.serverPid, pid);
  assert.equal(again.summary.outputs.stdoutTail, 'back\n');
});

test('a server that exits on its own (shutdown by another client) is also respawned', async (t) => {
  const ws = workspace(t);
  const orch = ws.orchestrator();
  await orch.exec(['true']);
  const pid = orch.serverPid;
  process.kill(pid, 'SIGTERM');
  await eventually(() => orch.serverPid === null, 10000, 'the server to be gone');
  assert.equal((await orch.exec(['true'])).exitCode, 0);
  assert.notEqual(orch.serverPid, pid);
});
