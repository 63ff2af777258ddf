import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readJsonl, runCli, tempDir } from '../helpers.js';
import { consumeAll, d4, namespace, writeTopology } from './kafka-helpers.js';
import { globalOrder, killStrays, mixedCorpus, readCrawl, sleep, startWorker, waitFor, type Worker } from './scale-helpers.js';

afterEach(killStrays);

type Decision = { id: string; keep: boolean; stage: string; reason: string; duplicate_of: string | null; centroid_version: number | null };

const DEDUP = `  - { id: exact, type: exact }
  - { id: near, type: near }`;

const corpus = mixedCorpus();
const N = corpus.docs.length;

const produce = (t: { crawl: string }, path: string) => d4(['produce', path, '--topic', t.crawl, '--partitions', '6', '--batch-size', '200']);

/** The single-process reference: `d4 curate --stages exact,near` over the crawl topic's records in the runtime's one order. */
async function reference(t: { crawl: string }) {
  const order = globalOrder(await readCrawl(t.crawl, N));
  assert.equal(order.length, N);
  const byId = new Map(corpus.docs.map((d) => [d.id, d]));
  const dir = tempDir('d4-scale-ref-');
  const ordered = join(dir, 'ordered.jsonl');
  writeFileSync(ordered, order.map((r) => JSON.stringify(byId.get(r.id))).join('\n') + '\n');
  const ref = await runCli(['curate', ordered, '--stages', 'exact,near', '--out', join(dir, 'out')]);
  assert.equal(ref.code, 0, ref.stderr);
  const reference = readJsonl<Decision>(join(dir, 'out', 'decisions.jsonl'));
  const position = new Map(order.map((r, i) => [r.id, i]));
  return { reference, position };
}

async function prepare(label: string) {
  const t = writeTopology(namespace(label), DEDUP, { partitions: 6 });
  await produce(t, corpus.path);
  return { t, ...(await reference(t)) };
}

function dropSet(ds: readonly Decision[], stage: string): string[] {
  return ds.filter((d) => !d.keep && d.stage === stage).map((d) => d.id).sort();
}

function assertSameAsReference(decisions: readonly Decision[], reference: readonly Decision[], position: ReadonlyMap<string, number>) {
  const ids = decisions.map((d) => d.id);
  assert.equal(decisions.length, N, `one decision per document (${decisions.length} for ${N})`);
  assert.equal(new Set(ids).size, N, 'no document decided twice');
  assert.deepEqual(dropSet(decisions, 'exact'), dropSet(reference, 'exact'), 'exact drops = single-process curate in the same order');
  assert.deepEqual(dropSet(decisions, 'near'), dropSet(reference, 'near'), 'near drops = single-process curate in the same order');
  for (const d of decisions) {
    if (d.keep) continue;
    assert.ok(d.duplicate_of !== null && position.get(d.duplicate_of)! < position.get(d.id)!, `${d.id} names ${d.duplicate_of}, which came before it`);
  }
  assert.ok(dropSet(reference, 'exact').length > 50 && dropSet(reference, 'near').length > 5, 'the corpus has exact and near duplicates to find');
}

const run = (t: { path: string }, extra: string[] = []) => ['run', t.path, '--window', '64', '--linger-ms', '300', ...extra];

async function stopAll(workers: readonly Worker[]) {
  for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGTERM');
  return Promise.all(workers.map((w) => w.exited));
}

test('scale-out: 3 workers on 6 partitions decide every document once, with the drops of one process in the same order', async () => {
  const { t, reference, position } = await prepare('scale3');
  const workers = [0, 1, 2].map(() => startWorker(run(t, ['--until-idle', '8000'])));
  const codes = await Promise.all(workers.map((w) => w.exited));
  assert.deepEqual(codes, [0, 0, 0], workers.map((w) => w.stderr.slice(-2000)).join('\n----\n'));
  const decisions = await consumeAll<Decision>(t.decisions, 'decision');
  assertSameAsReference(decisions, reference, position);
  // The group shared the work: every worker ran tasks and decided documents.
  for (const w of workers) assert.match(w.stderr, /rebalance: this worker runs tasks \d/);
  const decidedBy = workers.map((w) => Number(/documents in\s+(\d+)/.exec(w.stdout)?.[1] ?? 0));
  assert.equal(decidedBy.reduce((a, b) => a + b, 0), N, `the workers' summaries add up: ${decidedBy.join(' + ')}`);
});

test('scale-out: kill -9 one of three workers mid-stream, then add a fourth: exactly once, the same drops, survivors take over', async () => {
  // The crawl arrives in two parts: the kill lands after the first part is being decided and
  // before the second exists, so it is mid-stream whatever the machine's speed.
  const t = writeTopology(namespace('kill'), DEDUP, { partitions: 6 });
  const cut = Math.floor(N * 0.6);
  const dir = tempDir('d4-kill-');
  const [first, second] = [join(dir, 'a.jsonl'), join(dir, 'b.jsonl')];
  writeFileSync(first, corpus.docs.slice(0, cut).map((d) => JSON.stringify(d)).join('\n') + '\n');
  writeFileSync(second, corpus.docs.slice(cut).map((d) => JSON.stringify(d)).join('\n') + '\n');
  await produce(t, first);
  const workers = [0, 1, 2].map(() => startWorker(run(t, ['--verbose'])));
  const decided = async () => (await consumeAll<Decision>(t.decisions, 'decision')).length;
  await waitFor(async () => workers.every((w) => /committed offsets/.test(w.stderr)), 'all three workers committing');
  await waitFor(async () => (await decided()) > 0, 'the first decisions');
  workers[1]!.child.kill('SIGKILL');
  assert.equal(await workers[1]!.exited, null, 'killed');
  await produce(t, second);
  const fourth = startWorker(run(t, ['--verbose']));
  const alive = [workers[0]!, workers[2]!, fourth];
  await waitFor(() => /rebalance: this worker runs tasks \d/.test(fourth.stderr), 'the fourth worker getting tasks');
  await waitFor(async () => (await decided()) >= N, 'every document decided');
  await sleep(3_000); // a duplicate would be committed by now
  const codes = await stopAll(alive);
  assert.deepEqual(codes, [0, 0, 0], alive.map((w) => w.stderr.slice(-1500)).join('\n----\n'));
  const ref = await reference(t);
  assertSameAsReference(await consumeAll<Decision>(t.decisions, 'decision'), ref.reference, ref.position);
  assert.ok(alive.some((w) => /rebalance: .*new: (?!none)/.test(w.stderr.split('\n').filter((l) => l.includes('rebalance')).slice(-3).join('\n'))), 'survivors took over tasks');
});
