import { spawn, type ChildProcessWithoutNullStreams, type SpawnOptionsWithoutStdio } from 'node:child_process';
import { existsSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project root (tests run from dist/test/...). */
export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const cli = join(root, 'dist', 'src', 'cli', 'main.js');

/** A file of ../shared/data, which CI has beside the clone; fails loudly when it is missing. */
export function sharedData(rel: string): string {
  const p = resolve(root, '..', 'shared', 'data', rel);
  if (!existsSync(p)) throw new Error(`shared data ${p} is missing: the tests need ../shared/data beside the project`);
  return p;
}

/**
 * A fresh folder under the system's temporary directory, removed when the test file's process
 * exits (kept with D4_KEEP_TEST_DIRS=1, to look at what a failed test left).
 */
export function tempDir(prefix = 'd4-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

export function readJsonl<T = Record<string, any>>(path: string): T[] {
  return readFileSync(path, 'utf8').split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l) as T);
}

/**
 * Every process a test starts is killed (SIGKILL) when the test file's process exits, also when
 * a test fails before it stops them: a worker left behind would keep the file's process alive
 * and the suite waiting (the runner runs with --test-force-exit, so the file's process does exit).
 */
const children = new Set<ChildProcessWithoutNullStreams>();
process.once('exit', () => { for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL'); });
// After the children are killed: the folders a test made (tempDir), unless D4_KEEP_TEST_DIRS=1.
const made: string[] = [];
process.once('exit', () => {
  if (process.env['D4_KEEP_TEST_DIRS'] === '1') return;
  for (const dir of made) rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
});

export function spawnTracked(cmd: string, args: readonly string[], options: SpawnOptionsWithoutStdio = {}): ChildProcessWithoutNullStreams {
  const child = spawn(cmd, args, { cwd: root, ...options });
  children.add(child);
  child.once('close', () => children.delete(child));
  return child;
}

/** The `d4` command line in a child process, tracked as above. */
export function spawnCli(args: readonly string[], env: Record<string, string | undefined> = {}): ChildProcessWithoutNullStreams {
  return spawnTracked(process.execPath, [cli, ...args], { env: { ...process.env, ...env } });
}

export interface CliResult { code: number | null; stdout: string; stderr: string }

/** Runs the real `d4` command line in a child process. */
export function runCli(args: string[], options: { input?: Buffer | string; env?: Record<string, string> } = {}): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawnCli(args, options.env);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8'); // whole characters, also across chunks
    child.stdout.on('data', (d: string) => { stdout += d.toString(); });
    child.stderr.setEncoding('utf8'); // whole characters, also across chunks
    child.stderr.on('data', (d: string) => { stderr += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
    if (options.input !== undefined) child.stdin.end(options.input);
    else child.stdin.end();
  });
}

/** Whitespace-collapsed NFC text, written independently of the product's normaliser. */
export function collapsed(text: string): string {
  return text.normalize('NFC').split(/\s+/u).filter((w) => w.length > 0).join(' ');
}
