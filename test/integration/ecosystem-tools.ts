// Outside tools for the ecosystem tests, installed by the tests themselves (never skipped):
// the Confluent Python client in a virtual environment under .d4/, and Debian's kcat.
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { root } from '../helpers.js';

const PYTHON_PACKAGES = ['confluent-kafka[avro,schemaregistry]==2.16.1'];

/** The python of .d4/venv-ecosystem, created with PYTHON_PACKAGES on first use. */
export function ecosystemPython(): string {
  const venv = join(root, '.d4', 'venv-ecosystem');
  const python = join(venv, 'bin', 'python');
  const marker = join(venv, '.d4-packages');
  if (existsSync(python) && existsSync(marker) && readFileSync(marker, 'utf8') === PYTHON_PACKAGES.join('\n')) return python;
  const run = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`}):\n${r.stdout}${r.stderr}\nThe ecosystem tests need Python 3 with venv and PyPI.`);
  };
  run('python3', ['-m', 'venv', venv]);
  run(python, ['-m', 'pip', 'install', '-q', '--disable-pip-version-check', ...PYTHON_PACKAGES]);
  writeFileSync(marker, PYTHON_PACKAGES.join('\n'));
  return python;
}

/**
 * Makes `found()` true by installing Debian's `pkg` when it is not (root or password-less sudo);
 * undefined when it is found, else why the install failed.
 */
export function debianPackage(pkg: string, found: () => boolean): string | undefined {
  if (found()) return undefined;
  const asRoot = process.getuid?.() === 0;
  const r = spawnSync(asRoot ? 'apt-get' : 'sudo', [...(asRoot ? [] : ['-n', 'apt-get']), 'install', '-y', '-q', '--no-install-recommends', pkg], { encoding: 'utf8', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  return found() ? undefined : `apt-get install ${pkg} failed (${r.error?.message ?? `exit ${r.status}`}):\n${(r.stdout ?? '').slice(-2000)}${(r.stderr ?? '').slice(-2000)}`;
}

/** kcat on PATH, installed from Debian's archive when missing. */
export function kcat(): string {
  const failed = debianPackage('kcat', () => spawnSync('kcat', ['-V'], { stdio: 'ignore' }).status === 0);
  if (failed) throw new Error(`kcat is not installed and ${failed}\nInstall it (Debian/Ubuntu: apt-get install kcat).`);
  return 'kcat';
}

export interface Read { key: string | null; value: Record<string, any>; schema_id: number | null }

const script = join(root, 'test', 'integration', 'ecosystem', 'read_topic.py');
const parse = (out: string) => out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Read);

/** Every committed record of a topic through confluent-kafka's AvroDeserializer and the registry. */
export function readWithAvroDeserializer(bootstrap: string, registry: string, topic: string): Read[] {
  const r = spawnSync(ecosystemPython(), [script, 'registry', '--bootstrap', bootstrap, '--registry', registry, '--topic', topic], { encoding: 'utf8', maxBuffer: 512 << 20 });
  if (r.status !== 0) throw new Error(`read_topic.py registry ${topic} failed (exit ${r.status}):\n${r.stderr}`);
  return parse(r.stdout);
}

/** The raw committed records of a topic as kcat prints them: key length:key value length:value. */
export function kcatRaw(bootstrap: string, topic: string): Buffer {
  const r = spawnSync(kcat(), ['-C', '-b', bootstrap, '-t', topic, '-o', 'beginning', '-e', '-q', '-X', 'isolation.level=read_committed', '-f', '%K:%k%S:%s'], { maxBuffer: 512 << 20 });
  if (r.status !== 0) throw new Error(`kcat -C -t ${topic} failed (exit ${r.status}):\n${r.stderr.toString()}`);
  return r.stdout;
}

/** Splits kcat's '%K:%k%S:%s' output into records. */
export function kcatRecords(out: Buffer): { key: string | null; value: Buffer }[] {
  const records: { key: string | null; value: Buffer }[] = [];
  let at = 0;
  const int = () => {
    const colon = out.indexOf(0x3a, at);
    const n = Number(out.subarray(at, colon).toString());
    at = colon + 1;
    return n;
  };
  while (at < out.length) {
    const klen = int();
    const key = klen >= 0 ? out.subarray(at, at + klen).toString('utf8') : null;
    at += Math.max(klen, 0);
    const vlen = int();
    records.push({ key, value: out.subarray(at, at + Math.max(vlen, 0)) });
    at += Math.max(vlen, 0);
  }
  return records;
}

/** kcat's raw output decoded with fastavro's schemaless_reader and a .avsc of schemas/. */
export function readSchemaless(kcatFile: string, avsc: string): Read[] {
  const r = spawnSync(ecosystemPython(), [script, 'schemaless', '--schema', join(root, 'schemas', avsc), '--kcat', kcatFile], { encoding: 'utf8', maxBuffer: 512 << 20 });
  if (r.status !== 0) throw new Error(`read_topic.py schemaless ${avsc} failed (exit ${r.status}):\n${r.stderr}`);
  return parse(r.stdout);
}
