// The examples in the docs run: docs/sdk.md's example block, and the CI guide's automation script,
// each as a user would run them (the package imported by name, `codex-orchestrator` on PATH).

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';

import { CLI, REPO, SDK_DIR, workspace } from './helpers.mjs';

const run = promisify(execFile);

/** The first code block after the `<!-- runnable: ... -->` marker. */
function runnableBlock(markdown) {
  const match = /<!-- runnable:[^>]*-->\s*```(?:js|javascript)\n([\s\S]*?)```/.exec(markdown);
  assert.ok(match, 'docs/sdk.md has a runnable example block');
  return match[1];
}

/** A scratch project where `import 'codex-orchestrator-sdk'` resolves to this package, as after npm install. */
function project(t) {
  const ws = workspace(t);
  mkdirSync(join(ws.dir, 'node_modules'));
  symlinkSync(SDK_DIR, join(ws.dir, 'node_modules', 'codex-orchestrator-sdk'), 'dir');
  const env = { ...process.env, ...ws.env, PATH: `${dirname(CLI)}:${process.env.PATH}` };
  delete env.CI;
  return { ...ws, env };
}

test('the example in docs/sdk.md runs and prints what its comments say', async (t) => {
  const ws = project(t);
  const file = join(ws.dir, 'example.mjs');
  writeFileSync(file, runnableBlock(readFileSync(join(REPO, 'docs', 'sdk.md'), 'utf8')));
  const { stdout } = await run(process.execPath, [file], { cwd: ws.dir, env: ws.env, timeout: 60000 });
  const lines = stdout.split('\n');
  assert.ok(lines.includes('failed 3 hello'), stdout);
  assert.ok(lines.includes('touch exit 0'), stdout);
  assert.ok(lines.includes('tick 3'), stdout);
  assert.ok(lines.includes('streamed succeeded'), stdout);
  assert.ok(lines.includes('session web test'), stdout);
  assert.ok(lines.includes('AbortError cancelled'), stdout);
  assert.ok(existsSync(join(ws.dir, 'built.txt')));
  assert.ok(existsSync(join(ws.dir, '.runs')), 'runs are recorded in the project');
});

test('the CI guide\'s automation script runs pipelines at once and fails when one fails', async (t) => {
  const ws = project(t);
  copyFileSync(join(REPO, 'docs', 'guides', 'examples', 'ci-automation.mjs'), join(ws.dir, 'ci-automation.mjs'));
  writeFileSync(join(ws.dir, 'codex.orchestrator.json'), JSON.stringify({
    pipelines: [
      { id: 'lint', title: 'lint', stages: [{ kind: 'command', id: 'style', title: 'style', command: 'true' }] },
      { id: 'test', title: 'test', stages: [
        { kind: 'command', id: 'unit', title: 'unit', command: 'echo ok' },
        { kind: 'command', id: 'broken', title: 'broken', command: 'exit 5' },
      ] },
    ],
    defaultPipeline: 'lint',
  }));
  const summary = join(ws.root, 'step-summary.md');
  const env = { ...ws.env, GITHUB_STEP_SUMMARY: summary };
  const failed = await run(process.execPath, ['ci-automation.mjs', 'lint', 'test'], { cwd: ws.dir, env, timeout: 60000 })
    .then(() => null, (error) => error);
  assert.ok(failed, 'exit code 1 when a pipeline fails');
  assert.equal(failed.code, 1, failed.stderr);
  assert.match(failed.stdout, /\[lint\] style: succeeded/);
  assert.match(failed.stdout, /\[test\] broken: failed/);
  const report = readFileSync(summary, 'utf8');
  assert.match(report, /\| lint \| succeeded \| 0 \|/);
  assert.match(report, /\| test \| failed \| 5 \|/);
  const passed = await run(process.execPath, ['ci-automation.mjs', 'lint'], { cwd: ws.dir, env, timeout: 60000 });
  assert.match(passed.stdout, /\| lint \| succeeded/);
  const usage = await run(process.execPath, ['ci-automation.mjs'], { cwd: ws.dir, env }).then(() => null, (e) => e);
  assert.equal(usage.code, 2);
});
