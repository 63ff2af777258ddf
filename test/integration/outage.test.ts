// A broker outage during a run is not idleness: the run waits, logs the outage with its duration,
// and decides every document exactly once. The test starts its own broker (it kills it).
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { root, runCli, sharedData, tempDir } from '../helpers.js';
import { namespace, writeTopology } from './kafka-helpers.js';
import { killStrays, sleep, startWorker } from './scale-helpers.js';

afterEach(killStrays);

const dir = tempDir('d4-outage-broker-');
const env = { ...process.env, D4_KAFKA_DIR: dir, D4_KAFKA_PORT: process.env.D4_OUTAGE_KAFKA_PORT ?? '19500' };
/** A metric's value in the worker's /metrics (text format; one unlabelled series). */
const metric = async (url: string, name: string) => {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(await (await fetch(`${url}/metrics`)).text());
  return m ? Number(m[1]) : undefined;
};
const kafka = (cmd: string) => {
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'kafka.mjs'), cmd], { cwd: root, env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`kafka.mjs ${cmd}: ${r.stderr}`);
  return r.stdout.trim().split('\n').at(-1)!;
};

test('broker SIGKILLed for 15 s during `d4 run --until-idle 10000`: the run waits, logs the outage, and decides every document once', async (t) => {
  const bootstrap = kafka('up');
  t.after(() => { kafka('down'); });
  const b = { D4_KAFKA_BROKERS: bootstrap };
  const topo = writeTopology(namespace('outage'), '  - { id: exact, type: exact }', { partitions: 2 });
  const produced = await runCli(['produce', sharedData('bbc-news-2225.jsonl'), '--topic', topo.crawl, '--partitions', '2'], { env: b });
  assert.equal(produced.code, 0, produced.stderr);
  const worker = startWorker(['run', topo.path, '--window', '32', '--linger-ms', '300', '--until-idle', '10000', '--verbose', '--json', '--metrics-port', '0', '--metrics-hold', '120000'], b);
  const t0 = Date.now();
  while (!/committed offsets/.test(worker.stderr)) {
    if (Date.now() - t0 > 180_000 || worker.child.exitCode !== null) throw new Error(`no commit: ${worker.stderr.slice(-2000)}`);
    await sleep(100);
  }
  const url = /metrics at (http:\/\/\S+)\/metrics/.exec(worker.stderr)![1]!;
  assert.equal(await metric(url, 'd4_broker_down'), 0);
  const { pid } = JSON.parse(readFileSync(join(dir, 'broker.json'), 'utf8')) as { pid: number };
  process.kill(pid, 'SIGKILL');
  await sleep(15_000);
  assert.equal(worker.child.exitCode, null, 'the worker did not take the outage for idleness');
  assert.equal(await metric(url, 'd4_broker_down'), 1, '/metrics says the broker is down');
  kafka('up');
  while (!worker.stderr.includes('run ended; serving the final metrics')) {
    if (worker.child.exitCode !== null) break;
    await sleep(200);
  }
  assert.equal(await metric(url, 'd4_broker_down'), 0);
  assert.equal(await metric(url, 'd4_broker_outages_total'), 1);
  assert.ok((await metric(url, 'd4_broker_outage_seconds_total'))! >= 10, 'the outage\'s duration is in /metrics');
  worker.child.kill('SIGTERM'); // cuts the --metrics-hold short
  assert.equal(await worker.exited, 0, worker.stderr.slice(-3000));
  assert.match(worker.stderr, /the broker does not answer/);
  const back = /the broker answers again after ([\d.]+) s/.exec(worker.stderr);
  assert.ok(back && Number(back[1]) >= 10, `the outage was logged with its duration (${back?.[1]} s)`);
  const consumed = await runCli(['consume', '--topic', topo.decisions, '--as', 'decision', '--idle-ms', '3000'], { env: b });
  const ids = consumed.stdout.trim().split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { id: string }).id);
  assert.equal(ids.length, 2225, 'every document decided');
  assert.equal(new Set(ids).size, 2225, 'exactly once');
});
