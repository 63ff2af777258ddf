// npm run bench:restart — how long a restarted worker takes to its first commit, and where the
// time goes, with a store of --records records (default 10,000) in its changelog. Cold start (an
// application id never seen) is the reference measured in the same run. Prints; never fails on
// time; the last line is JSON.
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { bootstrap, root } from '../broker.js';
import { benchArgs, numberArg } from '../args.js';

const cli = join(root, 'dist', 'src', 'cli', 'main.js');
const USAGE = `
npm run bench:restart [-- --records N]

Time from a restarted worker's start to its first commit, with a store of --records records
(default 10,000) in its changelog, beside a cold start measured in the same run. Needs a broker
($D4_KAFKA_BROKERS, else the project's). Prints, never fails on time; the last line is JSON.`;
const RECORDS = numberArg(USAGE, 'records', benchArgs(USAGE, { records: { type: 'string', default: '10000' } }).records, { min: 1, integer: true });


const docs = (n: number, from: number) => Array.from({ length: n }, (_, i) => JSON.stringify({ id: `doc-${from + i}`, text: `document ${from + i}: ${'lorem ipsum dolor sit amet '.repeat(3)}${from + i}` })).join('\n') + '\n';

/** Runs a worker until its first commit; the phases are read from its log's timestamps. */
function firstCommit(yaml: string, env: NodeJS.ProcessEnv, stopAfter: boolean): Promise<{ total: number; phases: Record<string, number> }> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [cli, 'run', yaml, '--verbose', '--window', '1024', '--linger-ms', '200', ...(stopAfter ? [] : ['--until-idle', '3000'])], { cwd: root, env });
    let err = '';
    const marks: Record<string, number> = {};
    const at = (line: string) => Date.parse(/\[d4\] (\S+)/.exec(line)?.[1] ?? '') - t0;
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      for (const line of d.toString().split('\n')) {
        if (/running topology/.test(line)) marks['process start to first log (node, modules, hasher)'] ??= at(line);
        else if (/rebalance: this worker runs/.test(line)) marks['group join'] ??= at(line);
        else if (/: set up/.test(line)) marks['task set-up (producers fence, changelog restore)'] ??= at(line);
        else if (/committed offsets/.test(line) && marks['first commit'] === undefined) {
          marks['first commit'] = at(line);
          if (stopAfter) child.kill('SIGTERM');
        }
      }
    });
    child.on('close', (code) => {
      if (marks['first commit'] === undefined) return reject(new Error(`no commit (exit ${code}): ${err.slice(-2000)}`));
      const order = Object.entries(marks).sort((a, b) => a[1] - b[1]);
      const phases: Record<string, number> = {};
      let prev = 0;
      for (const [k, v] of order) { phases[k] = (v - prev) / 1000; prev = v; }
      resolve({ total: marks['first commit'] / 1000, phases });
    });
  });
}

async function main() {
  const b = bootstrap();
  const env = { ...process.env, D4_KAFKA_BROKERS: b };
  const ns = `bench-restart-${randomUUID().slice(0, 8)}`;
  const dir = mkdtempSync(join(tmpdir(), 'd4-bench-restart-'));
  const yaml = join(dir, 'exact.yaml');
  writeFileSync(yaml, `name: ${ns}\napplication_id: ${ns}\nsource: { topic: ${ns}.crawl, format: json, partitions: 1 }\nstages:\n  - { id: exact, type: exact }\nsinks:\n  decisions: { topic: ${ns}.decisions }\n  kept: { topic: ${ns}.curated }\n  dead_letter: { topic: ${ns}.dlq }\n`);
  const produce = (text: string) => {
    const f = join(dir, `${randomUUID()}.jsonl`);
    writeFileSync(f, text);
    const r = spawnSync(process.execPath, [cli, 'produce', f, '--topic', `${ns}.crawl`, '--format', 'json', '--partitions', '1', '--batch-size', '1000'], { cwd: root, env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
  };
  console.log(`restart benchmark — Node ${process.version}, ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), broker ${b}; exact topology, one partition`);
  produce(docs(RECORDS, 0));
  const cold = await firstCommit(yaml, env, false); // decides all RECORDS: the exact store now holds them
  console.log(`cold start (new application id, empty store): first commit after ${cold.total.toFixed(2)} s`);
  for (const [k, v] of Object.entries(cold.phases)) console.log(`  ${k.padEnd(52)} ${v.toFixed(2)} s`);
  produce(docs(100, RECORDS));
  const warm = await firstCommit(yaml, env, true);
  console.log(`restart (store of ${RECORDS} records in its changelog): first commit after ${warm.total.toFixed(2)} s (goal ≤ 3 s); ${(warm.total / cold.total).toFixed(2)}× the cold start`);
  for (const [k, v] of Object.entries(warm.phases)) console.log(`  ${k.padEnd(52)} ${v.toFixed(2)} s`);
  console.log(JSON.stringify({ records: RECORDS, cold_start_s: Number(cold.total.toFixed(2)), restart_to_first_commit_s: Number(warm.total.toFixed(2)), restart_vs_cold: Number((warm.total / cold.total).toFixed(2)), phases_s: warm.phases }));
}

await main();
process.exit(0);
