import { StoreError, type Change, type StateStore } from './store.js';

/**
 * One small JSON value (counters, a controller's state) as a named store: every `set` is one
 * change under the store's own name, so a compacted changelog holds exactly the latest value.
 */
export class JsonStore<T extends object> implements StateStore {
  private data: T;
  private changes: Change[] = [];

  constructor(readonly name: string, private readonly initial: T) {
    this.data = structuredClone(initial);
  }

  get value(): Readonly<T> {
    return this.data;
  }

  set(value: T): void {
    this.data = value;
    this.changes = [{ key: this.name, value: Buffer.from(JSON.stringify(value)) }];
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
    if (parsed.store !== this.name || parsed.value === undefined) throw new StoreError(this.name, `snapshot is not of this store (found ${String(parsed.store)})`);
    this.data = parsed.value;
    this.changes = [];
  }

  drainChanges(): Change[] {
    const out = this.changes;
    this.changes = [];
    return out;
  }

  applyChange(change: Change): void {
    this.data = change.value === null ? structuredClone(this.initial) : JSON.parse(change.value.toString('utf8')) as T;
  }
}
