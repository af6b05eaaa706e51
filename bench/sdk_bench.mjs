// Driven by bench/bench_sdk.py: times SDK calls on one warm server, the reference SDK's
// ExecClient.run (a process per call), and the server's RSS over many calls. Prints one JSON object.
//
//   node bench/sdk_bench.mjs '{"sdk": ".../dist/index.js", "cli": "...", "cwd": "...", ...}'

import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const cfg = JSON.parse(process.argv[2]);
const { Orchestrator } = await import(pathToFileURL(cfg.sdk).href);
const now = () => performance.now();

async function timeEach(n, fn) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const start = now();
    await fn(i);
    out.push(now() - start);
  }
  return out;
}

function rssKiB(pid) {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) : null;
}

/** Where the time of each call went, as the server saw it: the run (run:start to run:summary) and the command. */
const parts = {};
function check(result, what, key) {
  if (result.exitCode !== 0) throw new Error(`${what}: exit code ${result.exitCode} (${result.statusDetail})`);
  if (key) {
    parts[key] ??= { run: [], command: [] };
    parts[key].run.push(result.summary.metrics.latencyMs);
    parts[key].command.push(result.summary.toolRun?.durationMs ?? 0);
  }
}

const out = {};
const bare = promisify(execFile);
out.bareSpawn = await timeEach(cfg.runs, () => bare('true'));
// How quick the file system is right now, without us: the folders and files a warm call makes (its run
// folder and commands/, events, manifest, log, summary) and the replace of its manifest. After a mass
// deletion nearby (a test suite, this bench's own clean-up) this is several times slower for minutes.
out.fsProbe = await timeEach(cfg.runs, async (i) => {
  const dir = `${cfg.cwd}/.fs-probe/${i}`;
  mkdirSync(`${dir}/commands`, { recursive: true });
  for (const name of ['events.jsonl', 'manifest.json', 'commands/01-exec.log', 'run-summary.json', '.manifest.tmp']) {
    writeFileSync(`${dir}/${name}`, '{}');
  }
  renameSync(`${dir}/.manifest.tmp`, `${dir}/manifest.json`);
});

const orch = new Orchestrator({ cliPath: cfg.cli, cwd: cfg.cwd, env: cfg.env });
for (let i = 0; i < 20; i++) check(await orch.exec(['true'], { sandbox: 'danger-full-access' }), 'warm-up');
out.serverPid = orch.serverPid;
out.rpc = await timeEach(cfg.runs, () => orch.listSessions());
out.execUnsandboxed = await timeEach(cfg.runs, async () =>
  check(await orch.exec(['true'], { sandbox: 'danger-full-access' }), 'unsandboxed', 'execUnsandboxed'));
out.execSandboxed = await timeEach(cfg.runs, async () =>
  check(await orch.exec(['true'], { sandbox: 'workspace-write' }), 'sandboxed', 'execSandboxed'));
const session = await orch.openSession({ sandbox: cfg.sessionSandbox });
for (let i = 0; i < 5; i++) await session.run('true');
out.sessionRun = await timeEach(cfg.runs, async () => check(await session.run('true'), 'session.run', 'sessionRun'));
out.parts = parts;
await session.close();

if (cfg.reference) {
  const { ExecClient } = await import(pathToFileURL(cfg.reference.module).href);
  const client = new ExecClient({ cliPath: cfg.reference.cli, cwd: cfg.cwd, env: cfg.env });
  await client.run({ command: 'true' }).result; // warm the page cache
  out.reference = await timeEach(cfg.referenceRuns, async () => {
    const result = await client.run({ command: 'true' }).result;
    if (result.exitCode !== 0) throw new Error(`reference: exit code ${result.exitCode}`);
  });
}

if (cfg.rssExecs > 0) {
  const rss = new Orchestrator({ cliPath: cfg.cli, cwd: cfg.cwd, env: cfg.env });
  const run = async () => check(await rss.exec(['true'], { sandbox: 'danger-full-access', task: 'rss' }), 'rss');
  for (let i = 0; i < 100; i++) await run();
  const pid = rss.serverPid;
  out.rss = { pid, after100: rssKiB(pid), samples: [] };
  const started = now();
  let lap = now();
  for (let i = 100; i < cfg.rssExecs; i++) {
    await run();
    if ((i + 1) % 1000 === 0) {
      out.rss.samples.push([i + 1, rssKiB(pid), (now() - lap) / (i + 1 === 1000 ? 900 : 1000)]);
      lap = now();
    }
  }
  out.rss.seconds = (now() - started) / 1000;
  out.rss.after = rssKiB(pid);
  out.rss.execs = cfg.rssExecs;
  await rss.close();
}
await orch.close();
console.log(JSON.stringify(out));
