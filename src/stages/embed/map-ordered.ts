import { from, last, Observable, type ObservableInput, type OperatorFunction, type Subscription } from 'rxjs';

/**
 * Maps each value through an asynchronous `project` (one result each), running at most
 * `concurrency` at once, and emits the results in input order. Only the `concurrency` oldest
 * values not yet emitted may run, so at most that many results are ever held back behind a slow
 * head: memory stays bounded, unlike `mergeMap` followed by a re-ordering buffer.
 *
 * `project` must produce exactly one value (a Promise, or an Observable that emits and completes);
 * one that completes empty is an error (EmptyError).
 *
 * @example
 * buffers$.pipe(mapOrdered((buffer) => embedBuffer(buffer), 2)) // two buffers in flight, order kept
 */
export function mapOrdered<T, R>(project: (value: T) => ObservableInput<R>, concurrency: number): OperatorFunction<T, R> {
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`concurrency must be a positive integer, got ${concurrency}`);
  return (source) => new Observable<R>((subscriber) => {
    interface Slot { readonly value: T; started: boolean; done: boolean; result?: R; sub?: Subscription }
    const window: Slot[] = [];
    let sourceDone = false;
    let pumping = false;
    let again = false;

    const start = (slot: Slot) => {
      slot.started = true;
      let input: ObservableInput<R>;
      try {
        input = project(slot.value);
      } catch (err) {
        subscriber.error(err);
        return;
      }
      slot.sub = from(input).pipe(last()).subscribe({
        next: (r) => { slot.result = r; },
        error: (err) => subscriber.error(err),
        complete: () => {
          slot.done = true;
          pump();
        },
      });
    };

    // Re-entrant calls (a project that completes synchronously) set `again` instead of recursing.
    const pump = () => {
      if (pumping) {
        again = true;
        return;
      }
      pumping = true;
      do {
        again = false;
        while (window.length > 0 && window[0]!.done) subscriber.next(window.shift()!.result as R);
        for (let i = 0; i < Math.min(concurrency, window.length) && !subscriber.closed; i++) {
          if (!window[i]!.started) start(window[i]!);
        }
      } while (again && !subscriber.closed);
      pumping = false;
      if (sourceDone && window.length === 0) subscriber.complete();
    };

    const sub = source.subscribe({
      next(value) {
        window.push({ value, started: false, done: false });
        pump();
      },
      error: (err) => subscriber.error(err),
      complete() {
        sourceDone = true;
        pump();
      },
    });
    return () => {
      sub.unsubscribe();
      for (const s of window) s.sub?.unsubscribe();
      window.length = 0;
    };
  });
}
