// npm run bench:scale — the dedup topology (exact → near) on Kafka with 1, 2 and 3 worker
// processes on a 6-partition crawl topic, the cost of the distributed topology in one worker
// against the same worker on a 1-partition topic (nothing cut: one task runs both stages, the
// single-process path), and the near index sub-topology's own rate. Prints; never fails on time;
// the last line is JSON. Options: --copies N (the corpus N times, fresh ids; default 3).
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { bootstrap, root } from '../broker.js';
import '../../src/io/kafka/kafkajs-fix.js';
import kafkajs from 'kafkajs';
import { createHasher } from '../../src/stages/text/hash.js';
import { buildStages, resolveStageOptions } from '../../src/topology/topology.js';
import { nearStage } from '../../src/stages/near/near.js';
import { composePipeline } from '../../src/topology/pipeline.js';
import { origin, type DocItem } from '../../src/records/item.js';
import { benchArgs, numberArg } from '../args.js';

const cli = join(root, 'dist', 'src', 'cli', 'main.js');
const shared = join(root, '..', 'shared', 'data');
const USAGE = `
npm run bench:scale [-- --copies N]

The dedup topology (exact -> near) on Kafka with 1, 2 and 3 worker processes on a 6-partition crawl
topic, the distributed topology's cost in one worker, and the near index sub-topology's rate, on the
corpus --copies times (fresh ids; default 3). Needs a broker ($D4_KAFKA_BROKERS, else the project's).
Prints, never fails on time; the last line is JSON.`;
const COPIES = numberArg(USAGE, 'copies', benchArgs(USAGE, { copies: { type: 'string', default: '3' } }).copies, { min: 1, integer: true });


type Doc = { id: string; text: string };
function corpus(): Doc[] {
  const docs: Doc[] = [];
  for (const f of ['bbc-news-2225.jsonl', 'web/c4-en-1k.jsonl', 'web/cc-wet-697.jsonl', 'web/fineweb-300.jsonl', 'plagiarism-clough-100.jsonl']) {
    for (const line of readFileSync(join(shared, f), 'utf8').split('\n')) {
      if (!line.trim()) continue;
      const d = JSON.parse(line) as Doc;
      if (d.text?.trim()) docs.push({ id: `${f}:${d.id}`, text: d.text });
    }
  }
  // Copies with fresh ids: each copy is an exact duplicate of the first, as re-crawled pages are.
  return Array.from({ length: COPIES }, (_, c) => docs.map((d) => ({ ...d, id: `${c}:${d.id}` }))).flat();
}

const d4 = (args: string[], env: NodeJS.ProcessEnv) => new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
  const child = spawn(process.execPath, [cli, ...args], { cwd: root, env });
  let stdout = ''; let stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  child.on('close', (code) => resolve({ code, stdout, stderr }));
});

/** Latest commit time of a topic's records (the transaction's timestamps), and how many there are. */
async function lastRecordTime(b: string, topic: string, expected: number): Promise<number> {
  const kafka = new kafkajs.Kafka({ brokers: b.split(','), logLevel: kafkajs.logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `bench-${randomUUID()}` });
  let n = 0; let last = 0;
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await new Promise<void>((resolve) => {
    void consumer.run({ eachMessage: async ({ message }) => { n++; last = Math.max(last, Number(message.timestamp)); if (n >= expected) resolve(); } });
  });
  await consumer.disconnect();
  return last;
}

async function run(b: string, input: string, docs: number, partitions: number, workers: number): Promise<{ seconds: number; docsPerS: number }> {
  const ns = `bench-scale-${randomUUID().slice(0, 8)}`;
  const dir = mkdtempSync(join(tmpdir(), 'd4-bench-scale-'));
  const yaml = join(dir, 'dedup.yaml');
  writeFileSync(yaml, `name: ${ns}\napplication_id: ${ns}\nsource: { topic: ${ns}.crawl, format: avro, partitions: ${partitions} }
stages:\n  - { id: exact, type: exact }\n  - { id: near, type: near }
sinks:\n  decisions: { topic: ${ns}.decisions }\n  kept: { topic: ${ns}.curated }\n  dead_letter: { topic: ${ns}.dlq }\n`);
  const env = { ...process.env, D4_KAFKA_BROKERS: b };
  const p = await d4(['produce', input, '--topic', `${ns}.crawl`, '--partitions', String(partitions), '--batch-size', '500'], env);
  if (p.code !== 0) throw new Error(p.stderr);
  const t0 = Date.now();
  const results = await Promise.all(Array.from({ length: workers }, () => d4(['run', yaml, '--window', '256', '--linger-ms', '500', '--until-idle', '5000', '--json'], env)));
  for (const r of results) if (r.code !== 0) throw new Error(r.stderr.slice(-3000));
  const decided = results.reduce((n, r) => n + (JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { in: number }).in, 0);
  if (decided !== docs) throw new Error(`${decided} decisions for ${docs} documents`);
  const seconds = ((await lastRecordTime(b, `${ns}.decisions`, docs)) - t0) / 1000;
  return { seconds, docsPerS: docs / seconds };
}

