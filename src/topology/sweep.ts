import { ConfigError } from './registry.js';

/** One axis of a parameter grid: `<stage>.<option>` and its trial values. */
export interface GridAxis {
  readonly key: string;
  readonly values: readonly unknown[];
}

/** `target-ratio` is the documented alias of the prototype stage's targetRatio. */
const ALIASES: Record<string, string> = { 'target-ratio': 'prototype.targetRatio', epsilon: 'semantic.epsilon', eps: 'semantic.epsilon', 'semantic.eps': 'semantic.epsilon' };

/** Parses `--grid semantic.epsilon=0.03,0.05,0.07`; values are JSON when they parse as JSON. */
export function parseGridAxis(text: string): GridAxis {
  const m = /^([A-Za-z][\w.-]*)=(.+)$/.exec(text);
  if (!m) throw new ConfigError(`--grid ${text}: expected <stage>.<option>=<v1>,<v2>,..., e.g. --grid semantic.epsilon=0.03,0.05`);
  const key = ALIASES[m[1]!] ?? m[1]!;
  if (!/^[a-z][a-z0-9-]*\.[A-Za-z]\w*$/.test(key)) throw new ConfigError(`--grid ${text}: "${m[1]}" is not <stage>.<option>`);
  const values = m[2]!.split(',').map((v) => v.trim()).filter(Boolean).map((v) => { try { return JSON.parse(v) as unknown; } catch { return v; } });
  if (values.length === 0) throw new ConfigError(`--grid ${text}: no values`);
  return { key, values };
}

/** Every combination of the axes, as `--set`-style strings (the cartesian product, first axis slowest). */
export function gridPoints(axes: readonly GridAxis[]): string[][] {
  const keys = new Set<string>();
  for (const a of axes) {
    if (keys.has(a.key)) throw new ConfigError(`--grid ${a.key} is given twice; put all its values in one --grid`);
    keys.add(a.key);
  }
  return axes.reduce<string[][]>((points, axis) => points.flatMap((p) => axis.values.map((v) => [...p, `${axis.key}=${JSON.stringify(v)}`])), [[]]);
}

/**
 * SemDeDup's recipe for choosing ε: given trial (ε, R_dedup) pairs, the ε at which the kept
 * fraction crosses the target, by linear interpolation between the two trials that bracket it
 * (R_dedup falls as ε grows). Outside the tried range, the nearest end is returned with
 * `bracketed: false`.
 */
export function interpolateEpsilon(trials: ReadonlyArray<{ epsilon: number; kept: number }>, target: number): { epsilon: number; bracketed: boolean } {
  const t = [...trials].sort((a, b) => a.epsilon - b.epsilon);
  if (t.length === 0) throw new Error('no trials');
  for (let i = 0; i + 1 < t.length; i++) {
    const a = t[i]!;
    const b = t[i + 1]!;
    if (a.kept >= target && b.kept <= target) {
      if (a.kept === b.kept) return { epsilon: (a.epsilon + b.epsilon) / 2, bracketed: true };
      return { epsilon: a.epsilon + ((a.kept - target) * (b.epsilon - a.epsilon)) / (a.kept - b.kept), bracketed: true };
    }
  }
  return t[0]!.kept < target ? { epsilon: t[0]!.epsilon, bracketed: false } : { epsilon: t[t.length - 1]!.epsilon, bracketed: false };
}
