// Integration tier for the Python training loader (clients/python, package d4feed), against a
// real `d4 feed --serve` over a curated topic written by `d4 run` on the real broker: its unit
// tests and strict type check, two epochs exactly once each, a trainer SIGKILLed and restarted
// from its saved checkpoint, a feed server SIGKILLed and restarted under a running trainer, and
// a topic the server refuses. The Python environment is cached (test/python-env.ts).
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { root, sharedData, tempDir, spawnTracked } from '../helpers.js';
import { consumeAll, d4, namespace, startFeedServer, writeTopology } from './kafka-helpers.js';
import { pythonEnv, type PythonEnv } from '../python-env.js';
import { debianPackage } from './ecosystem-tools.js';

const KEPT = 2125;
const SERVER_OPTIONS = ['--epochs', '2', '--seed', 'py', '--shuffle-buffer', '300', '--batch-size', '50'];
const TOTAL_BATCHES = 2 * Math.ceil(KEPT / 50);
const check = join(root, 'clients', 'python', 'tests', 'feed_check.py');

let py: PythonEnv;
let topic: string;
let expectedFile: string;
let expected: string[];

before(async () => {
  py = pythonEnv();
  const t = writeTopology(namespace('pyfeed'), '  - { id: exact, type: exact }', { partitions: 2 });
  await d4(['produce', sharedData('bbc-news-2225.jsonl'), '--topic', t.crawl, '--partitions', '2']);
  await d4(['run', t.path, '--until-idle', '3000']);
  topic = t.curated;
  expected = (await consumeAll<{ id: string }>(topic, 'document')).map((d) => d.id).sort();
  assert.equal(expected.length, KEPT);
  expectedFile = join(tempDir(), 'expected.json');
  writeFileSync(expectedFile, JSON.stringify(expected));
});

