import { InvalidArgumentError } from 'commander';

/** Commander parsers that fail fast with a message saying what to change. */
export function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive whole number, got "${value}"`);
    return n;
  };
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function stageList(known: readonly string[]) {
  return (value: string): string[] => {
    const list = value.split(',').map((s) => s.trim()).filter(Boolean);
    if (list.length === 0) throw new InvalidArgumentError(`--stages needs at least one stage; known: ${known.join(', ')}`);
    for (const s of list) {
      if (!known.includes(s)) throw new InvalidArgumentError(`unknown stage "${s}"; known: ${known.join(', ')}`);
    }
    if (new Set(list).size !== list.length) throw new InvalidArgumentError(`--stages names a stage twice: ${value}`);
    return list;
  };
}

/** A TCP port: 0 (any free one) to 65535. */
export function portArg(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`${name} must be a port number from 0 (any free port) to 65535, got "${value}"`);
    return n;
  };
}
