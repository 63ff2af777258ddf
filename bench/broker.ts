import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The repository root (benchmarks run from dist/bench/<name>/). */
export const root = join(import.meta.dirname, '..', '..');

/** The broker a benchmark runs against: $D4_KAFKA_BROKERS, else the project's own (started if needed). */
export function bootstrap(): string {
  if (process.env.D4_KAFKA_BROKERS) return process.env.D4_KAFKA_BROKERS;
  const up = spawnSync(process.execPath, [join(root, 'scripts', 'kafka.mjs'), 'up'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  if (up.status !== 0) throw new Error('could not start the broker (node scripts/kafka.mjs up)');
  return (JSON.parse(readFileSync(join(root, '.d4', 'kafka', 'broker.json'), 'utf8')) as { bootstrap: string }).bootstrap;
}