function python(args: string[], cwd = root, exe = py.python): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(exe, args, { cwd, encoding: 'utf8', env: { ...process.env, ...py.env }, maxBuffer: 64 << 20 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs feed_check.py train until it has printed `steps` step lines, then SIGKILLs it (or lets it finish when steps is undefined). */
function trainer(url: string, state: string, onStep?: (step: number, kill: () => void) => void): Promise<{ code: number | null; signal: string | null; lines: Record<string, unknown>[] }> {
  const child = spawnTracked(py.python, [check, 'train', url, state, '0.02'], { env: { ...process.env, ...py.env } });
  const lines: Record<string, unknown>[] = [];
  let buf = '';
  let err = '';
  child.stderr.setEncoding('utf8'); // whole characters, also across chunks
  child.stderr.on('data', (d: string) => { err += d.toString(); });
  child.stdout.setEncoding('utf8'); // whole characters, also across chunks
  child.stdout.on('data', (d: string) => {
    buf += d.toString();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const l = JSON.parse(buf.slice(0, i)) as Record<string, unknown>;
      buf = buf.slice(i + 1);
      lines.push(l);
      if (typeof l.step === 'number') onStep?.(l.step, () => child.kill('SIGKILL'));
    }
  });
  return new Promise((resolve) => child.once('close', (code, signal) => {
    if (code !== 0 && signal === null) console.error(err);
    resolve({ code, signal, lines });
  }));
}

/** The trainer's saved state: every document it trained on, with its epoch, exactly once per epoch. */
function assertExactlyOnce(statePath: string, label: string): { steps: number; starts: number } {
  const state = JSON.parse(readFileSync(statePath, 'utf8')) as { seen: [number, string][]; steps: number; starts: number };
  for (const e of [0, 1]) {
    const ids = state.seen.filter(([epoch]) => epoch === e).map(([, id]) => id);
    assert.equal(ids.length, KEPT, `${label}: epoch ${e} trained on ${ids.length} documents`);
    assert.deepEqual([...ids].sort(), expected, `${label}: epoch ${e}: each kept document exactly once`);
  }
  assert.equal(state.seen.length, 2 * KEPT);
  assert.equal(state.steps, TOTAL_BATCHES);
  return state;
}

test('d4feed: its unit tests pass and it type-checks with mypy --strict', () => {
  const unit = python(['-m', 'unittest', 'discover', '-s', 'tests', '-p', 'test_*.py'], join(root, 'clients', 'python'));
  assert.equal(unit.code, 0, unit.stderr);
  assert.match(unit.stderr, /Ran \d+ tests[\s\S]*OK/);
  const types = python(['-m', 'mypy', '--cache-dir', join(py.cacheDir, 'mypy'), 'src', 'tests'], join(root, 'clients', 'python'));
  assert.equal(types.code, 0, types.stdout + types.stderr);
  assert.match(types.stdout, /Success: no issues found/);
});

test('d4feed against d4 feed --serve: two epochs, each kept document exactly once per epoch, in different orders', async () => {
  const server = await startFeedServer(['--topic', topic, ...SERVER_OPTIONS]);
  try {
    const r = python([check, 'epochs', server.url, expectedFile, '2']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { batches: number; documents: Record<string, number> };
    assert.equal(out.batches, TOTAL_BATCHES);
    assert.deepEqual(out.documents, { 0: KEPT, 1: KEPT });
  } finally {
    await server.stop();
  }
});

test('d4feed: a trainer SIGKILLed mid-epoch restarts from its saved checkpoint: every document exactly once per epoch', async () => {
  const server = await startFeedServer(['--topic', topic, ...SERVER_OPTIONS]);
  try {
    const state = join(tempDir(), 'trainer.json');
    const first = await trainer(server.url, state, (step, kill) => { if (step >= 15) kill(); });
    assert.equal(first.signal, 'SIGKILL', 'killed, not finished');
    const saved = JSON.parse(readFileSync(state, 'utf8')) as { steps: number };
    assert.ok(saved.steps >= 15 && saved.steps < TOTAL_BATCHES, `killed after ${saved.steps} steps`);
    const second = await trainer(server.url, state);
    assert.equal(second.code, 0);
    assert.ok(second.lines.some((l) => l.done === true));
    assert.equal(assertExactlyOnce(state, 'killed and resumed').starts, 2);
  } finally {
    await server.stop();
  }
});

test('d4feed: the feed server SIGKILLed under a running trainer and restarted on its port: the loader reconnects from its checkpoint, exactly once', async () => {
  let server = await startFeedServer(['--topic', topic, ...SERVER_OPTIONS]);
  const port = server.port;
  try {
    const state = join(tempDir(), 'trainer.json');
    let restarted: Promise<void> | undefined;
    const run = await trainer(server.url, state, (step) => {
      if (step === 20 && !restarted) {
        server.child.kill('SIGKILL');
        restarted = new Promise((r) => setTimeout(r, 1500)).then(async () => { server = await startFeedServer(['--topic', topic, ...SERVER_OPTIONS], port); });
      }
    });
    await restarted;
    const tail = JSON.stringify(run.lines.filter((l) => typeof l.step !== 'number' || (l.step as number) % 10 === 0 || (l.step as number) > 80));
    assert.equal(run.code, 0, tail);
    const done = run.lines.find((l) => l.done === true) as { reconnects: number } | undefined;
    assert.ok(done && done.reconnects >= 1, `reconnected: ${tail}`);
    assert.ok(run.lines.some((l) => typeof l.retry === 'number'));
    assertExactlyOnce(state, 'server restarted');
  } finally {
    await server.stop();
  }
});

test('d4feed: a feed the server cannot serve (JSON records on the topic: poison-topic guard) raises FeedError with the cause, without retrying', async () => {
  const json = `${namespace('pyfeed-json')}.curated`;
  const input = join(tempDir(), 'docs.jsonl');
  writeFileSync(input, Array.from({ length: 20 }, (_, i) => JSON.stringify({ id: `j${i}`, text: `document ${i}` })).join('\n'));
  await d4(['produce', input, '--topic', json, '--format', 'json']);
  const server = await startFeedServer(['--topic', json]);
  try {
    const r = python([check, 'refused', server.url, 'HTTP 422.*poison-topic guard.*--format json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { status: number }).status, 422);
  } finally {
    await server.stop();
  }
});

/**
 * A Python that imports torch: the test environment's (it sees the site-packages of the Python it
 * was made from, so PyPI's torch where the machine has it), else Debian's /usr/bin/python3 with
 * the archive's python3-torch (CPU, ~150 MB), installed when missing. d4feed has no dependencies,
 * so the same PYTHONPATH serves both.
 */
function torchPython(): { exe: string } | { why: string } {
  const imports = (exe: string) => spawnSync(exe, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
  if (imports(py.python)) return { exe: py.python };
  const debian = '/usr/bin/python3';
  const failed = debianPackage('python3-torch', () => imports(debian));
  return failed ? { why: failed } : { exe: debian };
}

test('d4feed.FeedDataset through torch.utils.data.DataLoader (num_workers=1): one epoch exactly once', async (t) => {
  const torch = torchPython();
  if ('why' in torch) {
    // Said, not hidden: PyPI's torch is gigabytes, and Debian's could not be installed here.
    t.skip(`PyTorch is not on this machine and ${torch.why}; FeedDataset not exercised`);
    return;
  }
  const server = await startFeedServer(['--topic', topic, ...SERVER_OPTIONS]);
  try {
    const r = python([check, 'torch', server.url, expectedFile], root, torch.exe);
    assert.equal(r.code, 0, r.stderr);
  } finally {
    await server.stop();
  }
});
