// Shared by the tests: the real CLI of this checkout, and a scratch workspace per test so that no
// run leaves .runs/ in the repository and no approval reaches the user's own store.

import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Orchestrator } from '../dist/index.js';

export const SDK_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const REPO = resolve(SDK_DIR, '..', '..');
/** The CLI under test: $CODEX_ORCHESTRATOR_CLI, else the repo's .venv (scripts/setup.sh). */
export const CLI = process.env.CODEX_ORCHESTRATOR_CLI ?? join(REPO, '.venv', 'bin', 'codex-orchestrator');

/**
 * A fresh project folder (with a .git so it is its own repo root) and private homes. Removed after the
 * test. `env` is what the CLI should run with: `ws.orchestrator(options)` makes an Orchestrator with it.
 */
export function workspace(t) {
  const root = mkdtempSync(join(tmpdir(), 'co-sdk-test-'));
  const dir = join(root, 'project');
  mkdirSync(join(dir, '.git'), { recursive: true });
  const env = {
    HOME: join(root, 'home'),
    CODEX_HOME: join(root, 'codex-home'),
    CODEX_ORCHESTRATOR_HOME: join(root, 'orch-home'),
    CI: undefined, // the CLI's output defaults differ under CI; the SDK must not depend on them
    MCP_RUNNER_TASK_ID: undefined,
  };
  for (const name of ['HOME', 'CODEX_HOME', 'CODEX_ORCHESTRATOR_HOME']) mkdirSync(env[name], { recursive: true });
  const opened = [];
  // One hook, in this order: `t.after` hooks run in the order they were added, so an Orchestrator closed by
  // a hook of its own would still be writing its run files while this one removes the folder.
  t.after(async () => {
    await Promise.all(opened.map((orch) => orch.close()));
    rmSync(root, { recursive: true, force: true });
  });
  /** An Orchestrator on this workspace, closed (its server gone) before the workspace is removed. */
  const orchestrator = (options = {}) => {
    const orch = new Orchestrator({ cliPath: CLI, cwd: dir, env, ...options });
    opened.push(orch);
    return orch;
  };
  return { root, dir, env, orchestrator };
}

/** Resolves after `ms`. */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Poll `check` until it returns a truthy value (or fail after `ms`). */
export async function eventually(check, ms = 10000, what = 'condition') {
  const end = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}
