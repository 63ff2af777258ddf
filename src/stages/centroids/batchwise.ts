import { EMPTY, from, mergeMap, toArray, type OperatorFunction } from 'rxjs';
import type { Item } from '../../records/item.js';

/**
 * Runs `decide` once over a whole batch and re-emits its result, in order.
 *
 * The runner hands the pipeline one finite batch per `process()` call (a file batch, or one
 * Kafka poll), so collecting it costs one batch of delay and no unbounded buffer: the centroids
 * and quantile sketches can take in the whole batch before any document of it is judged. `decide`
 * must return one item per item. A never-ending source emits nothing; an error upstream, or one
 * thrown by `decide`, becomes the error notification.
 */
export function batchwise(decide: (batch: readonly Item[]) => Item[]): OperatorFunction<Item, Item> {
  return (source) => source.pipe(
    toArray(),
    mergeMap((batch) => {
      if (batch.length === 0) return EMPTY;
      const out = decide(batch);
      if (out.length !== batch.length) throw new Error(`a batch of ${batch.length} items gave ${out.length} (one item per item)`);
      return from(out);
    }),
  );
}
