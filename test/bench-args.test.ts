import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

// Every benchmark parses its options before any work (bench/args.ts): --help tells what it does and
// what it takes, a wrong option stops it at once instead of after minutes of measuring.
const dist = join(import.meta.dirname, '..', 'bench');
const BENCHES: Record<string, { option?: string; bad?: [string, string] }> = {
  'select/bench.js': { option: '--sizes', bad: ['--sizes', '10000,x'] },
  'select/ann-bench.js': { option: '--queries', bad: ['--queries', '0'] },
  'quality/bench.js': { option: '--variant', bad: ['--corpus', 'no-such-corpus'] },
  'latency/bench.js': { option: '--no-model' },
  'restart/bench.js': { option: '--records', bad: ['--records', '1.5'] },
  'scale/bench.js': { option: '--copies', bad: ['--copies', 'three'] },
  'near/bench.js': {},
  'replay/bench.js': {},
  'replay/feed-bench.js': { option: '--shuffle-buffer', bad: ['--rounds', '0'] },
  'embed/embed-bench.js': { option: '--models-only', bad: ['--dtype', 'int4'] },
};

const run = (file: string, args: string[]) => spawnSync(process.execPath, [join(dist, file), ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, D4_KAFKA_BROKERS: '127.0.0.1:1' } });

for (const [file, { option, bad }] of Object.entries(BENCHES)) {
  test(`bench ${file}: --help prints the usage and exits 0; unknown or malformed options exit 2 before any work`, () => {
    const help = run(file, ['--help']);
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /^(npm run bench:|node dist\/bench\/)/);
    if (option) assert.ok(help.stdout.includes(option), `the usage names ${option}`);
    const unknown = run(file, ['--no-such-option']);
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /error: Unknown option '--no-such-option'/);
    assert.equal(unknown.stdout, '', 'nothing ran');
    if (bad) {
      const r = run(file, bad);
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`error: .*${bad[0] === '--corpus' ? 'no corpus no-such-corpus' : bad[0]}`));
      assert.equal(r.stdout, '', 'nothing ran');
    }
  });
}
