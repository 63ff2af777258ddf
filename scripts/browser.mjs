#!/usr/bin/env node
// A real headless browser for the dashboard and report tests: Debian's chromium package
// (playwright's and puppeteer's own browser downloads are not reachable here). Idempotent:
// does nothing when the binary is there. Prints its path.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const bin = process.env.D4_CHROMIUM ?? '/usr/bin/chromium';
if (!existsSync(bin)) {
  if (process.env.D4_CHROMIUM) {
    console.error(`D4_CHROMIUM=${bin} does not exist`);
    process.exit(1);
  }
  const asRoot = typeof process.getuid === 'function' && process.getuid() === 0 ? [] : ['sudo', '-n'];
  const run = (args) => {
    const [cmd, ...rest] = [...asRoot, ...args];
    const r = spawnSync(cmd, rest, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    if (r.status !== 0) {
      console.error(`browser: \`${args.join(' ')}\` failed (exit ${r.status ?? r.signal}); install Debian's chromium package by hand, or set D4_CHROMIUM to a Chromium binary`);
      process.exit(1);
    }
  };
  console.log('browser: installing Debian\'s chromium package (apt-get)');
  run(['apt-get', 'update', '-q']);
  run(['apt-get', 'install', '-y', '-q', '--no-install-recommends', 'chromium']);
}
const v = spawnSync(bin, ['--version'], { encoding: 'utf8' });
console.log(`browser: ${v.stdout.trim() || bin} at ${bin}`);
