// Many calls in flight on one server: all complete, all recorded, the metrics exact.

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { Orchestrator } from '../dist/index.js';
import { CLI, workspace } from './helpers.mjs';

test('50 concurrent exec calls on one server', async (t) => {
  const ws = workspace(t);
  const orch = ws.orchestrator();
  await orch.exec(['true'], { task: 'warm' });
  const pid = orch.serverPid;
  const results = await Promise.all(Array.from({ length: 50 }, (_, i) =>
    orch.exec(['sh', '-c', `echo call-${i}; exit $((${i} % 3))`], { task: 'many' })));
  assert.equal(orch.serverPid, pid, 'one server for all of them');
  assert.equal(new Set(results.map((r) => r.runId)).size, 50);
  results.forEach((r, i) => {
    assert.equal(r.exitCode, i % 3, `call ${i}`);
    assert.equal(r.status, i % 3 === 0 ? 'succeeded' : 'failed');
    assert.equal(r.summary.outputs.stdoutTail, `call-${i}\n`, 'each call gets its own output');
    assert.ok(existsSync(r.manifestPath), r.manifestPath);
    const manifest = JSON.parse(readFileSync(r.manifestPath, 'utf8'));
    assert.equal(manifest.status, r.status);
    assert.ok(existsSync(join(r.summary.run.artifactRoot, 'events.jsonl')));
  });
  // The server rewrites the task's shared files for the calls that ended in the last moment at once
  // (docs/serve.md): closing it waits for them.
  await orch.close();
  const metrics = JSON.parse(readFileSync(join(ws.dir, '.runs', 'many', 'metrics.json'), 'utf8'));
  assert.equal(metrics.runs.length, 50);
  assert.deepEqual(new Set(metrics.runs.map((r) => r.run_id)), new Set(results.map((r) => r.runId)));
  assert.equal(metrics.totals.runs, 50);
  assert.equal(metrics.totals.succeeded, results.filter((r) => r.status === 'succeeded').length);
  assert.equal(metrics.totals.failed, results.filter((r) => r.status === 'failed').length);
  assert.equal(metrics.totals.tool_runs, 50);
});
