import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { FeedBatch } from '../feed/index.js';
import { sumBy, type ChartView, type PageView, type Sample } from './views.js';

/** `d4 feed --serve --metrics-port`: what the training feed has served. */
export class FeedMetrics {
  readonly registry = new Registry();
  phase: 'serving' | 'stopped' = 'serving';
  readonly startedAt = Date.now();
  private readonly batches: Counter<string>;
  private readonly documents: Counter<string>;
  private readonly tokens: Counter<string>;
  private readonly active: Gauge<string>;
  private readonly epoch: Gauge<string>;

  constructor() {
    const r = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.batches = new Counter({ name: 'd4_feed_batches_total', help: 'Batches sent to trainers', registers: r });
    this.documents = new Counter({ name: 'd4_feed_documents_total', help: 'Documents sent to trainers', registers: r });
    this.tokens = new Counter({ name: 'd4_feed_tokens_total', help: 'Tokens (estimated) sent to trainers', registers: r });
    this.active = new Gauge({ name: 'd4_feed_requests_active', help: 'Feeds being served right now', registers: r });
    this.epoch = new Gauge({ name: 'd4_feed_epoch', help: 'Epoch of the last batch sent', registers: r });
  }

  isReady(): boolean {
    return this.phase === 'serving';
  }

  /** Counts what a feed yields, batch by batch, without changing it. */
  async *count(feed: AsyncGenerator<FeedBatch>): AsyncGenerator<FeedBatch> {
    this.active.inc();
    try {
      for await (const b of feed) {
        this.batches.inc();
        this.documents.inc(b.documents.length);
        this.tokens.inc(b.tokens);
        this.epoch.set(b.epoch);
        yield b;
      }
    } finally {
      this.active.dec();
    }
  }
}

/** The feed's dashboard: documents and tokens per second, feeds being served. */
export function feedView(samples: readonly Sample[], subtitle: string): PageView {
  const x = samples.map((s) => s.t / 1000);
  const get = (s: Sample, name: string) => [...sumBy(s.v, name).values()][0] ?? 0;
  const perSecond = (name: string) => samples.map((s, i) => (i === 0 ? null : (get(s, name) - get(samples[i - 1]!, name)) / Math.max(1e-3, x[i]! - x[i - 1]!)));
  const line = (id: string, title: string, yLabel: string, series: ChartView['series']): ChartView => ({ id, title, kind: 'line', xLabel: 'time', yLabel, x, series, time: true });
  const last = samples.at(-1);
  return {
    title: 'd4stream feed', subtitle,
    stats: last ? [
      { id: 'batches', label: 'batches', value: get(last, 'd4_feed_batches_total') },
      { id: 'documents', label: 'documents', value: get(last, 'd4_feed_documents_total') },
      { id: 'tokens', label: 'tokens', value: get(last, 'd4_feed_tokens_total') },
    ] : [],
    charts: [
      line('feed_rate', 'Documents served', 'documents/s', [{ label: 'documents/s', values: perSecond('d4_feed_documents_total') }]),
      line('feed_tokens', 'Tokens served', 'tokens/s', [{ label: 'tokens/s', values: perSecond('d4_feed_tokens_total') }]),
      line('feed_active', 'Feeds being served', 'requests', [{ label: 'active', values: samples.map((s) => get(s, 'd4_feed_requests_active')) }]),
    ],
  };
}
