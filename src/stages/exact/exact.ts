import type { OperatorFunction } from 'rxjs';
import { z } from 'zod';
import { dropDecision, type Item } from '../../records/item.js';
import { FifoMapStore } from '../../state/fifo-map-store.js';
import { paramsHash, type Hasher } from '../text/hash.js';
import { normalizeText } from '../text/normalize.js';
import { mapLive, type StageDefinition } from '../stage.js';

export interface ExactOptions {
  /** The stage id written in decisions (default "exact"). */
  readonly id?: string;
  readonly caseFold: boolean;
}

export interface ExactDeps {
  /** normalised-text hash → id of the first document with that text. */
  readonly store: FifoMapStore;
  readonly hasher: Hasher;
}

/**
 * Exact de-duplication: drops a document whose normalised text (see `normalizeText`) hashes to
 * one seen before, keeping the first. 64-bit xxh64 keys: the chance of any false match among
 * n documents is about n²/2⁶⁵ (one in 3.7 million at 10M documents).
 *
 * @example
 * documents$.pipe(exact({ caseFold: false }, { store, hasher }))
 */
export function exact(options: ExactOptions, deps: ExactDeps): OperatorFunction<Item, Item> {
  const stage = options.id ?? 'exact';
  const hash = paramsHash(deps.hasher, { type: 'exact', caseFold: options.caseFold, capacity: deps.store.capacity });
  return mapLive((item) => {
    const key = deps.hasher.h64(normalizeText(item.doc.text, options));
    const first = deps.store.putIfAbsent(key, item.doc.id);
    if (first === undefined) return item;
    return { ...item, drop: dropDecision(item.doc.id, stage, 'duplicate', hash, { duplicate_of: first, similarity: 1 }) };
  });
}

const optionsSchema = z.strictObject({
  caseFold: z.boolean().default(false).describe('lower-case text before hashing'),
  capacity: z.number().int().positive().default(5_000_000).describe('texts remembered; oldest evicted first (~130 B each)'),
});

export const exactStage: StageDefinition<z.infer<typeof optionsSchema>> = {
  type: 'exact',
  summary: 'drop documents whose normalised text was seen before (NFC, whitespace collapsed, xxh64)',
  options: optionsSchema,
  stores: (id) => [`${id}-seen`],
  partitioning: 'text-hash',
  build(id, options, deps) {
    const store = new FifoMapStore({ name: exactStage.stores(id)[0]!, capacity: options.capacity });
    return {
      id, type: 'exact', stores: [store], params: options,
      operator: exact({ id, caseFold: options.caseFold }, { store, hasher: deps.hasher }),
    };
  },
};