/**
 * The near index sub-topology's own work, in memory: documents arrive signed (the upstream exact
 * tasks shingle and sign them, `nearSigner`), the one index task looks up candidates, verifies
 * and inserts. Also reported: the signing rate of one upstream task.
 */
async function nearIndexRate(docs: Doc[]): Promise<{ index: number; sign: number }> {
  const hasher = await createHasher();
  const spec = { id: 'near', type: 'near', options: { capacity: docs.length } };
  const pipeline = composePipeline(await buildStages([spec], { hasher }), hasher);
  const sign = nearStage.upstream!(resolveStageOptions(spec, 'near') as never)!;
  const items: DocItem[] = docs.map((d, i) => ({ kind: 'doc', seq: i, origin: origin({}), doc: { id: d.id, url: null, fetched_at: null, content_type: null, language: null, text: d.text, metadata: {} } }));
  const t0 = performance.now();
  const signed = items.map(sign);
  const signSeconds = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  for (let i = 0; i < signed.length; i += 1024) await pipeline.process(signed.slice(i, i + 1024));
  return { index: docs.length / ((performance.now() - t1) / 1000), sign: docs.length / signSeconds };
}

async function main() {
  const b = bootstrap();
  const docs = corpus();
  const input = join(mkdtempSync(join(tmpdir(), 'd4-bench-scale-in-')), 'crawl.jsonl');
  writeFileSync(input, docs.map((d) => JSON.stringify(d)).join('\n') + '\n');
  console.log(`scale benchmark — Node ${process.version}, ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), broker ${b}`);
  console.log(`corpus: the shared corpora × ${COPIES} = ${docs.length} documents; dedup topology (exact → near), windows of 256, linger 500 ms`);
  console.log('time = from starting the workers to the commit of the last decision (start-up, group joins and restores included)');
  const single = await run(b, input, docs.length, 1, 1);
  console.log(`1 partition, 1 worker (nothing cut, one task): ${single.seconds.toFixed(1)} s = ${single.docsPerS.toFixed(0)} docs/s`);
  const w: Record<number, { seconds: number; docsPerS: number }> = {};
  for (const n of [1, 2, 3]) {
    w[n] = await run(b, input, docs.length, 6, n);
    console.log(`6 partitions, ${n} worker(s): ${w[n]!.seconds.toFixed(1)} s = ${w[n]!.docsPerS.toFixed(0)} docs/s (${(w[n]!.docsPerS / w[1]!.docsPerS).toFixed(2)}× one worker)`);
  }
  const overhead = w[1]!.seconds / single.seconds;
  console.log(`distributed topology in one worker vs the single-task path: ${overhead.toFixed(2)}× the time per document (goal ≤ 1.3×)`);
  const near = await nearIndexRate(docs);
  console.log(`near index sub-topology (one task, signed documents in, in memory): ${near.index.toFixed(0)} docs/s (goal ≥ 100,000); signing in one upstream task: ${near.sign.toFixed(0)} docs/s`);
  console.log(`this machine has ${cpus().length} cores: a third worker process shares them with the broker and the other two, so more workers than cores cannot add speed here`);
  console.log(JSON.stringify({
    docs: docs.length, workers_1_docs_per_s: Math.round(w[1]!.docsPerS), workers_2_docs_per_s: Math.round(w[2]!.docsPerS), workers_3_docs_per_s: Math.round(w[3]!.docsPerS),
    single_task_docs_per_s: Math.round(single.docsPerS), distributed_overhead: Number(overhead.toFixed(2)), near_index_docs_per_s: Math.round(near.index), near_sign_docs_per_s_per_task: Math.round(near.sign), cores: cpus().length,
  }));
}

await main();
process.exit(0);
