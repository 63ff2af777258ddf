// The corpora on which online selection is compared with batch D4: the shared corpora as they are,
// and corpora assembled from them (mixes, other orders, injected copies), all deterministic.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '../../src/stages/centroids/vectors.js';

export interface Doc { readonly id: string; readonly text: string }

export interface Corpus {
  readonly name: string;
  /** What it is, in a few words (printed beside the figures). */
  readonly about: string;
  readonly docs: readonly Doc[];
}

/** The project root (this file runs from dist/bench/quality/). */
export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** A file of ../shared/data; fails loudly when it is missing. */
export function sharedData(rel: string): string {
  const p = resolve(root, '..', 'shared', 'data', rel);
  if (!existsSync(p)) throw new Error(`shared data ${p} is missing: the quality evaluation needs ../shared/data beside the project`);
  return p;
}

function jsonl(rel: string): Doc[] {
  return readFileSync(sharedData(rel), 'utf8').split('\n').filter((l) => l.length > 0).map((l) => {
    const o = JSON.parse(l) as { id: string; text: string };
    return { id: o.id, text: o.text };
  });
}

/** MRPC train pairs: UTF-8 BOM, CRLF, columns Quality, #1 ID, #2 ID, #1 String, #2 String. */
export function mrpcPairs(): { quality: number; a: string; b: string; idA: string; idB: string }[] {
  const text = readFileSync(sharedData('mrpc-train.tsv'), 'utf8').replace(/^\uFEFF/, '');
  const rows = text.split(/\r?\n/).slice(1).filter((l) => l.length > 0).map((l) => l.split('\t'));
  return rows.map(([q, idA, idB, a, b]) => ({ quality: Number(q), idA: idA!, idB: idB!, a: a!, b: b! }));
}

/**
 * C4 (1,000) and FineWeb (300) documents in their order, with `pairsPerClass` paraphrase and as
 * many non-paraphrase MRPC pairs (no sentence used twice, no identical pair) inserted at seeded
 * random places, the second member of each pair always after the first: the corpus of
 * test/select-quality.test.ts. `later` maps the id of each pair's later member to its quality.
 */
export function webWithMrpc(pairsPerClass = 150): { docs: Doc[]; later: Map<string, number> } {
  const web = [...jsonl('web/c4-en-1k.jsonl'), ...jsonl('web/fineweb-300.jsonl')];
  const used = new Set<string>();
  const chosen: { quality: number; a: string; b: string }[] = [];
  for (const quality of [1, 0]) {
    for (const p of mrpcPairs()) {
      if (chosen.filter((c) => c.quality === quality).length === pairsPerClass) break;
      if (p.quality !== quality || used.has(p.idA) || used.has(p.idB) || p.a.trim() === p.b.trim()) continue;
      used.add(p.idA).add(p.idB);
      chosen.push(p);
    }
  }
  const rng = new Rng(2023);
  const slots: { at: number; doc: Doc }[] = web.map((doc, i) => ({ at: (i + 0.5) / web.length, doc }));
  const later = new Map<string, number>();
  chosen.forEach((p, i) => {
    const [u, v] = [rng.next(), rng.next()].sort((x, y) => x - y) as [number, number];
    slots.push({ at: u, doc: { id: `mrpc-${i}-a`, text: p.a } }, { at: v, doc: { id: `mrpc-${i}-b`, text: p.b } });
    later.set(`mrpc-${i}-b`, p.quality);
  });
  slots.sort((x, y) => x.at - y.at);
  return { docs: slots.map((s) => s.doc), later };
}

function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  const rng = new Rng(seed);
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/**
 * C4 with copies injected later in the stream: 400 documents re-appear as their middle 60% of
 * words (a different page layout around the same article: MinHash no longer matches, the
 * embedding still does), 100 as exact copies; each copy at a seeded place after its original.
 */
function c4WithCopies(): Doc[] {
  const c4 = jsonl('web/c4-en-1k.jsonl');
  const rng = new Rng(4242);
  const picks = shuffled(c4.map((_, i) => i), 77).slice(0, 500);
  const slots: { at: number; doc: Doc }[] = c4.map((doc, i) => ({ at: i / c4.length, doc }));
  picks.forEach((i, n) => {
    const doc = c4[i]!;
    const at = i / c4.length + rng.next() * (1 - i / c4.length);
    if (n < 100) slots.push({ at, doc: { id: `${doc.id}~copy`, text: doc.text } });
    else {
      const words = doc.text.split(/\s+/).filter((w) => w.length > 0);
      const cut = Math.floor(words.length * 0.2);
      slots.push({ at, doc: { id: `${doc.id}~middle`, text: words.slice(cut, words.length - cut).join(' ') } });
    }
  });
  return slots.sort((x, y) => x.at - y.at).map((s) => s.doc);
}

/**
 * Every line of at least 100 characters of the shared corpora (BBC, C4, FineWeb, CC WET), in file
 * order: ~24,000 real passages, consecutive ones from the same document and documents grouped by
 * source and topic, a stream long enough for the refits after the warm-up (every doubling) to
 * matter, which the document-level corpora (≤ 6,100) barely reach.
 */
function passages(files: readonly Doc[][]): Doc[] {
  return files.flatMap((docs) => docs.flatMap((d) => d.text.split('\n').map((l) => l.trim()).filter((l) => l.length >= 100).map((text, i) => ({ id: `${d.id}#${i}`, text }))));
}

/** Every corpus of the evaluation, smallest first within each kind. */
export function corpora(): Corpus[] {
  const bbc = jsonl('bbc-news-2225.jsonl');
  const c4 = jsonl('web/c4-en-1k.jsonl');
  const fineweb = jsonl('web/fineweb-300.jsonl');
  const ccwet = jsonl('web/cc-wet-697.jsonl');
  const clough = jsonl('plagiarism-clough-100.jsonl');
  const all = [...bbc, ...c4, ...fineweb, ...ccwet, ...clough];
  const lines = passages([bbc, c4, fineweb, ccwet]);
  return [
    { name: 'web+mrpc', about: 'C4 1k + FineWeb 300 + 300 MRPC pairs (test/select-quality)', docs: webWithMrpc().docs },
    { name: 'web', about: 'C4 + FineWeb + CC WET, in file order', docs: [...c4, ...fineweb, ...ccwet] },
    { name: 'bbc', about: 'BBC 2,225 in file order (sorted by category)', docs: bbc },
    { name: 'bbc-shuffled', about: 'BBC 2,225, seeded shuffle', docs: shuffled(bbc, 11) },
    { name: 'c4+copies', about: 'C4 1k + 400 partial and 100 exact copies injected later', docs: c4WithCopies() },
    { name: 'all-blocks', about: 'all shared corpora, one after the other (clough, web, BBC)', docs: [...clough, ...c4, ...fineweb, ...ccwet, ...bbc] },
    { name: 'all-shuffled', about: 'all shared corpora, seeded shuffle', docs: shuffled(all, 5) },
    { name: 'passages', about: 'every line ≥ 100 characters of BBC, C4, FineWeb, CC WET, in file order', docs: lines },
    { name: 'passages-shuffled', about: 'the same passages, seeded shuffle', docs: shuffled(lines, 13) },
  ];
}
