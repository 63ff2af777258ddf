// A Python environment for the tests of clients/python, cached across checkouts and runs: one
// virtual environment under ~/.cache/d4stream with the pinned build and check tools, created
// once (the only step that needs PyPI); the package itself is pip-installed from the checkout
// into a fresh target folder on every run, offline, so that what is tested is this checkout's
// code even when several checkouts share the environment.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { root, tempDir } from './helpers.js';

/** Installed once into the cached environment: setuptools builds the package offline, mypy checks its types. */
const PINS = ['setuptools==84.2.1', 'mypy==2.4.1'];

export interface PythonEnv {
  /** The environment's interpreter. */
  readonly python: string;
  /** Environment variables that put the freshly installed d4feed on the path. */
  readonly env: Record<string, string>;
  /** A cache folder kept with the environment (mypy's: a cold check costs ~20 s on the 2-core machine). */
  readonly cacheDir: string;
}

function run(cmd: string, args: string[], what: string, cwd = root): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${what} failed (${cmd} ${args.join(' ')}: exit ${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/**
 * The cached environment (created if missing or made with other pins) with clients/python
 * installed into a new target folder. System site-packages are visible, so that PyPI's torch is
 * used where the machine has it (the FeedDataset test; without it, that test uses Debian's).
 */
export function pythonEnv(): PythonEnv {
  const cache = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'd4stream');
  const venv = join(cache, 'venv-d4feed');
  const python = join(venv, 'bin', 'python');
  const stamp = join(venv, 'd4-pins.txt');
  if (!existsSync(python) || !existsSync(stamp) || readFileSync(stamp, 'utf8') !== PINS.join('\n')) {
    mkdirSync(cache, { recursive: true });
    // Built beside its final place and renamed into it, so a concurrent run never sees half an
    // environment (tools are run as `python -m`, which does not depend on the folder's name).
    const building = `${venv}.building-${process.pid}`;
    rmSync(building, { recursive: true, force: true });
    run('python3', ['-m', 'venv', '--system-site-packages', building], 'python3 -m venv');
    run(join(building, 'bin', 'python'), ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', ...PINS], `pip install ${PINS.join(' ')}`);
    writeFileSync(join(building, 'd4-pins.txt'), PINS.join('\n'));
    rmSync(venv, { recursive: true, force: true });
    renameSync(building, venv);
  }
  // Built from a copy: setuptools writes build/ and *.egg-info beside the sources.
  const work = tempDir('d4feed-');
  const src = join(work, 'src');
  cpSync(join(root, 'clients', 'python'), src, { recursive: true, filter: (p) => !/(__pycache__|\.mypy_cache|\.egg-info|[\/]build)$/.test(p) });
  const site = join(work, 'site');
  run(python, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-build-isolation', '--no-deps', '--no-index', '--target', site, src], 'pip install clients/python');
  return { python, env: { PYTHONPATH: site, PYTHONDONTWRITEBYTECODE: '1', PYTHONUNBUFFERED: '1' }, cacheDir: join(venv, 'cache') };
}
