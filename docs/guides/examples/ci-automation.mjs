#!/usr/bin/env node
// Custom CI automation with the Node SDK: run several pipelines at once on one warm orchestrator,
// approve from code only the commands on an allow-list, stream stage results to the log, write a
// Markdown report ($GITHUB_STEP_SUMMARY when set) and exit 1 if any run did not succeed.
//
//   node ci-automation.mjs lint test build
//
// Needs `npm install <path to codex-orchestrator>/sdk/node` and `codex-orchestrator` on PATH.

import { appendFileSync } from 'node:fs';
import { Orchestrator } from 'codex-orchestrator-sdk';

const pipelines = process.argv.slice(2);
if (pipelines.length === 0) {
  console.error('usage: node ci-automation.mjs PIPELINE...');
  process.exit(2);
}

// What may run when the policy asks (here: a command the sandbox refused, to rerun outside it).
const ALLOWED = [/^npm (ci|test)\b/, /^pytest\b/];
const decide = (request) => (ALLOWED.some((rule) => rule.test(request.command.join(' '))) ? 'approved' : 'denied');

const orch = new Orchestrator({ config: { approval_timeout_seconds: 60 } });
const stop = new AbortController(); // the CI cancels the job: cancel the runs, keep their records
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => stop.abort());

const runs = await Promise.all(pipelines.map(async (pipeline) => {
  try {
    const result = await orch.start(pipeline, {
      task: `ci-${pipeline}`,
      approvalPolicy: 'on-failure',
      signal: stop.signal,
      onApproval: decide,
      onEvent: (event) => {
        if (event.type === 'stage:end') {
          const { stageId, status, durationMs } = event.payload;
          console.log(`[${pipeline}] ${stageId}: ${status} (${Math.round(durationMs)} ms)`);
        }
      },
    });
    return { pipeline, status: result.status, exitCode: result.exitCode, manifest: result.manifestPath };
  } catch (error) {
    return { pipeline, status: error.name, exitCode: error.exitCode ?? null, manifest: error.message };
  }
}));
await orch.close();

const report = [
  '| pipeline | status | exit code | manifest |',
  '|---|---|---|---|',
  ...runs.map((r) => `| ${r.pipeline} | ${r.status} | ${r.exitCode ?? ''} | ${r.manifest} |`),
].join('\n');
console.log(report);
if (process.env.GITHUB_STEP_SUMMARY) appendFileSync(process.env.GITHUB_STEP_SUMMARY, `${report}\n`);
process.exitCode = runs.every((r) => r.status === 'succeeded') ? 0 : 1;
