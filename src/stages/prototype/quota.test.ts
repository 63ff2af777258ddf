import { test } from 'node:test';
import assert from 'node:assert/strict';
import { streamKeepFraction } from './quota.js';

test('streamKeepFraction: R · seen / live when on track; pays a deficit or a surplus back over the horizon; within [0, 1]', () => {
  // 1,000 seen, 800 live, 250 kept = on track at R = 0.25: keep 0.25 · 1,100 / 880 of the next live ones.
  assert.equal(streamKeepFraction(0.25, { seen: 1000, live: 800, kept: 250 }, { seen: 100, live: 80 }), (0.25 * 1100) / 880);
  const behind = streamKeepFraction(0.25, { seen: 1000, live: 800, kept: 230 }, { seen: 100, live: 80 });
  assert.ok(Math.abs(behind - ((0.25 * 1100) / 880 + 20 / 80)) < 1e-12, 'a deficit of 20 over the next 80 live');
  const slower = streamKeepFraction(0.25, { seen: 1000, live: 800, kept: 230 }, { seen: 100, live: 80 }, 800);
  assert.ok(slower < behind && slower > (0.25 * 1100) / 880, 'a longer horizon pays it back more slowly');
  assert.ok(streamKeepFraction(0.25, { seen: 1000, live: 800, kept: 400 }, { seen: 100, live: 80 }) === 0, 'far ahead: keep nothing for a while');
  assert.equal(streamKeepFraction(0.25, { seen: 1000, live: 100, kept: 0 }, { seen: 10, live: 1 }), 1, 'never more than everything');
  assert.equal(streamKeepFraction(0.25, { seen: 0, live: 0, kept: 0 }, { seen: 5, live: 0 }), 1, 'nothing live: nothing to decide');
  // The same counts give the same fraction to every task that reads them.
  assert.equal(streamKeepFraction(0.3, { seen: 10, live: 9, kept: 3 }, { seen: 4, live: 4 }), streamKeepFraction(0.3, { seen: 10, live: 9, kept: 3 }, { seen: 4, live: 4 }));
});
