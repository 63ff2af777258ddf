// Online selection vs batch D4 on the same documents and embeddings (bench/quality/agreement.ts):
// the Jaccard of the kept sets, online vs batch, must reach the floor set below relative to batch vs
// batch under another seed (k-means' own noise), on a shared corpus as it is, one sorted by
// category (topics arrive one after the other) and one with copies injected later in the stream;
// the kept fraction must be the target ±0.02. Embeddings come from .d4/cache (the model embeds
// only what is missing; the first run on a fresh clone embeds about 4,300 documents).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { corpora } from '../bench/quality/corpora.js';
import { agreement, openTools, prepare } from '../bench/quality/agreement.js';

const CORPORA = ['web+mrpc', 'bbc', 'c4+copies'];
const SEEDS = [42, 7, 1];
const TARGET = 0.25;
/**
 * online~batch / batch~batch must reach this on every corpus. Measured (README, selection quality):
 * web+mrpc 1.09, c4+copies 1.02, bbc 1.03 with the warm-up hold of 2,048 (1.04 / 1.00 / 1.01
 * without: `prototype.warmupHold=0`) (the floor leaves room for q8 embeddings that differ a
 * little per machine); the prototype defaults before (clusters of 4 sample points, refits at ×1.25)
 * measured 0.91 / 0.92 / 0.84 and fail on bbc; the algorithm before that (one warm-up fit, then
 * mini-batch updates only, one clustering) 0.95 / 0.85 / 0.58. The issue's goal is 1.0 on every
 * corpus of bench:quality; these three reach it, this floor is below it for the machines' sake.
 */
const FLOOR = Number(process.env['D4_QUALITY_FLOOR'] ?? 0.9);

test(`online vs batch D4: kept-set Jaccard ≥ ${FLOOR} × batch vs batch (other seeds), kept fraction ${TARGET} ± 0.02, on ${CORPORA.join(', ')}`, async () => {
  const tools = await openTools();
  try {
    for (const corpus of corpora().filter((c) => CORPORA.includes(c.name))) {
      const p = await prepare(corpus, tools, 256);
      const a = await agreement(p, tools, { targetRatio: TARGET, batchSize: 256, seeds: SEEDS });
      const ratio = a.onlineVsBatch / a.batchVsBatch;
      console.log(`  ${corpus.name.padEnd(10)} online~batch ${a.onlineVsBatch.toFixed(3)}, batch~batch ${a.batchVsBatch.toFixed(3)} (ratio ${ratio.toFixed(2)}), chance ${a.chance.toFixed(3)}; kept online ${a.onlineKeptFraction.min.toFixed(3)}–${a.onlineKeptFraction.max.toFixed(3)}`);
      for (const f of [a.onlineKeptFraction.min, a.onlineKeptFraction.max]) assert.ok(Math.abs(f - TARGET) <= 0.02, `${corpus.name}: online kept ${f}`);
      assert.ok(a.onlineVsBatch > 2 * a.chance, `${corpus.name}: online agrees with batch far above chance`);
      assert.ok(ratio >= FLOOR, `${corpus.name}: online~batch ${a.onlineVsBatch.toFixed(3)} is below ${FLOOR} × batch~batch ${a.batchVsBatch.toFixed(3)}`);
    }
  } finally {
    await tools.close();
  }
});
