import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TestScheduler } from 'rxjs/testing';
import { EMPTY, lastValueFrom, of, tap, toArray, type Observable } from 'rxjs';
import { mapOrdered } from './map-ordered.js';

function scheduler() {
  return new TestScheduler((actual, expected) => assert.deepStrictEqual(actual, expected));
}

test('mapOrdered: empty source completes', () => {
  scheduler().run(({ cold, expectObservable }) => {
    expectObservable(cold('|').pipe(mapOrdered((x: string) => of(x), 2))).toBe('|');
  });
});

test('mapOrdered: never-ending source emits nothing', () => {
  scheduler().run(({ cold, expectObservable }) => {
    expectObservable(cold('-').pipe(mapOrdered((x: string) => of(x), 2))).toBe('-');
  });
});

test('mapOrdered: one value', () => {
  scheduler().run(({ cold, expectObservable }) => {
    expectObservable(cold('a|').pipe(mapOrdered((x: string) => cold('--(r|)', { r: x.toUpperCase() }), 2))).toBe('--(A|)');
  });
});

test('mapOrdered: many values: results in input order although later ones finish first; only the `concurrency` oldest run', () => {
  const delays: Record<string, string> = { a: '-----(r|)', b: '-(r|)', c: '----(r|)', d: '-----(r|)' };
  let running = 0;
  let peak = 0;
  scheduler().run(({ cold, expectObservable }) => {
    const project = (x: string): Observable<string> => {
      running++;
      peak = Math.max(peak, running);
      return cold(delays[x]!, { r: x.toUpperCase() }).pipe(tap({ complete: () => { running--; } }));
    };
    // The window is the two oldest values not yet emitted: a (0-5) and b (0-1) run; b's result
    // waits for a, and c may not start before A and B leave at 5. Then c (5-9) and d (5-10) run.
    expectObservable(cold('(abcd|)').pipe(mapOrdered(project, 2))).toBe('-----(AB)C(D|)');
  });
  assert.equal(peak, 2);
});

test('mapOrdered: an error in the source is passed on', () => {
  scheduler().run(({ cold, expectObservable }) => {
    expectObservable(cold('a-#').pipe(mapOrdered((x: string) => of(x), 2))).toBe('a-#');
  });
});

test('mapOrdered: a failing project result becomes the error', () => {
  scheduler().run(({ cold, expectObservable }) => {
    expectObservable(cold('ab|').pipe(mapOrdered((x: string) => (x === 'b' ? cold<string>('-#', undefined, new Error('boom')) : of(x)), 2)))
      .toBe('a-#', undefined, new Error('boom'));
  });
});

test('mapOrdered: a project that throws becomes an error notification, not a crash', () => {
  scheduler().run(({ cold, expectObservable }) => {
    expectObservable(cold('ab|').pipe(mapOrdered((x: string) => { if (x === 'b') throw new Error('thrown'); return of(x); }, 1)))
      .toBe('a#', undefined, new Error('thrown'));
  });
});

test('mapOrdered: early unsubscribe stops the source and the running projects', () => {
  scheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
    const inner = cold('---(r|)', { r: 'R' });
    const src = cold('a-----b|');
    expectObservable(src.pipe(mapOrdered(() => inner, 1)), '^-!').toBe('---');
    expectSubscriptions(src.subscriptions).toBe('^-!');
    expectSubscriptions(inner.subscriptions).toBe('^-!');
  });
});

test('mapOrdered: a project that completes without a value is an error (it would stall the order)', async () => {
  await assert.rejects(lastValueFrom(of(1, 2).pipe(mapOrdered(() => EMPTY, 2), toArray())), { name: 'EmptyError' });
});

test('mapOrdered: promises keep their order', async () => {
  const wait = (ms: number, v: number) => new Promise<number>((r) => setTimeout(() => r(v), ms));
  const out = await lastValueFrom(of(30, 1, 20, 2, 10).pipe(mapOrdered((ms) => wait(ms, ms), 3), toArray()));
  assert.deepEqual(out, [30, 1, 20, 2, 10]);
});
