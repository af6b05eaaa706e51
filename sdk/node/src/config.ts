// `config` settings become the CLI's CODEX_ORCHESTRATOR_* variables: the environment layer of the
// configuration (docs/configuration.md), which sits above the repo config and Codex's config.toml and
// below the per-call options. tests/config.test.mjs checks this table against `config show`.

import { UsageError } from './errors.js';
import type { ConfigKey, ConfigOverrides } from './types.js';

export const CONFIG_ENV: Readonly<Record<ConfigKey, string>> = {
  approval_policy: 'CODEX_ORCHESTRATOR_APPROVAL_POLICY',
  sandbox_mode: 'CODEX_ORCHESTRATOR_SANDBOX_MODE',
  'sandbox_workspace_write.writable_roots': 'CODEX_ORCHESTRATOR_WRITABLE_ROOTS',
  'sandbox_workspace_write.network_access': 'CODEX_ORCHESTRATOR_NETWORK_ACCESS',
  sandbox_backend: 'CODEX_ORCHESTRATOR_SANDBOX_BACKEND',
  approval_timeout_seconds: 'CODEX_ORCHESTRATOR_APPROVAL_TIMEOUT',
  'retry.max_attempts': 'CODEX_ORCHESTRATOR_RETRY_MAX_ATTEMPTS',
  'retry.backoff_ms': 'CODEX_ORCHESTRATOR_RETRY_BACKOFF_MS',
  heartbeat_interval_seconds: 'CODEX_ORCHESTRATOR_HEARTBEAT_INTERVAL',
  output_limit_bytes: 'CODEX_ORCHESTRATOR_OUTPUT_LIMIT_BYTES',
  on_output_limit: 'CODEX_ORCHESTRATOR_ON_OUTPUT_LIMIT',
  default_task: 'CODEX_ORCHESTRATOR_TASK',
  notify: 'CODEX_ORCHESTRATOR_NOTIFY',
  project_doc_max_bytes: 'CODEX_ORCHESTRATOR_PROJECT_DOC_MAX_BYTES',
};

/** The environment the CLI runs with: the caller's, then `env`, then `config` as variables. */
export function cliEnvironment(env: Record<string, string | undefined> | undefined,
  config: ConfigOverrides | undefined): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...process.env };
  for (const [name, value] of Object.entries(env ?? {})) {
    if (value === undefined) delete out[name];
    else out[name] = value;
  }
  for (const [key, value] of Object.entries(config ?? {})) {
    const name = CONFIG_ENV[key as ConfigKey];
    if (name === undefined) {
      throw new UsageError(`config: unknown or not settable key ${JSON.stringify(key)}; `
        + `settable keys: ${Object.keys(CONFIG_ENV).join(', ')}`);
    }
    if (value === undefined) continue;
    out[name] = Array.isArray(value) ? JSON.stringify(value) : String(value);
  }
  return out;
}
