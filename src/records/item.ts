import type { CrawledDocument, Decision, DeadLetter, Origin } from './schemas.generated.js';

export type { CrawledDocument, Decision, DeadLetter, Origin, Embedding, CentroidSnapshot, EmbeddedDocument } from './schemas.generated.js';

/** A unit-length embedding carried beside its document through the selection stages. */
export interface Vector {
  readonly model: string;
  readonly pooling: string;
  readonly dtype: string;
  readonly values: Float32Array;
  readonly tokens: number;
  readonly truncated: boolean;
  /** true when it came from the embeddings store instead of the model. */
  readonly cached: boolean;
}

/**
 * What flows between stages: every input record becomes exactly one Item and stays one, in input
 * order, so that `in = kept + dropped + dead-lettered` holds by construction. A stage only ever
 * looks at live documents (no `drop`), and marks a drop by returning a copy with `drop` set.
 */
export type Item = DocItem | DeadItem;

export interface DocItem {
  readonly kind: 'doc';
  /** Position in the input (0-based), used for ordering and progress. */
  readonly seq: number;
  readonly origin: Origin;
  readonly doc: CrawledDocument;
  /** Set by the stage that dropped the document; keep decisions are made at the end. */
  readonly drop?: Decision;
  /** Evidence for the keep decision, from the last stage that judged the document (e.g. its cluster and distance). */
  readonly evidence?: Evidence;
  readonly vector?: Vector;
  /** Per-item facts a later stage or the summary may want (e.g. truncation), never decisions. */
  readonly notes?: Readonly<Record<string, string | number | boolean>>;
}

export interface DeadItem {
  readonly kind: 'dead';
  readonly seq: number;
  readonly origin: Origin;
  readonly dead: DeadLetter;
}

export const isLive = (item: Item): item is DocItem & { drop: undefined } => item.kind === 'doc' && item.drop === undefined;

export function origin(partial: Partial<Origin>): Origin {
  return { topic: null, partition: null, offset: null, file: null, line: null, ...partial };
}

/** Evidence fields of a Decision; the ones a stage does not set are null. */
export type Evidence = Partial<Pick<Decision, 'duplicate_of' | 'similarity' | 'cluster' | 'centroid_version' | 'distance' | 'threshold'>>;

export function dropDecision(id: string, stage: string, reason: string, paramsHash: string, evidence: Evidence, now: number = Date.now()): Decision {
  return {
    id, keep: false, stage, reason,
    duplicate_of: evidence.duplicate_of ?? null,
    similarity: evidence.similarity ?? null,
    cluster: evidence.cluster ?? null,
    centroid_version: evidence.centroid_version ?? null,
    distance: evidence.distance ?? null,
    threshold: evidence.threshold ?? null,
    params_hash: paramsHash,
    decided_at: now,
  };
}

export function keepDecision(item: DocItem, paramsHash: string, evidence: Evidence = {}, now: number = Date.now()): Decision {
  return { ...dropDecision(item.doc.id, 'final', 'kept', paramsHash, evidence, now), keep: true };
}

/** Dead letters keep at most this many raw bytes (the size of the whole record is in raw_size). */
export const RAW_BYTES_KEPT = 64 * 1024;

export function deadLetter(o: Origin, stage: string, error: string, message: string, raw: Buffer, id: string | null = null, rawSize = raw.length): DeadLetter {
  return { origin: o, id, stage, error, message, raw: raw.length > RAW_BYTES_KEPT ? raw.subarray(0, RAW_BYTES_KEPT) : raw, raw_size: rawSize, failed_at: Date.now() };
}
