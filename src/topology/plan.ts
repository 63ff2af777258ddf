import { stageDefinition } from './registry.js';
import type { StageSpec } from './topology.js';
import type { Partitioning } from '../stages/stage.js';

/**
 * How a topology runs on a partitioned input (Kafka Streams' sub-topologies): the stages are cut
 * wherever the documents must meet in other tasks than the ones they arrived in, and the pieces
 * are joined by internal repartition topics `<app>-<stage>-repartition`, created by the runner.
 *
 *   - sub-topology 0 reads the crawl topic: it decodes (dead letters are written here), stamps
 *     each document with its place in the one order (see `OrderKey`) and runs the leading
 *     stages that run anywhere (`any`);
 *   - a `text-hash` stage (exact) starts a sub-topology fed by a repartition topic keyed by the
 *     normalised-text hash, with as many partitions as the crawl: every copy of a text meets its
 *     first occurrence in the one task that owns the hash;
 *   - a `single` stage (near's index, the centroids and what assigns to them) starts a
 *     single-partition sub-topology: one index sees every document; `single` stages in a row
 *     share it;
 *   - an `any` stage after a `single` one (embed after near) fans out again, keyed by document id.
 *
 * Every sub-topology after the source releases documents to its stages in the crawl order,
 * whatever the interleaving of its input (watermarks, see reorder.ts), so that "first seen" is
 * the same for every number of workers; stages whose decisions depend on the batch (`windowed`:
 * the selection stages) get them in chunks of the window size in that order, so they decide the
 * same too. With one input partition nothing is cut.
 */
export interface Subtopology {
  /** 0, 1, … in data-flow order; tasks are named `<index>_<partition>`. */
  readonly index: number;
  /** The id of its first stage, or `source`. */
  readonly name: string;
  readonly stages: readonly StageSpec[];
  readonly partitioning: Partitioning;
  /** Its input: the crawl topic (sub-topology 0) or an internal repartition topic. */
  readonly input: { readonly topic: string; readonly partitions: number; readonly internal: boolean };
  /** Documents are released to the stages in the crawl order (watermarks from every upstream task). */
  readonly ordered: boolean;
  /** Tasks of the sub-topology before this one (its watermarks' sources); 0 for the first. */
  readonly upstreamTasks: number;
  /** Where live documents go next (absent: the last one, which writes keep decisions and the curated topic). */
  readonly next?: { readonly topic: string; readonly partitions: number; readonly key: 'text-hash' | 'id' | 'single' };
}

export const repartitionTopic = (app: string, stage: string) => `${app}-${stage}-repartition`;

export function planSubtopologies(app: string, source: { topic: string; partitions: number }, stages: readonly StageSpec[]): Subtopology[] {
  const P = source.partitions;
  const groups: { partitioning: Partitioning; stages: StageSpec[] }[] = [{ partitioning: 'any', stages: [] }];
  for (const s of stages) {
    const p = P === 1 ? 'any' : stageDefinition(s.type).partitioning;
    const current = groups.at(-1)!;
    const joins = p === 'any' ? current.partitioning !== 'single' : p === 'single' && current.partitioning === 'single';
    if (joins) current.stages.push(s);
    else groups.push({ partitioning: p, stages: [s] });
  }
  const out: Subtopology[] = [];
  groups.forEach((g, i) => {
    const name = i === 0 ? 'source' : g.stages[0]!.id;
    const partitions = g.partitioning === 'single' ? 1 : P;
    const nextGroup = groups[i + 1];
    out.push({
      index: i, name, stages: g.stages, partitioning: g.partitioning,
      input: i === 0 ? { topic: source.topic, partitions: P, internal: false } : { topic: repartitionTopic(app, name), partitions, internal: true },
      ordered: i > 0,
      upstreamTasks: i === 0 ? 0 : out[i - 1]!.input.partitions,
      ...(nextGroup ? {
        next: {
          topic: repartitionTopic(app, nextGroup.stages[0]!.id),
          partitions: nextGroup.partitioning === 'single' ? 1 : P,
          key: nextGroup.partitioning === 'any' ? 'id' as const : nextGroup.partitioning === 'single' ? 'single' as const : 'text-hash' as const,
        },
      } : {}),
    });
  });
  return out;
}

/** Kafka Streams' task id. */
export const taskId = (subtopology: number, partition: number) => `${subtopology}_${partition}`;
