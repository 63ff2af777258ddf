import { checkSnapshotOwner, PendingChanges, StoreError, type Change, type StateStore } from '../../state/store.js';
import { HistogramSketch } from './histogram-sketch.js';

type SketchJson = ReturnType<HistogramSketch['toJSON']>;

/**
 * The distance sketches of the prototype stage: one per cluster and one over all clusters
 * (`global`), sharing a decay clock (in half-lives of documents). Changelog: key = cluster number
 * or `global` (the sketch's bytes, sparse bins: HistogramSketch.toBytes; its format 1 of 2026-12-03 and the JSON written before are read too), `clock`; null when a sketch is dropped (after
 * the warm-up fit, every sketch is rebuilt).
 *
 * Memory: 8 KB per cluster that has seen a document (8 MB at k = 1,000).
 */
export class SketchStore implements StateStore {
  private clusters: (HistogramSketch | undefined)[] = [];
  private globalSketch = new HistogramSketch();
  private clockValue = 0;
  private touched = new Set<string>();
  private readonly changes = new PendingChanges();

  constructor(readonly name: string) {}

  /** The sketch over all clusters. */
  get global(): HistogramSketch {
    return this.globalSketch;
  }

  get clock(): number {
    return this.clockValue;
  }

  /** Advances the decay clock by `halfLives`. */
  tick(halfLives: number): void {
    if (halfLives > 0) {
      this.clockValue += halfLives;
      this.touched.add('clock');
    }
  }

  cluster(j: number): HistogramSketch | undefined {
    return this.clusters[j];
  }

  add(cluster: number, distance: number, weight = 1): void {
    let s = this.clusters[cluster];
    if (!s) {
      s = new HistogramSketch();
      s.at = this.clockValue;
      this.clusters[cluster] = s;
    }
    s.decayTo(this.clockValue);
    s.add(distance, weight);
    this.globalSketch.decayTo(this.clockValue);
    this.globalSketch.add(distance, weight);
    this.touched.add(String(cluster));
    this.touched.add('global');
  }

  /** Drops every sketch (the clusters changed meaning). */
  clear(): void {
    this.clusters.forEach((s, j) => { if (s) this.changes.push({ key: String(j), value: null }); });
    this.clusters = [];
    this.globalSketch = HistogramSketch.fromJSON({ at: this.clockValue, n: 0, total: 0, bins: [] });
    this.touched.add('global');
  }

  /** Records the changes of this batch (one per touched sketch). */
  flush(): void {
    for (const key of [...this.touched].sort()) {
      const value = key === 'clock' ? Buffer.from(JSON.stringify({ clock: this.clockValue })) : (key === 'global' ? this.global : this.clusters[Number(key)])?.toBytes();
      this.changes.push({ key, value: value ?? null });
    }
    this.touched.clear();
  }

  size(): number {
    return this.clusters.filter(Boolean).length;
  }

  bytes(): number {
    return (this.size() + 1) * (8 * 1000 + 100);
  }

  snapshot(): Buffer {
    const clusters: [number, SketchJson][] = [];
    this.clusters.forEach((s, j) => { if (s) clusters.push([j, s.toJSON()]); });
    return Buffer.from(JSON.stringify({ store: this.name, clock: this.clockValue, global: this.global.toJSON(), clusters }));
  }

  restore(snapshot: Buffer): void {
    const p = JSON.parse(snapshot.toString('utf8')) as { store?: string; clock: number; global: SketchJson; clusters: [number, SketchJson][] };
    checkSnapshotOwner(this.name, p.store);
    this.clockValue = p.clock;
    this.setGlobal(p.global);
    this.clusters = [];
    for (const [j, s] of p.clusters) this.clusters[j] = HistogramSketch.fromJSON(s);
    this.touched.clear();
    this.changes.clear();
  }

  drainChanges(): Change[] {
    return this.changes.drain();
  }

  applyChange(change: Change): void {
    const v = change.value;
    if (change.key === 'clock') this.clockValue = v === null ? 0 : (JSON.parse(v.toString('utf8')) as { clock: number }).clock;
    else if (change.key === 'global') this.globalSketch = v === null ? new HistogramSketch() : this.decode(v, change.key);
    else {
      const j = Number(change.key);
      if (!Number.isInteger(j)) throw new StoreError(this.name, `unknown changelog key ${change.key}`);
      this.clusters[j] = v === null ? undefined : this.decode(v, change.key);
    }
  }

  private decode(value: Buffer, key: string): HistogramSketch {
    try {
      return HistogramSketch.fromBytes(value);
    } catch (e) {
      throw new StoreError(this.name, `changelog key ${key}: ${(e as Error).message}`);
    }
  }

  private setGlobal(j: SketchJson): void {
    this.globalSketch = HistogramSketch.fromJSON(j);
  }
}
