import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gridPoints, interpolateEpsilon, parseGridAxis } from './sweep.js';

test('sweep: grid axes parse values as JSON, with aliases', () => {
  assert.deepEqual(parseGridAxis('semantic.epsilon=0.03,0.05'), { key: 'semantic.epsilon', values: [0.03, 0.05] });
  assert.deepEqual(parseGridAxis('target-ratio=0.2,0.25'), { key: 'prototype.targetRatio', values: [0.2, 0.25] });
  assert.deepEqual(parseGridAxis('prototype.scope=cluster,global').values, ['cluster', 'global']);
  assert.throws(() => parseGridAxis('semantic.epsilon'), /expected <stage>\.<option>=/);
  assert.throws(() => parseGridAxis('epsilonx=1'), /not <stage>\.<option>/);
});

test('sweep: the grid is the cartesian product, first axis slowest; a repeated axis is refused', () => {
  const points = gridPoints([parseGridAxis('semantic.epsilon=0.03,0.05'), parseGridAxis('target-ratio=0.2,0.3,0.4')]);
  assert.equal(points.length, 6);
  assert.deepEqual(points[0], ['semantic.epsilon=0.03', 'prototype.targetRatio=0.2']);
  assert.deepEqual(points[5], ['semantic.epsilon=0.05', 'prototype.targetRatio=0.4']);
  assert.deepEqual(gridPoints([]), [[]], 'no axis: one point, the defaults');
  assert.throws(() => gridPoints([parseGridAxis('eps=0.1'), parseGridAxis('semantic.epsilon=0.2')]), /given twice/);
});

test('sweep: ε is interpolated between the trials that bracket the target', () => {
  const trials = [{ epsilon: 0.1, kept: 0.95 }, { epsilon: 0.3, kept: 0.85 }, { epsilon: 0.5, kept: 0.65 }];
  const r = interpolateEpsilon(trials, 0.75);
  assert.equal(r.bracketed, true);
  assert.ok(Math.abs(r.epsilon - 0.4) < 1e-12);
  assert.deepEqual(interpolateEpsilon(trials, 0.99), { epsilon: 0.1, bracketed: false });
  assert.deepEqual(interpolateEpsilon(trials, 0.5), { epsilon: 0.5, bracketed: false });
});
