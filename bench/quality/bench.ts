// npm run bench:quality [-- --seeds 42,7,1 --batch-size 256 --target-ratio 0.25 --corpus bbc,web --set prototype.halfLife=0]
//
// Per corpus: Jaccard of the kept sets, online (d4 curate's stages, in batches) vs batch D4
// (d4 batch), beside batch vs batch under another seed (the reference measured in the same run)
// and chance; the kept fractions. Ends with one JSON line `quality {...}`. Never fails on figures.
import { corpora } from './corpora.js';
import { agreement, openTools, prepare, type Agreement } from './agreement.js';
import { benchArgs, fail, numberArg, numberListArg } from '../args.js';

const USAGE = `
npm run bench:quality [-- options]

Per corpus: Jaccard of the kept sets, online (d4 curate's stages) vs batch D4 (d4 batch), beside
batch vs batch under another seed, and chance. Never fails on figures; the last line is JSON.

  --seeds N,N,N          seeds (default 42,7,1)
  --batch-size N         online batch size (default 256)
  --target-ratio R       kept fraction (default 0.25)
  --corpus A,B           only these corpora (default all)
  --set stage.opt=v      a stage option for every run (repeatable)
  --variant name=stage.opt=v;stage.opt=v
                         another parameter set compared on the same corpora (repeatable)`;
const args = benchArgs(USAGE, {
  seeds: { type: 'string', default: '42,7,1' }, 'batch-size': { type: 'string', default: '256' }, 'target-ratio': { type: 'string', default: '0.25' },
  corpus: { type: 'string', default: '' }, set: { type: 'string', multiple: true }, variant: { type: 'string', multiple: true },
});
const sets = args.set ?? [];
const variants = (args.variant ?? []).map((v) => {
  const eq = v.indexOf('=');
  if (eq <= 0) fail(USAGE, `--variant must be name=stage.opt=v;..., got '${v}'`);
  return { name: v.slice(0, eq), set: [...sets, ...v.slice(eq + 1).split(';').filter((x) => x.length > 0)] };
});

const seeds = numberListArg(USAGE, 'seeds', args.seeds, { min: 0, integer: true });
const batchSize = numberArg(USAGE, 'batch-size', args['batch-size'], { min: 1, integer: true });
const targetRatio = numberArg(USAGE, 'target-ratio', args['target-ratio'], { min: 0 });
if (!(targetRatio > 0 && targetRatio <= 1)) fail(USAGE, `--target-ratio must be in (0, 1], got ${targetRatio}`);
const only = args.corpus.split(',').filter((s) => s.length > 0);
const corpusNames = corpora().map((c) => c.name);
const unknown = only.filter((name) => !corpusNames.includes(name));
if (unknown.length) fail(USAGE, `no corpus ${unknown.join(', ')}; the corpora: ${corpusNames.join(', ')}`);

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
