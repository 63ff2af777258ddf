import { checkSnapshotOwner, PendingChanges, StoreError, type Change, type StateStore } from './store.js';

/**
 * One small JSON value (counters, a controller's state) as a named store: every `set` is one
 * change under the store's own name, so a compacted changelog holds exactly the latest value.
 */
export class JsonStore<T extends object> implements StateStore {
  private data: T;
  private readonly changes = new PendingChanges();

  constructor(readonly name: string, private readonly initial: T) {
    this.data = structuredClone(initial);
  }

  get value(): Readonly<T> {
    return this.data;
  }

  set(value: T): void {
    this.data = value;
    // One key: only the latest value matters to the changelog.
    this.changes.clear();
    this.changes.push({ key: this.name, value: Buffer.from(JSON.stringify(value)) });
  }

  size(): number {
    return 1;
  }

  bytes(): number {
    return 2 * JSON.stringify(this.data).length + 64;
  }

  snapshot(): Buffer {
    return Buffer.from(JSON.stringify({ store: this.name, value: this.data }));
  }

  restore(snapshot: Buffer): void {
    const parsed = JSON.parse(snapshot.toString('utf8')) as { store?: string; value?: T };
    checkSnapshotOwner(this.name, parsed.store);
    if (parsed.value === undefined) throw new StoreError(this.name, 'snapshot has no value');
    this.data = parsed.value;
    this.changes.clear();
  }

  drainChanges(): Change[] {
    return this.changes.drain();
  }

  applyChange(change: Change): void {
    this.data = change.value === null ? structuredClone(this.initial) : JSON.parse(change.value.toString('utf8')) as T;
  }
}
