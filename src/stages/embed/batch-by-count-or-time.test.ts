import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TestScheduler } from 'rxjs/testing';
import { map } from 'rxjs';
import { batchByCountOrTime } from './batch-by-count-or-time.js';

function scheduler() {
  return new TestScheduler((actual, expected) => assert.deepStrictEqual(actual, expected));
}

const join = map((xs: string[]) => xs.join(''));

test('batchByCountOrTime: empty source completes with no batch', () => {
  scheduler().run(({ cold, expectObservable }) => {
    expectObservable(cold('|').pipe(batchByCountOrTime(3, 10), join)).toBe('|');
  });
});

test('batchByCountOrTime: never-ending silent source emits nothing and starts no timer', () => {
  scheduler().run(({ cold, expectObservable }) => {
    expectObservable(cold('-').pipe(batchByCountOrTime(3, 10), join)).toBe('-');
  });
});

test('batchByCountOrTime: one value is flushed on completion', () => {
  scheduler().run(({ cold, expectObservable }) => {
    expectObservable(cold('a|').pipe(batchByCountOrTime(3, 10), join)).toBe('-(x|)', { x: 'a' });
  });
});

test('batchByCountOrTime: many values: full batches by count, the rest on completion', () => {
  scheduler().run(({ cold, expectObservable }) => {
    expectObservable(cold('abcdefg|').pipe(batchByCountOrTime(3, 100), join)).toBe('--x--y-(z|)', { x: 'abc', y: 'def', z: 'g' });
  });
});

test('batchByCountOrTime: a partial batch is flushed maxWaitMs after its first value, and the timer restarts with the next value', () => {
  scheduler().run(({ cold, expectObservable }) => {
    // a at 0 → flushed at 5 with b (b at 2); c at 8 → flushed at 13; source never completes.
    expectObservable(cold('a-b-----c----------').pipe(batchByCountOrTime(10, 5), join)).toBe('-----x-------y', { x: 'ab', y: 'c' });
  });
});

test('batchByCountOrTime: a count flush cancels the pending timer', () => {
  scheduler().run(({ cold, expectObservable }) => {
    expectObservable(cold('ab---c').pipe(batchByCountOrTime(2, 3), join)).toBe('-x------y', { x: 'ab', y: 'c' }); // c at 5, flushed at 8
  });
});

test('batchByCountOrTime: an error is passed on and the buffered values are dropped', () => {
  scheduler().run(({ cold, expectObservable }) => {
    expectObservable(cold('ab#').pipe(batchByCountOrTime(5, 10), join)).toBe('--#');
  });
});

test('batchByCountOrTime: early unsubscribe stops the source and the timer', () => {
  scheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
    const src = cold('a-b-c-d|');
    expectObservable(src.pipe(batchByCountOrTime(2, 100), join), '^--!').toBe('--x', { x: 'ab' });
    expectSubscriptions(src.subscriptions).toBe('^--!');
  });
});

test('batchByCountOrTime: invalid bounds are refused at construction', () => {
  assert.throws(() => batchByCountOrTime(0, 10), RangeError);
  assert.throws(() => batchByCountOrTime(1, Number.POSITIVE_INFINITY), RangeError);
  assert.throws(() => batchByCountOrTime(1, -1), RangeError);
});
