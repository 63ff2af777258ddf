import type { Item } from './item.js';

/**
 * The poison-topic guard. A topic read with the wrong options (JSON read as Avro, Confluent-framed
 * records read without --schema-id, the wrong topic) dead-letters every record; committing that
 * window would move the consumer group past records a rerun with the right options could have
 * curated. So when too many of a window's records fail, the worker stops BEFORE it commits,
 * exits non-zero, and says what the failures point at.
 *
 * The rule, for a window of n records of which f failed:
 *   poisoned  ⇔  n ≥ minRecords  and  (f = n  or  f > maxDeadShare · n)
 * With the default maxDeadShare = 1 only a window whose records all failed stops the worker;
 * 0.5 stops it when more than half did; 0 on the first failure. Windows smaller than minRecords
 * are never judged, so that a single bad record arriving alone in a live stream (a window flushed
 * after --linger-ms) is dead-lettered as usual instead of stopping the worker for good.
 */
export interface PoisonGuardOptions {
  /** Share of a window's records that may fail (0..1, default 1: stop only when all do). */
  readonly maxDeadShare?: number;
  /** Smallest window that is judged (default 10). */
  readonly minRecords?: number;
}

export const POISON_GUARD_DEFAULTS = { maxDeadShare: 1, minRecords: 10 } as const;

/** One failed record, as the guard sees it: its reason and message (a dead letter's `error`, `message`). */
export interface Failure {
  readonly reason: string;
  readonly message: string;
}

/** Thrown (feed, export) or reported (the Kafka runner) when a window is poisoned. Not retriable. */
export class PoisonTopicError extends Error {
  override name = 'PoisonTopicError';
  readonly retriable = false;
}

export function validatePoisonGuard(o: PoisonGuardOptions): void {
  if (o.maxDeadShare !== undefined && !(o.maxDeadShare >= 0 && o.maxDeadShare <= 1)) throw new RangeError(`the dead-letter share must be between 0 and 1, got ${o.maxDeadShare}`);
  if (o.minRecords !== undefined && !(Number.isInteger(o.minRecords) && o.minRecords >= 1)) throw new RangeError(`minRecords must be a whole number ≥ 1, got ${o.minRecords}`);
}

/** What the most frequent failure reason points at. */
export function likelyCause(reason: string): string {
  switch (reason) {
    case 'not-avro':
      return 'the records are not Avro CrawledDocuments as read: check --format (a topic of JSON records needs --format json / source format: json) and the framing (--schema-id N or --schema-registry for a topic in the Confluent wire format)';
    case 'not-framed':
      return 'the records are not in the Confluent wire format: leave --schema-id / --schema-registry out for a topic of plain Avro, or check --format';
    case 'unknown-schema-id':
      return 'the records carry a schema id this consumer cannot read: check --schema-id / --schema-registry (the registry URL, and that the producer registered its schema there)';
    case 'incompatible-schema':
      return "the records' writer schema (from the schema registry) cannot be read as a d4 CrawledDocument: is this the right topic, or was an incompatible schema version registered?";
    case 'malformed-json':
    case 'invalid-utf8':
      return 'the records are not JSON text: a topic of Avro records needs --format avro (source format: avro), with --schema-id / --schema-registry if framed';
    case 'missing-id':
    case 'missing-text':
      return 'the records have no id or text where they are looked for: check --id-field / --text-field, --format, and --schema-id / --schema-registry (a framed record read as plain Avro comes out empty)';
    case 'tombstone':
    case 'empty-record':
      return 'the records have no value: is this the right topic (a compacted topic of deletes)?';
    default:
      return 'check --format, --schema-id / --schema-registry and the topic name';
  }
}

/**
 * Judges one window: undefined when it may be committed, else the message to stop with. `where`
 * names the window (e.g. "d4.crawl[0] offsets 0-1023").
 */
export function judgeWindow(records: number, failures: readonly Failure[], where: string, options: PoisonGuardOptions = {}): string | undefined {
  const share = options.maxDeadShare ?? POISON_GUARD_DEFAULTS.maxDeadShare;
  const min = options.minRecords ?? POISON_GUARD_DEFAULTS.minRecords;
  const f = failures.length;
  if (records < min || f === 0) return undefined;
  if (f < records && f <= share * records) return undefined;
  const byReason = new Map<string, number>();
  for (const x of failures) byReason.set(x.reason, (byReason.get(x.reason) ?? 0) + 1);
  const ranked = [...byReason].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const top = ranked[0]![0];
  const example = failures.find((x) => x.reason === top)!;
  const what = f === records ? `all ${records} records` : `${f} of ${records} records (${(100 * f / records).toFixed(1)}%, more than the allowed ${(100 * share).toFixed(1)}%)`;
  return `poison-topic guard: ${what} of ${where} failed (${ranked.map(([r, n]) => `${r} ${n}`).join(', ')}). `
    + `Likely cause: ${likelyCause(top)}. First ${top}: ${example.message}`;
}

/** The dead letters of a window of Items, as failures. */
export function failuresOf(items: readonly Item[]): Failure[] {
  const out: Failure[] = [];
  for (const it of items) if (it.kind === 'dead') out.push({ reason: it.dead.error, message: it.dead.message });
  return out;
}

/** judgeWindow over a window of decoded Items. */
export function judgeItems(items: readonly Item[], where: string, options: PoisonGuardOptions = {}): string | undefined {
  return judgeWindow(items.length, failuresOf(items), where, options);
}

/**
 * The guard for a stream with no windows of its own (the training feed, the export): counts
 * records in consecutive windows of `window` records and throws PoisonTopicError as soon as one
 * is poisoned; `finish()` judges the last, partial one.
 */
export class PoisonGuard {
  private records = 0;
  private first = 0;
  private failures: Failure[] = [];

  constructor(private readonly describe: (from: number, to: number) => string, private readonly options: PoisonGuardOptions = {}, private readonly window = 1024) {
    validatePoisonGuard(options);
  }

  /** Counts one record: ok, or its failure. */
  add(failure?: Failure): void {
    this.records++;
    if (failure) this.failures.push(failure);
    if (this.records >= this.window) this.judge();
  }

  finish(): void {
    if (this.records > 0) this.judge();
  }

  private judge(): void {
    const verdict = judgeWindow(this.records, this.failures, this.describe(this.first, this.first + this.records - 1), this.options);
    if (verdict) throw new PoisonTopicError(verdict);
    this.first += this.records;
    this.records = 0;
    this.failures = [];
  }
}
