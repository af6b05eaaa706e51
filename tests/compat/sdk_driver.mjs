// Drives the reference orchestrator's own Node SDK (ExecClient from @kbediako/codex-orchestrator 0.2.1)
// against our CLI, and prints what it saw as one JSON object. Run by test_reference_sdk.py:
//   node sdk_driver.mjs SDK_MODULE_PATH CLI_PATH REPO_DIR
import { pathToFileURL } from 'node:url';
import { readFileSync } from 'node:fs';

const [sdkPath, cliPath, repoDir] = process.argv.slice(2);
const { ExecClient } = await import(pathToFileURL(sdkPath).href);

function brief(result) {
  const types = result.events.map((event) => event.type);
  const chunks = result.events.filter((event) => event.type === 'exec:chunk')
    .map((event) => Buffer.from(event.payload.data ?? '', event.payload.encoding === 'base64' ? 'base64' : 'utf8').toString());
  return {
    status: result.status,
    exitCode: result.exitCode,
    manifestPath: result.manifestPath,
    manifest: JSON.parse(readFileSync(result.manifestPath, 'utf8')),
    runId: result.summary.payload.run.id,
    taskId: result.summary.payload.run.taskId,
    types,
    output: chunks.join(''),
    stdoutTail: result.summary.payload.outputs.stdoutTail,
  };
}

async function settle(handle) {
  try {
    return { ok: brief(await handle.result) };
  } catch (error) {
    return { error: String(error?.message ?? error), exitCode: error?.exitCode ?? null };
  }
}

const client = new ExecClient({ cliPath, cwd: repoDir, env: { SDK_MARK: 'from-the-sdk' } });
const out = {};

out.echo = await settle(client.run({ command: 'echo', args: ['hi'], taskId: 'sdk-task' }));
out.env = await settle(client.run({
  command: 'sh', args: ['-c', 'echo "$SDK_MARK $MCP_RUNNER_TASK_ID $CODEX_ORCHESTRATOR_RUN_ID $(pwd)"'],
  taskId: 'sdk-env', cwd: 'sub',
}));

const failing = client.run({ command: 'sh', args: ['-c', 'echo failing >&2; exit 3'] });
out.fail = await settle(failing);
out.retrySame = await settle(failing.retry());
out.retryFixed = await settle(failing.retry({ args: ['-c', 'echo fixed; exit 0'] }));

const slow = client.run({ command: 'sh', args: ['-c', 'echo started; exec sleep 29.7'], taskId: 'sdk-cancel' });
const events = [];
slow.on('event', (event) => {
  events.push(event.type);
  if (event.type === 'exec:chunk') slow.cancel();
});
const began = Date.now();
out.cancel = await settle(slow);
out.cancel.seconds = (Date.now() - began) / 1000;
out.cancel.seen = events;

process.stdout.write(JSON.stringify(out) + '\n');
