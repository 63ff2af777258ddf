import { type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readJsonl, runCli, tempDir, spawnCli } from '../helpers.js';

/** The broker scripts/test.mjs started; integration tests fail (never skip) without one. */
export function brokers(): string {
  const b = process.env.D4_KAFKA_BROKERS;
  if (!b) throw new Error('D4_KAFKA_BROKERS is not set: run the integration tests through `npm test`, which starts the broker');
  return b;
}

/** A fresh namespace per test (kafkajs' habit): unique topics and consumer groups. */
export function namespace(label: string): string {
  return `it-${label}-${randomUUID().slice(0, 8)}`;
}

export interface TopologyFiles { path: string; crawl: string; decisions: string; curated: string; deadLetter: string; app: string }

export function writeTopology(ns: string, stagesYaml: string, options: { partitions?: number; format?: 'avro' | 'json' } = {}): TopologyFiles {
  const t = { crawl: `${ns}.crawl`, decisions: `${ns}.decisions`, curated: `${ns}.curated`, deadLetter: `${ns}.dlq`, app: ns };
  const path = join(tempDir(), 'topology.yaml');
  writeFileSync(path, `name: ${ns}
application_id: ${ns}
source: { topic: ${t.crawl}, format: ${options.format ?? 'avro'}, partitions: ${options.partitions ?? 1} }
stages:
${stagesYaml}
sinks:
  decisions: { topic: ${t.decisions} }
  kept: { topic: ${t.curated} }
  dead_letter: { topic: ${t.deadLetter} }
`);
  return { path, ...t };
}

export async function d4(args: string[]): Promise<{ stdout: string; stderr: string }> {
  const r = await runCli(args, { env: { D4_KAFKA_BROKERS: brokers() } });
  if (r.code !== 0) throw new Error(`d4 ${args.join(' ')} exited ${r.code}:\n${r.stderr}`);
  return r;
}

/** Every committed record of a topic, decoded. */
export async function consumeAll<T = Record<string, any>>(topic: string, as: string): Promise<T[]> {
  const r = await d4(['consume', '--topic', topic, '--as', as, '--idle-ms', '2500']);
  return r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as T);
}

export { readJsonl };

/** A `d4 feed --serve` process (port 0: any free port), with its /batches URL, its stderr so far, and a clean stop. */
export interface FeedServer { child: ChildProcessWithoutNullStreams; url: string; port: number; stderr(): string; stop(): Promise<void> }

export async function startFeedServer(args: string[], port = 0): Promise<FeedServer> {
  const child = spawnCli(['feed', ...args, '--serve', String(port)], { D4_KAFKA_BROKERS: brokers() });
  let stderr = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /serving (http:\/\/127\.0\.0\.1:\d+\/batches)/.exec(stderr);
      if (m) resolve(m[1]!);
    });
    child.on('exit', (code) => reject(new Error(`d4 feed --serve exited ${code}:\n${stderr}`)));
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const closed = new Promise((r) => child.once('close', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await closed;
    clearTimeout(timer);
  };
  return { child, url, port: Number(new URL(url).port), stderr: () => stderr, stop };
}
