import type { OperatorFunction } from 'rxjs';
import { z } from 'zod';
import { dropDecision, type Item } from '../../records/item.js';
import { LshStore } from '../../state/lsh-store.js';
import { paramsHash, type Hasher } from '../text/hash.js';
import { normalizeText } from '../text/normalize.js';
import { mapLive, type StageDefinition } from '../stage.js';
import { MinHasher } from './minhash.js';
import { Shingler, distinctSorted, type ShingleMode } from './shingles.js';
import { estimateJaccard, exactJaccard, matchingValues } from './similarity.js';
import { bandThreshold, jaccardThreshold } from './lsh.js';

export type Verify = 'estimate' | 'exact';

export interface NearOptions {
  /** The stage id written in decisions (default "near"). */
  readonly id?: string;
  readonly shingle: ShingleMode;
  readonly ngram: number;
  readonly caseFold: boolean;
  /** Smallest similarity of a dropped document to the one it duplicates. */
  readonly threshold: number;
  /** `estimate`: Jaccard estimated from the stored signatures; `exact`: from stored shingle sets. */
  readonly verify: Verify;
  /** Seed of the MinHash permutations; state made with another seed is not comparable. */
  readonly seed: number;
}

export interface NearDeps {
  /** Signatures and band buckets of the documents kept so far (bands × rows come from it). */
  readonly store: LshStore;
  readonly hasher: Hasher;
}

/** What makes two signatures comparable; a store refuses state made under another scheme. */
export function nearScheme(o: Pick<NearOptions, 'shingle' | 'ngram' | 'caseFold' | 'seed'>): string {
  return `minhash4/${o.shingle}${o.ngram}/${o.caseFold ? 'fold' : 'case'}/seed${o.seed}`;
}

/**
 * Near-duplicate removal with MinHash LSH: shingles the normalised text (see `normalizeText`),
 * signs it with bands × rows MinHash values, looks up documents sharing a band, and drops the
 * document when one of those candidates is at least `threshold` similar (estimated Jaccard, or
 * exact Jaccard with `verify: 'exact'`). A bucket collision alone never drops anything. The first
 * document seen survives; duplicates are not stored, kept documents are. When several candidates
 * pass, the most similar (then the oldest) is named as `duplicate_of`.
 *
 * A text with no word character (word shingles) or no character at all is kept and not stored:
 * there is nothing to compare.
 *
 * @example
 * documents$.pipe(near({ shingle: 'word', ngram: 5, caseFold: true, threshold: 0.7, verify: 'estimate', seed: 1 }, { store, hasher }))
 */
export function near(options: NearOptions, deps: NearDeps): OperatorFunction<Item, Item> {
  const stage = options.id ?? 'near';
  const { store } = deps;
  if (store.scheme !== nearScheme(options)) throw new RangeError(`store ${store.name} holds ${store.scheme} signatures, the stage makes ${nearScheme(options)}`);
  if (options.verify === 'exact' && !store.keepShingles) throw new RangeError(`verify: 'exact' needs a store that keeps shingles (store ${store.name} does not)`);
  const hash = paramsHash(deps.hasher, {
    type: 'near', shingle: options.shingle, ngram: options.ngram, caseFold: options.caseFold, threshold: options.threshold,
    verify: options.verify, seed: options.seed, bands: store.bands, rows: store.rows, capacity: store.capacity,
  });
  const shingler = new Shingler({ mode: options.shingle, n: options.ngram });
  const signer = new MinHasher(store.numPerm, options.seed);
  const signature = new Uint32Array(store.words);
  const { words, numPerm } = store;
  const exact = options.verify === 'exact';

  return mapLive((item) => {
    const count = shingler.shingle(prepare(item.doc.text, options));
    if (count === 0) return item;
    signer.sign(shingler.hashes, count, signature);
    const set = exact || store.keepShingles ? distinctSorted(shingler.hashes, count) : undefined;

    const found = store.findCandidates(signature);
    const candidates = store.candidates;
    let best = -1;
    let bestSimilarity = -1;
    for (let i = 0; i < found; i++) {
      const slot = candidates[i]!;
      const similarity = exact
        ? exactJaccard(set!, store.shingles(slot)!)
        : estimateJaccard(matchingValues(signature, 0, store.slab, slot * words, words, numPerm), numPerm);
      if (similarity < options.threshold) continue;
      if (similarity > bestSimilarity || (similarity === bestSimilarity && store.age(slot) > store.age(best))) {
        best = slot;
        bestSimilarity = similarity;
      }
    }
    if (best < 0) {
      store.insert(item.doc.id, signature, set);
      return item;
    }
    return {
      ...item,
      drop: dropDecision(item.doc.id, stage, 'near-duplicate', hash, {
        duplicate_of: store.id(best), similarity: Math.round(bestSimilarity * 1e4) / 1e4, threshold: options.threshold,
      }),
    };
  });
}

