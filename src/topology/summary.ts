import type { Outcomes, StageSeconds } from './pipeline.js';

/**
 * Running counts of a curation run. `in` always equals kept + dropped + dead-lettered; the
 * summary says so, and says loudly when it does not.
 */
export class Summary {
  in = 0;
  kept = 0;
  dropped = new Map<string, number>();
  dead = new Map<string, number>();
  /** Wall time per stage, summed over windows (stages of every task that ran here). */
  stageSeconds = new Map<string, number>();
  private readonly started = process.hrtime.bigint();

  /** Counts a window's outcomes (its decisions and dead letters). */
  add(o: Pick<Outcomes, 'decisions' | 'dead'> & { readonly stageSeconds?: readonly StageSeconds[] }): void {
    this.in += o.decisions.length + o.dead.length;
    for (const t of o.stageSeconds ?? []) this.stageSeconds.set(t.stage, (this.stageSeconds.get(t.stage) ?? 0) + t.seconds);
    for (const d of o.decisions) {
      if (d.keep) this.kept++;
      else {
        const k = `${d.stage}: ${d.reason}`;
        this.dropped.set(k, (this.dropped.get(k) ?? 0) + 1);
      }
    }
    for (const d of o.dead) this.dead.set(d.error, (this.dead.get(d.error) ?? 0) + 1);
  }

  get droppedTotal(): number {
    return [...this.dropped.values()].reduce((a, b) => a + b, 0);
  }

  get deadTotal(): number {
    return [...this.dead.values()].reduce((a, b) => a + b, 0);
  }

  get seconds(): number {
    return Number(process.hrtime.bigint() - this.started) / 1e9;
  }

  balanced(): boolean {
    return this.in === this.kept + this.droppedTotal + this.deadTotal;
  }

  toJSON() {
    return {
      in: this.in, kept: this.kept, dropped: Object.fromEntries(this.dropped), dropped_total: this.droppedTotal,
      dead_lettered: Object.fromEntries(this.dead), dead_lettered_total: this.deadTotal,
      seconds: Number(this.seconds.toFixed(3)), docs_per_s: Math.round(this.in / Math.max(this.seconds, 1e-9)),
      stage_seconds: Object.fromEntries([...this.stageSeconds].map(([k, v]) => [k, Number(v.toFixed(3))])),
    };
  }

  format(): string {
    const pct = (n: number) => (this.in ? `${((100 * n) / this.in).toFixed(1)}%` : '-');
    const w = String(this.in).length;
    const row = (label: string, n: number) => `  ${label.padEnd(34)} ${String(n).padStart(w)}  ${pct(n).padStart(6)}`;
    const lines = [
      row('documents in', this.in),
      row('kept', this.kept),
      row('dropped', this.droppedTotal),
      ...[...this.dropped].sort().map(([k, n]) => row(`  ${k}`, n)),
      row('dead-lettered', this.deadTotal),
      ...[...this.dead].sort().map(([k, n]) => row(`  ${k}`, n)),
      `  ${'throughput'.padEnd(34)} ${Math.round(this.in / Math.max(this.seconds, 1e-9))} documents/s (${this.seconds.toFixed(2)} s)`,
    ];
    const staged = [...this.stageSeconds].reduce((a, [, v]) => a + v, 0);
    if (staged > 0) {
      const share = (v: number) => `${Math.round((100 * v) / staged)}%`;
      lines.push(`  ${'time per stage'.padEnd(34)} ${[...this.stageSeconds].map(([k, v]) => `${k} ${v < 10 ? v.toFixed(2) : v.toFixed(0)} s (${share(v)})`).join(', ')}`);
    }
    if (!this.balanced()) lines.push(`  ERROR: in (${this.in}) != kept + dropped + dead-lettered`);
    return lines.join('\n');
  }
}
