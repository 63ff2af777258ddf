// npm run bench:quality [-- --seeds 42,7,1 --batch-size 256 --target-ratio 0.25 --corpus bbc,web --set prototype.halfLife=0]
//
// Per corpus: Jaccard of the kept sets, online (d4 curate's stages, in batches) vs batch D4
// (d4 batch), beside batch vs batch under another seed (the reference measured in the same run)
// and chance; the kept fractions. Ends with one JSON line `quality {...}`. Never fails on figures.
import { corpora } from './corpora.js';
import { agreement, openTools, prepare, type Agreement } from './agreement.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}
const sets = process.argv.flatMap((a, i) => (a === '--set' && process.argv[i + 1] ? [process.argv[i + 1]!] : []));
// --variant name=stage.opt=v;stage.opt=v (repeatable): more parameter sets compared on the same prepared corpora.
const variants = process.argv.flatMap((a, i) => (a === '--variant' && process.argv[i + 1] ? [process.argv[i + 1]!] : [])).map((v) => {
  const eq = v.indexOf('=');
  return { name: v.slice(0, eq), set: [...sets, ...v.slice(eq + 1).split(';').filter((x) => x.length > 0)] };
});

const seeds = arg('seeds', '42,7,1').split(',').map(Number);
const batchSize = Number(arg('batch-size', '256'));
const targetRatio = Number(arg('target-ratio', '0.25'));
const only = arg('corpus', '').split(',').filter((s) => s.length > 0);

const tools = await openTools();
const rows: (Agreement & { variant: string; ratio: number; seconds: number; embedded: number })[] = [];
try {
  console.log(`online vs batch D4, target ${targetRatio}, batches of ${batchSize}, seeds ${seeds.join(',')}${sets.length ? `, --set ${sets.join(' ')}` : ''}`);
  console.log(`${'corpus'.padEnd(14)} ${'docs'.padStart(5)} ${'live'.padStart(5)}  online~batch  batch~batch  ratio  chance  kept online   kept batch`);
  for (const corpus of corpora().filter((c) => only.length === 0 || only.includes(c.name))) {
    const t0 = process.hrtime.bigint();
    const p = await prepare(corpus, tools, batchSize);
    for (const v of variants.length ? variants : [{ name: '', set: sets }]) {
    const a = await agreement(p, tools, { targetRatio, batchSize, seeds, set: v.set });
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const row = { ...a, variant: v.name, ratio: a.onlineVsBatch / a.batchVsBatch, seconds, embedded: p.embedded };
    rows.push(row);
    const f = (r: { min: number; max: number }) => `${r.min.toFixed(3)}–${r.max.toFixed(3)}`;
    console.log(`${(v.name ? `${corpus.name}/${v.name}` : corpus.name).padEnd(14)} ${String(a.documents).padStart(5)} ${String(a.live).padStart(5)}  ${a.onlineVsBatch.toFixed(3).padStart(12)}  ${a.batchVsBatch.toFixed(3).padStart(11)}  ${row.ratio.toFixed(2).padStart(5)}  ${a.chance.toFixed(3).padStart(6)}  ${f(a.onlineKeptFraction)}  ${f(a.batchKeptFraction)}   (${seconds.toFixed(1)} s, ${p.embedded} embedded)`);
    }
  }
} finally {
  await tools.close();
}
const meanRatio = rows.reduce((s, r) => s + r.ratio, 0) / Math.max(1, rows.length);
console.log(`mean online~batch / batch~batch: ${meanRatio.toFixed(3)}; corpora where online agrees at least as well as another batch seed: ${rows.filter((r) => r.ratio >= 1).length}/${rows.length}`);
console.log(`quality ${JSON.stringify({ seeds, batch_size: batchSize, target_ratio: targetRatio, set: sets, mean_ratio: meanRatio, corpora: rows })}`);
