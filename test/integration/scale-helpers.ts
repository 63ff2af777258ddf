import { type ChildProcess } from 'node:child_process';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import '../../src/io/kafka/kafkajs-fix.js';
import kafkajs from 'kafkajs';
import { readJsonl, sharedData, tempDir, spawnCli } from '../helpers.js';
import { brokers } from './kafka-helpers.js';

type Doc = { id: string; text: string; [k: string]: unknown };

/** BBC news and the web corpora (and the plagiarism set: near-duplicates), ids prefixed by corpus so they never collide. */
export function mixedCorpus(files: readonly string[] = ['bbc-news-2225.jsonl', 'web/c4-en-1k.jsonl', 'web/cc-wet-697.jsonl', 'web/fineweb-300.jsonl', 'plagiarism-clough-100.jsonl']): { path: string; docs: Doc[] } {
  const docs: Doc[] = [];
  for (const f of files) {
    const tag = f.replace(/^web\//, '').replace(/\.jsonl$/, '');
    for (const d of readJsonl<Doc>(sharedData(f))) if (typeof d.text === "string" && d.text.trim() !== "") docs.push({ ...d, id: `${tag}:${d.id}` });
  }
  const path = join(tempDir('d4-mixed-'), 'mixed.jsonl');
  writeFileSync(path, docs.map((d) => JSON.stringify(d)).join('\n') + '\n');
  return { path, docs };
}

export interface CrawlRecord { id: string; partition: number; offset: number; timestamp: number }

/** Every record of a crawl topic with its partition, offset and timestamp (read with kafkajs, as any consumer would). */
export async function readCrawl(topic: string, expected: number): Promise<CrawlRecord[]> {
  const kafka = new kafkajs.Kafka({ brokers: brokers().split(','), logLevel: kafkajs.logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `reader-${Math.random().toString(36).slice(2)}` });
  const out: CrawlRecord[] = [];
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await new Promise<void>((resolve) => {
    void consumer.run({
      eachMessage: async ({ partition, message }) => {
        out.push({ id: message.key!.toString('utf8'), partition, offset: Number(message.offset), timestamp: Number(message.timestamp) });
        if (out.length >= expected) resolve();
      },
    });
  });
  await consumer.disconnect();
  return out;
}

/**
 * The one order of the runtime (src/topology/reorder.ts): record timestamp made monotonic per
 * partition, then partition, then offset.
 */
export function globalOrder(records: readonly CrawlRecord[]): CrawlRecord[] {
  const byPartition = new Map<number, CrawlRecord[]>();
  for (const r of records) (byPartition.get(r.partition) ?? byPartition.set(r.partition, []).get(r.partition)!).push(r);
  const keyed: { r: CrawlRecord; ts: number }[] = [];
  for (const list of byPartition.values()) {
    list.sort((a, b) => a.offset - b.offset);
    let clock = -Infinity;
    for (const r of list) { clock = Math.max(clock, r.timestamp); keyed.push({ r, ts: clock }); }
  }
  keyed.sort((a, b) => a.ts - b.ts || a.r.partition - b.r.partition || a.r.offset - b.r.offset);
  return keyed.map((k) => k.r);
}

export interface Worker { readonly child: ChildProcess; stderr: string; stdout: string; readonly exited: Promise<number | null> }

const started = new Set<Worker>();

export function startWorker(args: readonly string[], env: Record<string, string> = {}): Worker {
  const child = spawnCli(args, { D4_KAFKA_BROKERS: brokers(), ...env });
  const w: Worker = {
    child, stderr: '', stdout: '',
    exited: new Promise((resolve) => child.once('close', (code) => { started.delete(w); resolve(code); })),
  };
  started.add(w);
  // D4_TEST_WORKER_LOGS=<dir>: every worker's stderr also goes to a file there, to watch a slow test live.
  const logs = process.env['D4_TEST_WORKER_LOGS'];
  const file = logs ? join(logs, `worker-${child.pid}.log`) : undefined;
  child.stderr!.setEncoding('utf8'); // whole characters, also across chunks
  child.stderr!.on('data', (d: string) => { w.stderr += d.toString(); if (file) appendFileSync(file, d); });
  child.stdout!.setEncoding('utf8'); // whole characters, also across chunks
  child.stdout!.on('data', (d: string) => { w.stdout += d.toString(); });
  return w;
}

/** For afterEach: the workers a failed test left running are killed, so the next test starts alone. */
export async function killStrays(): Promise<void> {
  const strays = [...started];
  for (const w of strays) w.child.kill('SIGKILL');
  await Promise.all(strays.map((w) => w.exited));
}

/** Waits until f holds; on time-out the error carries the tail of every running worker's log. */
export async function waitFor(f: () => boolean | Promise<boolean>, what: string, ms = 240_000): Promise<void> {
  const t0 = Date.now();
  while (!(await f())) {
    if (Date.now() - t0 > ms) {
      const logs = [...started].map((w) => `-- worker ${w.child.pid}:\n${w.stderr.slice(-3000)}`).join('\n');
      throw new Error(`timed out after ${ms / 1000} s waiting for ${what}\n${logs}`);
    }
    await sleep(500);
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
