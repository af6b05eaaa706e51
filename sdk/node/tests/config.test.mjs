// CONFIG_ENV must name the variables the CLI really reads: `config show` says where each value came from.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';

import { CONFIG_ENV } from '../dist/index.js';
import { cliEnvironment } from '../dist/config.js';
import { CLI, workspace } from './helpers.mjs';

const SAMPLES = {
  approval_policy: 'never',
  sandbox_mode: 'read-only',
  'sandbox_workspace_write.writable_roots': ['/tmp/a'],
  'sandbox_workspace_write.network_access': true,
  sandbox_backend: 'builtin',
  approval_timeout_seconds: 7,
  'retry.max_attempts': 2,
  'retry.backoff_ms': 10,
  heartbeat_interval_seconds: 2,
  output_limit_bytes: 1000,
  on_output_limit: 'kill',
  default_task: 'cfg',
  notify: ['true'],
  project_doc_max_bytes: 100,
};

test('every config key maps to the variable the CLI reads', (t) => {
  const ws = workspace(t);
  assert.deepEqual(Object.keys(SAMPLES).sort(), Object.keys(CONFIG_ENV).sort());
  const env = cliEnvironment(ws.env, SAMPLES);
  const shown = JSON.parse(execFileSync(CLI, ['config', 'show', '--format', 'json'], { cwd: ws.dir, env, encoding: 'utf8' }));
  const byKey = Object.fromEntries(shown.settings.map((s) => [s.key, s]));
  for (const [key, value] of Object.entries(SAMPLES)) {
    assert.equal(byKey[key]?.source, `env:${CONFIG_ENV[key]}`, key);
    assert.deepEqual(byKey[key].value, value, key);
  }
});
