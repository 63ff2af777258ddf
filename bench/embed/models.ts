// The model comparison part of `npm run bench:embed`: for every model scripts/setup-model.mjs
// installs, the paraphrase / non-paraphrase separation on MRPC train (mean cosine of the
// paraphrase pairs minus that of the others, and two scale-free figures: ROC AUC and d′), and the
// embed stage's documents/s on C4; and the static model against MiniLM in paired runs.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { from, lastValueFrom, toArray } from 'rxjs';
import { createEmbedder, type ModelEmbedder } from '../../src/io/models/embedder.js';
import { embed, EmbedCounters } from '../../src/stages/embed/embed.js';
import { MemoryEmbeddingStore } from '../../src/stages/embed/memory-embedding-store.js';
import { origin, type DocItem, type Item } from '../../src/records/item.js';

export interface Doc { id: string; text: string }
export interface Pair { paraphrase: boolean; a: string; b: string }

/** MRPC train: UTF-8 BOM, CRLF; Quality, #1 ID, #2 ID, #1 String, #2 String. */
export function mrpcTrain(sharedData: string): Pair[] {
  const text = readFileSync(join(sharedData, 'mrpc-train.tsv'), 'utf8').replace(/^\uFEFF/, '');
  return text.split(/\r?\n/).slice(1).filter((l) => l.length > 0).map((l) => {
    const f = l.split('\t');
    return { paraphrase: f[0] === '1', a: f[3]!, b: f[4]! };
  });
}

const dot = (a: Float32Array, b: Float32Array) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const variance = (xs: number[]) => {
  const m = mean(xs);
  return xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1);
};

/** ROC AUC by ranks (ties get the mean rank). */
function auc(para: number[], non: number[]): number {
  const all = [...para.map((c) => ({ c, p: true })), ...non.map((c) => ({ c, p: false }))].sort((x, y) => x.c - y.c);
  let rankSum = 0;
  for (let i = 0; i < all.length;) {
    let j = i;
    while (j < all.length && all[j]!.c === all[i]!.c) j++;
    const rank = (i + 1 + j) / 2;
    for (let k = i; k < j; k++) if (all[k]!.p) rankSum += rank;
    i = j;
  }
  return (rankSum - (para.length * (para.length + 1)) / 2) / (para.length * non.length);
}

export interface Separation {
  readonly pairs: number;
  readonly paraphrase: number;
  readonly nonParaphrase: number;
  /** mean cosine of paraphrase pairs − mean cosine of non-paraphrase pairs */
  readonly separation: number;
  readonly auc: number;
  /** separation / pooled standard deviation of the cosines: comparable across models whose cosines sit in different ranges */
  readonly dPrime: number;
  readonly sentencesPerS: number;
}

export async function separation(e: ModelEmbedder, pairs: Pair[]): Promise<Separation> {
  const t0 = process.hrtime.bigint();
  const out = await e.embed(pairs.flatMap((p) => [p.a, p.b]));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cos = pairs.map((p, i) => ({ p: p.paraphrase, c: dot(out[2 * i]!.values, out[2 * i + 1]!.values) }));
  const para = cos.filter((c) => c.p).map((c) => c.c);
  const non = cos.filter((c) => !c.p).map((c) => c.c);
  const sep = mean(para) - mean(non);
  return {
    pairs: pairs.length, paraphrase: mean(para), nonParaphrase: mean(non), separation: sep, auc: auc(para, non),
    dPrime: sep / Math.sqrt((variance(para) + variance(non)) / 2), sentencesPerS: out.length / seconds,
  };
}

/** The embed stage over one buffer of documents with a fresh store: seconds, and every document must come out embedded. */
export async function stageSeconds(e: ModelEmbedder, ds: Doc[]): Promise<number> {
  const input: Item[] = ds.map((d, k): DocItem => ({ kind: 'doc', seq: k, origin: origin({ line: k + 1 }), doc: { id: d.id, url: null, fetched_at: null, content_type: null, language: null, text: d.text, metadata: {} } }));
  const counters = new EmbedCounters();
  const store = new MemoryEmbeddingStore({ name: 'bench', capacity: ds.length + 1 });
  const t0 = process.hrtime.bigint();
  await lastValueFrom(from(input).pipe(embed({ bufferSize: ds.length, maxWaitMs: 1000, maxInFlight: 2 }, { embedder: e, store, counters }), toArray()));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (counters.embedded !== ds.length) throw new Error(`embedded ${counters.embedded} of ${ds.length}`);
  return seconds;
}

/**
 * Paired documents/s of several embedders on the same chunks: per chunk, each embedder in a
 * rotating order; a chunk's time is the best of `rounds`; docs/s = documents / sum of those.
 */
export async function pairedDocsPerS(embedders: ModelEmbedder[], docs: Doc[], chunk: number, rounds: number): Promise<number[]> {
  const chunks = Array.from({ length: Math.ceil(docs.length / chunk) }, (_, i) => docs.slice(i * chunk, (i + 1) * chunk));
  for (const e of embedders) await e.embed(chunks[0]!.slice(0, 8).map((d) => d.text)); // warm-up, untimed
  const best = embedders.map(() => chunks.map(() => Number.POSITIVE_INFINITY));
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < chunks.length; i++) {
      for (let k = 0; k < embedders.length; k++) {
        const j = (k + r + i) % embedders.length;
        best[j]![i] = Math.min(best[j]![i]!, await stageSeconds(embedders[j]!, chunks[i]!));
      }
    }
  }
  return best.map((b) => docs.length / b.reduce((a, x) => a + x, 0));
}

export async function open(model: string): Promise<ModelEmbedder> {
  return createEmbedder({ model });
}
