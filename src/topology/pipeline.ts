import { from, lastValueFrom, toArray, type OperatorFunction } from 'rxjs';
import { keepDecision, type CrawledDocument, type DeadLetter, type Decision, type Item } from '../records/item.js';
import type { BuiltStage } from '../stages/stage.js';
import type { StateStore } from '../state/store.js';
import { paramsHash, type Hasher } from '../stages/text/hash.js';

/** Wall time one stage spent on a batch. */
export interface StageSeconds {
  readonly stage: string;
  readonly seconds: number;
}

/** The stages of a run composed into one operator, with everything the runner needs around it. */
export interface Pipeline {
  readonly stages: readonly BuiltStage[];
  readonly stores: readonly StateStore[];
  /** Hash of every stage's parameters: the params_hash of keep decisions. */
  readonly paramsHash: string;
  readonly operator: OperatorFunction<Item, Item>;
  /** Runs one batch through every stage; resolves with one item per input item, in order. */
  process(batch: readonly Item[]): Promise<Item[]>;
  /** The same, stage after stage over the whole batch, with each stage's wall time (seconds; model calls included). */
  processTimed(batch: readonly Item[]): Promise<{ items: Item[]; stageSeconds: StageSeconds[] }>;
  close(): Promise<void>;
}

export function composePipeline(stages: readonly BuiltStage[], hasher: Hasher): Pipeline {
  const operator = (source: import('rxjs').Observable<Item>) =>
    stages.reduce((s, stage) => s.pipe(stage.operator), source);
  const hash = paramsHash(hasher, stages.map((s) => ({ id: s.id, type: s.type, params: s.params })));
  // Stage after stage (each over the whole batch): the same items as the composed operator, and the time of each.
  const processTimed = async (batch: readonly Item[]): Promise<{ items: Item[]; stageSeconds: StageSeconds[] }> => {
    let items: Item[] = [...batch];
    const stageSeconds: StageSeconds[] = [];
    for (const stage of stages) {
      const t0 = performance.now();
      items = await lastValueFrom(from(items).pipe(stage.operator, toArray()), { defaultValue: [] });
      stageSeconds.push({ stage: stage.id, seconds: (performance.now() - t0) / 1000 });
      if (items.length !== batch.length) {
        throw new Error(`pipeline invariant broken: ${batch.length} items in, ${items.length} out of stage ${stage.id} (a stage must emit one item per item)`);
      }
    }
    return { items, stageSeconds };
  };
  return {
    stages,
    stores: stages.flatMap((s) => s.stores),
    paramsHash: hash,
    operator,
    process: async (batch) => (await processTimed(batch)).items,
    processTimed,
    async close() {
      for (const s of stages) await s.close?.();
    },
  };
}

/** What a processed batch writes: one decision per document, the kept documents, the dead letters. */
export interface Outcomes {
  readonly decisions: Decision[];
  readonly kept: CrawledDocument[];
  readonly dead: DeadLetter[];
}

export function outcomes(items: readonly Item[], keepParamsHash: string, now: number = Date.now()): Outcomes {
  const decisions: Decision[] = [];
  const kept: CrawledDocument[] = [];
  const dead: DeadLetter[] = [];
  for (const item of items) {
    if (item.kind === 'dead') dead.push(item.dead);
    else if (item.drop) decisions.push(item.drop);
    else {
      decisions.push(keepDecision(item, keepParamsHash, item.evidence ?? {}, now));
      kept.push(item.doc);
    }
  }
  return { decisions, kept, dead };
}
