import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Shingler, distinctSorted } from './shingles.js';

const shingles = (s: Shingler, text: string) => { const n = s.shingle(text); return [...s.hashes.subarray(0, n)]; };

test('word shingles: one per window of n words; punctuation and spacing do not matter; order does', () => {
  const s = new Shingler({ mode: 'word', n: 3 });
  assert.equal(s.shingle('one two three four five'), 3);
  assert.deepEqual(shingles(s, 'one two three four five'), shingles(s, '  one, two; three...\n\tfour -- five!'));
  assert.notDeepEqual(shingles(s, 'one two three'), shingles(s, 'three two one'));
  assert.notDeepEqual(shingles(s, 'one two three'), shingles(s, 'One two three'), 'case is the normaliser\'s business');
  assert.equal(new Set(shingles(s, 'a b c d e f g h i j k l')).size, 10, 'distinct windows, distinct hashes');
});

test('word shingles: a text shorter than n words gives one shingle; no words gives none', () => {
  const s = new Shingler({ mode: 'word', n: 5 });
  assert.equal(s.shingle('just two'), 1);
  assert.notDeepEqual(shingles(s, 'just two'), shingles(s, 'just three'));
  assert.equal(s.shingle(''), 0);
  assert.equal(s.shingle(' ... !!! -- '), 0);
});

test('word shingles: letters of any script, digits, combining marks and astral characters are word characters', () => {
  const s = new Shingler({ mode: 'word', n: 1 });
  assert.equal(s.shingle('naïve café'), 2);
  assert.equal(s.shingle('Москва 東京 القاهرة 2024'), 4);
  assert.equal(s.shingle('e\u0301t\u00e9'), 1, 'a combining accent stays inside its word');
  assert.equal(s.shingle('𝔘𝔫𝔦 😀x'), 2);
});

test('word shingles: the rolling hash equals hashing each window from scratch', () => {
  const s = new Shingler({ mode: 'word', n: 4 });
  const words = 'alpha beta gamma delta epsilon zeta eta theta iota kappa'.split(' ');
  const rolled = shingles(s, words.join(' '));
  for (let i = 0; i + 4 <= words.length; i++) assert.equal(rolled[i], shingles(s, words.slice(i, i + 4).join(' '))[0], `window ${i}`);
});

test('character shingles: one per window of n code units, rolling equals from scratch', () => {
  const s = new Shingler({ mode: 'char', n: 4 });
  const text = 'the cat sat on the mat';
  const rolled = shingles(s, text);
  assert.equal(rolled.length, text.length - 3);
  for (let i = 0; i + 4 <= text.length; i++) assert.equal(rolled[i], shingles(s, text.slice(i, i + 4))[0], `window ${i}`);
  assert.equal(rolled[0], rolled[15], '"the " twice');
  assert.equal(s.shingle('ab'), 1);
  assert.equal(s.shingle(''), 0);
});

test('shingler: the buffer grows for long texts and is reused', () => {
  const s = new Shingler({ mode: 'word', n: 5 });
  const long = Array.from({ length: 20_000 }, (_, i) => `w${i}`).join(' ');
  assert.equal(s.shingle(long), 19_996);
  const buffer = s.hashes;
  s.shingle('a b c d e f');
  assert.equal(s.hashes, buffer, 'no new buffer for a shorter text');
  assert.throws(() => new Shingler({ mode: 'word', n: 0 }), /1\.\.64/);
});

test('distinctSorted: sorted, unsigned, no repeats', () => {
  assert.deepEqual([...distinctSorted(Int32Array.from([5, -1, 5, 3, -1]), 5)], [3, 5, 0xffffffff]);
  assert.deepEqual([...distinctSorted(Int32Array.from([1, 2]), 0)], []);
});
