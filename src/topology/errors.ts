/**
 * The one error root of the run loop (kafkajs' KafkaJSError pattern): every failure says whether
 * trying again can help. `retry` is the one place that acts on it.
 */
export class D4Error extends Error {
  override name = 'D4Error';
  readonly retriable: boolean;
  constructor(message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause !== undefined ? { cause: options.cause } : undefined);
    this.retriable = options.retriable ?? false;
  }
}

/** Another worker owns the task now (its producer was fenced): abandon the window, never fatal. */
export class TaskFencedError extends D4Error {
  override name = 'TaskFencedError';
}

/** The worker cannot go on (its in-memory state may be ahead of what was committed). */
export class FatalRunError extends D4Error {
  override name = 'FatalRunError';
}

/** kafkajs and the broker say "retriable" in their own ways; fencing is recognised by its error names. */
export function classify(e: unknown): D4Error {
  if (e instanceof D4Error) return e;
  const err = e as { message?: string; retriable?: boolean; type?: string; name?: string; cause?: unknown };
  const text = `${err.type ?? ''} ${err.name ?? ''} ${err.message ?? String(e)}`;
  if (/INVALID_PRODUCER_EPOCH|PRODUCER_FENCED|old epoch|fenced|TRANSACTIONAL_ID_AUTHORIZATION/i.test(text)) {
    return new TaskFencedError(err.message ?? String(e), { cause: e });
  }
  return new D4Error(err.message ?? String(e), { retriable: err.retriable === true || unreachable(e), cause: e });
}

/** The broker could not be reached (down, restarting, network): worth waiting for, whatever the client's own retries concluded. */
function unreachable(e: unknown): boolean {
  for (let c = e as { name?: string; message?: string; cause?: unknown } | undefined, depth = 0; c && depth < 6; c = c.cause as typeof c, depth++) {
    if (c.name === 'KafkaJSConnectionError' || c.name === 'KafkaJSRequestTimeoutError' || c.name === 'KafkaJSConnectionClosedError' || c.name === 'KafkaJSGroupCoordinatorNotFound') return true;
    // A broker that just came back has not elected its coordinators and leaders yet.
    if (/ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|Connection error|Connection timeout|Closed connection|Broker not connected|not connected|Failed to find group coordinator|coordinator is not available|not the correct coordinator|coordinator is loading|There is no leader for this topic-partition|not the leader/i.test(c.message ?? '')) return true;
  }
  return false;
}

export interface RetryOptions {
  readonly attempts: number;
  /** First wait; doubles each attempt, capped at maxDelayMs (with ±20% jitter, kafkajs' retrier). */
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  readonly onRetry?: (e: D4Error, attempt: number, delayMs: number) => void;
  /** Deterministic tests pass a fixed random and a fake sleep. */
  readonly random?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

export const DEFAULT_RETRY: RetryOptions = { attempts: 14, initialDelayMs: 200, maxDelayMs: 10_000 };

/** Runs `f` until it succeeds, a non-retriable error occurs, or the attempts are spent. */
export async function retry<T>(f: (attempt: number) => Promise<T>, options: RetryOptions = DEFAULT_RETRY): Promise<T> {
  const random = options.random ?? Math.random;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  for (let attempt = 1; ; attempt++) {
    try {
      return await f(attempt);
    } catch (e) {
      const err = classify(e);
      if (!err.retriable || attempt >= options.attempts) throw err;
      const base = Math.min(options.maxDelayMs, options.initialDelayMs * 2 ** (attempt - 1));
      const delay = Math.round(base * (0.8 + 0.4 * random()));
      options.onRetry?.(err, attempt, delay);
      await sleep(delay);
    }
  }
}
