/** One change to a store, as written to its changelog topic (key = store key, null = delete). */
export interface Change {
  readonly key: string;
  readonly value: Buffer | null;
}

/**
 * The contract every stateful stage's store follows (bytewax's snapshot/restore, Kafka Streams'
 * changelogs): state is named, bounded, can be written out whole (`snapshot`) and rebuilt either
 * from a snapshot or by replaying the changes it reported (`drainChanges` → changelog topic →
 * `applyChange`). A restarted worker that replays the committed changelog knows exactly what an
 * uninterrupted one would.
 */
export interface StateStore {
  /** Stable id, used in logs, metrics and the changelog topic name. */
  readonly name: string;
  size(): number;
  /** Estimated bytes of memory held. */
  bytes(): number;
  snapshot(): Buffer;
  restore(snapshot: Buffer): void;
  drainChanges(): Change[];
  applyChange(change: Change): void;
}

export class StoreError extends Error {
  constructor(store: string, message: string) {
    super(`store ${store}: ${message}`);
    this.name = 'StoreError';
  }
}

/** What a store produced since the runner last drained it (changelog records, new embeddings). */
export class Pending<T> {
  private list: T[] = [];

  push(...items: T[]): void {
    this.list.push(...items);
  }

  drain(): T[] {
    const out = this.list;
    this.list = [];
    return out;
  }

  clear(): void {
    this.list = [];
  }
}

/** The changes a store made since the runner last drained them: its changelog's pending tail. */
export class PendingChanges extends Pending<Change> {}

/** A snapshot names the store that wrote it; restoring another store's is refused. */
export function checkSnapshotOwner(store: string, found: unknown): void {
  if (found !== store) throw new StoreError(store, `snapshot is not of this store (found ${String(found)})`);
}
