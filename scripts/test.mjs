#!/usr/bin/env node
// The whole test suite, as CI runs it: build, check generated types, provision what the
// integration tier needs (a real Kafka broker, the embedding model) idempotently, then run the
// three tiers with node's test runner: unit tests beside each stage (src/**), whole pipelines in
// memory and through the CLI (test/*.test.js), and integration with the real broker
// (test/integration/*.test.js). `npm test -- --unit` runs the first two tiers only.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const unitOnly = args.includes('--unit');

function step(title, cmd, cmdArgs, env = {}) {
  console.log(`\n== ${title}`);
  const r = spawnSync(cmd, cmdArgs, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  if (r.status !== 0) {
    console.error(`\n${title}: failed (exit ${r.status ?? r.signal})`);
    return false;
  }
  return true;
}

function testFiles(dir, filter) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.test.js'))
    .map((e) => join(e.parentPath ?? e.path, e.name))
    .filter(filter)
    .sort();
}

if (!step('build (tsc)', process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'])) process.exit(1);
if (!step('generated record types match schemas/', process.execPath, ['scripts/gen-types.mjs', '--check'])) process.exit(1);
if (!step('stages import no I/O library', process.execPath, ['scripts/check-imports.mjs'])) process.exit(1);

// The dashboard and report tests open the pages in a real headless browser (Debian's chromium).
if (!step('browser (Debian chromium, for the page tests)', process.execPath, ['scripts/browser.mjs'])) process.exit(1);

const env = {};
let startedBroker = false;
if (!unitOnly) {
  if (!step('embedding model (from Maven Central, cached)', process.execPath, ['scripts/setup-model.mjs'])) process.exit(1);
  const wasRunning = spawnSync(process.execPath, ['scripts/kafka.mjs', 'status'], { cwd: root, stdio: 'ignore' }).status === 0;
  if (!step('Kafka broker (from Maven Central, cached)', process.execPath, ['scripts/kafka.mjs', 'up'])) process.exit(1);
  startedBroker = !wasRunning;
  const broker = JSON.parse(readFileSync(join(root, '.d4/kafka/broker.json'), 'utf8'));
  env.D4_KAFKA_BROKERS = broker.bootstrap;
}

const dist = join(root, 'dist');
const files = [
  ...testFiles(join(dist, 'src'), () => true),
  ...testFiles(join(dist, 'test'), (f) => !f.includes(`${join('test', 'integration')}`)),
  ...(unitOnly ? [] : testFiles(join(dist, 'test', 'integration'), () => true)),
];
// Files run one at a time: the machine has 2 cores and the integration tests share one broker.
// A test that hangs fails after 10 minutes instead of holding the suite (the slowest takes ~2 on
// CI), and a file's process exits when its tests are done even if something still holds it open;
// the processes a test started are killed then (test/helpers.ts).
const runner = ['--test', '--test-concurrency=1', '--test-reporter=spec', '--test-timeout=600000', '--test-force-exit'];
const ok = step(`tests (${files.length} files)`, process.execPath, [...runner, ...files], env);
if (startedBroker) step('stop the Kafka broker this run started', process.execPath, ['scripts/kafka.mjs', 'down']);
process.exit(ok ? 0 : 1);
