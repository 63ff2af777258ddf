import { asyncScheduler, Observable, type OperatorFunction, type SchedulerLike, type Subscription } from 'rxjs';

/**
 * Gathers values into arrays of at most `maxCount`, emitting a partial array once its first value
 * has waited `maxWaitMs` (and the rest when the source completes). Unlike `bufferTime`, no timer
 * runs while nothing is buffered and no empty arrays are emitted, so an idle stream costs nothing.
 *
 * @example
 * items$.pipe(batchByCountOrTime(512, 100)) // arrays of ≤ 512 items, none older than 100 ms
 */
export function batchByCountOrTime<T>(maxCount: number, maxWaitMs: number, scheduler: SchedulerLike = asyncScheduler): OperatorFunction<T, T[]> {
  if (!Number.isInteger(maxCount) || maxCount < 1) throw new RangeError(`maxCount must be a positive integer, got ${maxCount}`);
  if (!(maxWaitMs >= 0) || !Number.isFinite(maxWaitMs)) throw new RangeError(`maxWaitMs must be a finite number >= 0, got ${maxWaitMs}`);
  return (source) => new Observable<T[]>((subscriber) => {
    let buffer: T[] = [];
    let timer: Subscription | undefined;
    const flush = () => {
      timer?.unsubscribe();
      timer = undefined;
      if (buffer.length === 0) return;
      const out = buffer;
      buffer = [];
      subscriber.next(out);
    };
    const sub = source.subscribe({
      next(value) {
        buffer.push(value);
        if (buffer.length >= maxCount) flush();
        else if (!timer) timer = scheduler.schedule(flush, maxWaitMs);
      },
      error(err) {
        timer?.unsubscribe();
        buffer = [];
        subscriber.error(err);
      },
      complete() {
        flush();
        subscriber.complete();
      },
    });
    return () => {
      timer?.unsubscribe();
      sub.unsubscribe();
      buffer = [];
    };
  });
}