/**
 * The shared normalisation (`normalizeText`: NFC, whitespace collapsed, optional case fold). For
 * word shingles every whitespace character already separates words, so collapsing whitespace
 * cannot change a single shingle; it is skipped there because its regular expression costs more
 * than shingling and signing together. near.test.ts checks on real text that both give the same
 * shingles, so the two stages cannot drift apart.
 */
export function prepare(text: string, options: Pick<NearOptions, 'shingle' | 'caseFold'>): string {
  if (options.shingle === 'char') return normalizeText(text, options);
  const nfc = text.normalize('NFC');
  return options.caseFold ? nfc.toLowerCase() : nfc;
}

/**
 * Defaults, chosen by measurement (test/near-quality.test.ts, docs/near.md): 18 × 6 = 108 values
 * put the LSH threshold at p* = (1/18)^(1/6) ≈ 0.62, i.e. J ≈ 0.59, just under the 0.65 check, so
 * pairs the check accepts are almost always found: P[candidate] = 0.96 at J = 0.72 (a page with
 * 7% of its words replaced at each end), 0.998 at J = 0.8, 0.03 at J = 0.3. 14 × 8 (datatrove,
 * J* ≈ 0.70) catches only ~81% of those re-headed pages; 20 × 6 catches ~1 point more for 15 B
 * more state per document.
 */
export const NEAR_DEFAULTS = { bands: 18, rows: 6, threshold: 0.65 } as const;

const optionsSchema = z.strictObject({
  shingle: z.enum(['word', 'char']).default('word').describe('word n-grams (datatrove) or character n-grams (NeMo Curator)'),
  ngram: z.number().int().min(1).max(64).optional().describe('shingle size; default 5 words, or 24 characters'),
  caseFold: z.boolean().default(true).describe('lower-case before shingling'),
  bands: z.number().int().min(1).max(128).default(NEAR_DEFAULTS.bands).describe('LSH bands (b)'),
  rows: z.number().int().min(1).max(32).default(NEAR_DEFAULTS.rows).describe('MinHash values per band (r); b × r values per signature'),
  threshold: z.number().min(0).max(1).default(NEAR_DEFAULTS.threshold).describe('drop when the (estimated) Jaccard similarity to a kept document is at least this'),
  verify: z.enum(['estimate', 'exact']).default('estimate').describe('similarity from the stored signatures, or exact from stored shingle sets (≈4 B per shingle more state)'),
  capacity: z.number().int().positive().max(100_000_000).default(1_000_000).describe('documents remembered; oldest evicted first'),
  seed: z.number().int().default(1).describe('MinHash permutation seed'),
}).transform((o) => ({ ...o, ngram: o.ngram ?? (o.shingle === 'word' ? 5 : 24) }));

const d = NEAR_DEFAULTS;

export const nearStage: StageDefinition<z.infer<typeof optionsSchema>> = {
  type: 'near',
  summary: `drop near-duplicates, first seen survives: word 5-gram MinHash, LSH b × r = ${d.bands} × ${d.rows} `
    + `(candidates above (1/b)^(1/r) = ${bandThreshold(d.bands, d.rows).toFixed(2)}, J ≈ ${jaccardThreshold(d.bands, d.rows).toFixed(2)} with 4-bit values), `
    + `dropped when estimated Jaccard ≥ ${d.threshold}`,
  options: optionsSchema,
  stores: (id) => [`${id}-lsh`],
  partitioning: 'single',
  build(id, options, deps) {
    const store = new LshStore({
      name: nearStage.stores(id)[0]!, capacity: options.capacity, bands: options.bands, rows: options.rows,
      scheme: nearScheme(options), keepShingles: options.verify === 'exact',
    });
    return {
      id, type: 'near', stores: [store], params: options,
      operator: near({ id, ...options }, { store, hasher: deps.hasher }),
    };
  },
};
