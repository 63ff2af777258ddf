// The options of every benchmark: parsed strictly, with a usage text that --help prints.
import { parseArgs } from 'node:util';

type Options = Record<string, { type: 'string' | 'boolean'; default?: string | boolean; multiple?: boolean }>;
type Values<O extends Options> = {
  [K in keyof O]: O[K] extends { multiple: true } ? string[] : O[K] extends { type: 'boolean' } ? boolean : O[K] extends { default: string } ? string : string | undefined;
};

/**
 * Parses `process.argv` for a benchmark: `--help` (`-h`) prints `usage` and exits 0; an unknown
 * option, a missing value or a positional argument prints what was wrong and the usage, and exits 2
 * before any work starts (a benchmark can run for many minutes).
 */
export function benchArgs<O extends Options>(usage: string, options: O): Values<O> {
  let values: Record<string, unknown>;
  try {
    values = parseArgs({ args: process.argv.slice(2), options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false }).values;
  } catch (e) {
    fail(usage, (e as Error).message);
  }
  if (values['help']) {
    console.log(usage.trim());
    process.exit(0);
  }
  return values as Values<O>;
}

/** A numeric option: a finite number of at least `min` (an integer where `integer`), else the usage and exit 2. */
export function numberArg(usage: string, name: string, raw: string, bounds: { min: number; integer?: boolean }): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n < bounds.min || (bounds.integer && !Number.isInteger(n))) {
    fail(usage, `--${name} must be ${bounds.integer ? 'an integer' : 'a number'} of at least ${bounds.min}, got '${raw}'`);
  }
  return n;
}

/** A comma-separated list of numbers, each checked as numberArg does. */
export function numberListArg(usage: string, name: string, raw: string, bounds: { min: number; integer?: boolean }): number[] {
  return raw.split(',').map((part) => numberArg(usage, name, part, bounds));
}

/** Prints what was wrong with the options and the usage; exits 2. */
export function fail(usage: string, message: string): never {
  console.error(`error: ${message}\n\n${usage.trim()}`);
  process.exit(2);
}
