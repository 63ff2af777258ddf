// Unit tests of the metrics' arithmetic: quantiles from buckets, series keys, and what a
// window's event turns into.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bucketBars, bucketsOf, dashboardView, histogramQuantile, parseKey, seriesKey } from './views.js';
import { RunMetrics } from './metrics.js';
import { sampleRegistry } from './server.js';
import { stageFlow, type WindowCommitted } from '../topology/events.js';
import type { Outcomes, Pipeline } from '../topology/pipeline.js';
import { dropDecision, keepDecision, origin, type Item } from '../records/item.js';

// The WindowCommitted event of a window run through a pipeline by hand, as the run loop reports it.
interface WindowFacts {
  readonly pipeline: Pipeline;
  readonly subtopology?: string;
  readonly partition: number;
  /** The pipeline's output items of the window, in input order (one per input record). */
  readonly items: readonly Item[];
  /** Per input record of the window (same order as `items`): its timestamp, epoch ms. */
  readonly timestamps: readonly number[];
  readonly outcomes: Outcomes;
  /** Input records (offsets) the window consumed, markers included. */
  readonly records: number;
  readonly processSeconds: number;
  readonly commitSeconds: number;
  readonly committedAt?: number;
}

/** The WindowCommitted event of a window: per-stage in/out from the decisions, latency timestamps per decision. */
function windowCommitted(f: WindowFacts): WindowCommitted {
  const subtopology = f.subtopology ?? '0';
  const stages = stageFlow(f.pipeline.stages.map((s) => s.id), f.outcomes.decisions, f.outcomes.dead);
  const recordTimestamps: number[] = [];
  f.items.forEach((item, i) => { if (item.kind === 'doc') recordTimestamps.push(f.timestamps[i] ?? NaN); });
  return {
    task: `${subtopology}_${f.partition}`, subtopology, partition: f.partition, records: f.records,
    decisions: f.outcomes.decisions, recordTimestamps, kept: f.outcomes.kept.length, dead: f.outcomes.dead,
    stages, processSeconds: f.processSeconds, commitSeconds: f.commitSeconds, committedAt: f.committedAt ?? Date.now(),
  };
}

test('histogramQuantile interpolates inside the bucket like Prometheus (and says NaN for an empty histogram)', () => {
  // 10 observations: 2 in (0, 1], 6 in (1, 2], 2 in (2, 4].
  const b = [{ le: 1, count: 2 }, { le: 2, count: 8 }, { le: 4, count: 10 }, { le: Infinity, count: 10 }];
  assert.equal(histogramQuantile(b, 0.1), 0.5);
  assert.equal(histogramQuantile(b, 0.5), 1.5);
  assert.equal(histogramQuantile(b, 0.9), 3);
  assert.equal(histogramQuantile(b, 1), 4);
  assert.ok(Number.isNaN(histogramQuantile([{ le: 1, count: 0 }, { le: Infinity, count: 0 }], 0.5)));
  // A rank in +Inf answers the highest finite bound.
  assert.equal(histogramQuantile([{ le: 1, count: 1 }, { le: Infinity, count: 4 }], 0.99), 1);
});

test('series keys round-trip through parseKey, escapes included', () => {
  const labels = { stage: 'near', reason: 'a "quoted"\\ reason' };
  const k = seriesKey('d4_documents_dropped_total', labels);
  assert.equal(k, 'd4_documents_dropped_total{reason="a \\"quoted\\"\\\\ reason",stage="near"}');
  assert.deepEqual(parseKey(k), { name: 'd4_documents_dropped_total', labels });
  assert.deepEqual(parseKey('d4_kept_fraction'), { name: 'd4_kept_fraction', labels: {} });
});

test('bucketBars turns cumulative buckets into per-bucket counts', () => {
  const b = bucketBars([{ le: 1, count: 2 }, { le: 2, count: 8 }, { le: Infinity, count: 9 }]);
  assert.deepEqual(b.counts, [2, 6, 1]);
  assert.deepEqual(b.categories, ['≤ 1', '1–2', '> 2']);
});

const pipeline = { stages: [{ id: 'exact', type: 'exact' }, { id: 'embed', type: 'embed' }, { id: 'semantic', type: 'semantic' }], stores: [] } as unknown as Pipeline;

function doc(id: string, drop?: ReturnType<typeof dropDecision>): Item {
  return { kind: 'doc', seq: 0, origin: origin({}), doc: { id, url: null, fetched_at: null, content_type: null, language: null, text: id, metadata: {} }, ...(drop ? { drop } : {}) };
}

test('a window: per-stage in/out, one latency per decision, drops by stage and reason, dead letters by reason, similarities of semantic drops', async () => {
  const dropExact = dropDecision('b', 'exact', 'duplicate', 'h', { duplicate_of: 'a', similarity: 1 });
  const dropSem = dropDecision('c', 'semantic', 'semantic-duplicate', 'h', { duplicate_of: 'a', similarity: 0.95 });
  const items: Item[] = [doc('a'), doc('b', dropExact), doc('c', dropSem), { kind: 'dead', seq: 3, origin: origin({}), dead: { origin: origin({}), id: 'd', stage: 'embed', error: 'empty-text', message: '', raw: Buffer.alloc(0), raw_size: 0, failed_at: 0 } }];
  const a = items[0] as Extract<Item, { kind: 'doc' }>;
  const o = { decisions: [keepDecision(a, 'h'), dropExact, dropSem], kept: [a.doc], dead: [(items[3] as Extract<Item, { kind: 'dead' }>).dead] };
  const e = windowCommitted({ pipeline, partition: 2, items, timestamps: [1000, 2000, 3000, 4000], outcomes: o, records: 4, processSeconds: 0.1, commitSeconds: 0.02, committedAt: 5000 });
  assert.equal(e.task, '0_2');
  assert.deepEqual(e.recordTimestamps, [1000, 2000, 3000]);
  assert.deepEqual(e.stages.map((s) => [s.stage, s.in, s.out]), [['exact', 4, 3], ['embed', 3, 2], ['semantic', 2, 1]]);

  const m = new RunMetrics(pipeline.stages, { defaultMetrics: false });
  m.windowCommitted(e);
  const v = (await sampleRegistry(m)).v;
  assert.equal(v['d4_documents_in_total'], 4);
  assert.equal(v['d4_documents_kept_total'], 1);
  assert.equal(v['d4_documents_dropped_total{reason="duplicate",stage="exact"}'], 1);
  assert.equal(v['d4_dead_letters_total{reason="empty-text",stage="embed"}'], 1);
  assert.equal(v['d4_input_records_total{partition="2"}'], 4);
  assert.equal(v['d4_kept_fraction'], 1 / 3);
  assert.equal(v['d4_decision_latency_seconds_count'], 3);
  assert.equal(v['d4_decision_latency_seconds_sum'], 4 + 3 + 2);
  assert.equal(histogramQuantile(bucketsOf(v, 'd4_decision_latency_seconds'), 0.5), 2.5, 'rank 1.5 of (2, 3, 4): halfway through the (2, 3] bucket');
  assert.equal(v['d4_semantic_duplicate_similarity_count{stage="semantic"}'], 1);
  const page = dashboardView([{ t: 0, v }], 'test');
  assert.equal(page.stats.find((s) => s.id === 'documents_in')!.value, 4);
  assert.ok(page.charts.some((c) => c.id === 'similarity_semantic'));
  assert.equal(m.isReady(), false);
  m.ready();
  assert.equal(m.isReady(), true);
  m.finished(true);
  assert.equal(m.isReady(), false);
});

test('embed counters (cumulative) become increments: model calls vs store hits, tokens', async () => {
  const m = new RunMetrics([], { defaultMetrics: false });
  m.stageReport({ task: '0_0', stage: 'embed', report: { kind: 'embed', embedded: 10, cache_hits: 5, tokens: 1000, model: { texts: 10, batches: 2, tokens: 1000, paddedTokens: 1250 } } });
  m.stageReport({ task: '0_0', stage: 'embed', report: { kind: 'embed', embedded: 12, cache_hits: 9, tokens: 1300, model: { texts: 12, batches: 3, tokens: 1300, paddedTokens: 1650 } } });
  const v = (await sampleRegistry(m)).v;
  assert.equal(v['d4_embed_documents_total{source="model",stage="embed"}'], 12);
  assert.equal(v['d4_embed_documents_total{source="store",stage="embed"}'], 9);
  assert.equal(v['d4_embed_tokens_total{stage="embed"}'], 1300);
  assert.equal(v['d4_embed_model_batches_total{stage="embed"}'], 3);
  assert.equal(v['d4_embed_batch_texts{stage="embed"}'], 2, 'the last window: 2 texts in 1 batch');
  assert.equal(v['d4_embed_batch_fill_ratio{stage="embed"}'], 300 / 400);
});

test('prototype reports set the target and R_proto gauges; the cluster-size histogram is recomputed from the prototype\'s decisions', async () => {
  const m = new RunMetrics([{ id: 'prototype', type: 'prototype' }], { defaultMetrics: false });
  m.stageReport({ task: '0', stage: 'prototype', report: { kind: 'prototype', targetRatio: 0.25, protoFraction: 0.5, centroidVersion: 3, k: 7 } });
  const drop = dropDecision('x', 'prototype', 'prototypical', 'h', { cluster: 1, distance: 0.1 });
  const keep = { ...dropDecision('y', 'final', 'kept', 'h', { cluster: 1, distance: 0.4 }), keep: true };
  m.windowCommitted({ task: '0_0', subtopology: '0', partition: 0, records: 2, decisions: [drop, keep], recordTimestamps: [0, 0], kept: 1, dead: [], stages: [], processSeconds: 0, commitSeconds: 0, committedAt: 0 });
  const v = (await sampleRegistry(m)).v;
  assert.equal(v['d4_target_kept_fraction{stage="prototype"}'], 0.25);
  assert.equal(v['d4_centroid_version{stage="prototype"}'], 3);
  assert.equal(v['d4_cluster_size_documents_count{stage="prototype",when="before"}'], 1, 'one cluster');
  assert.equal(v['d4_cluster_size_documents_sum{stage="prototype",when="before"}'], 2);
  assert.equal(v['d4_cluster_size_documents_sum{stage="prototype",when="after"}'], 1);
});

test('time per stage: stageFlow carries each stage\'s seconds into d4_stage_seconds_total and the dashboard\'s rate chart; broker outages are counted with their duration', async () => {
  const m = new RunMetrics(pipeline.stages, { defaultMetrics: false });
  const window = (t: readonly number[]) => ({
    task: '0_0', subtopology: '0', partition: 0, records: 0, decisions: [], recordTimestamps: [], kept: 0, dead: [], processSeconds: 0, commitSeconds: 0, committedAt: 0,
    stages: stageFlow(['exact', 'embed', 'semantic'], [], [], 0, [{ stage: 'exact', seconds: t[0]! }, { stage: 'embed', seconds: t[1]! }, { stage: 'semantic', seconds: t[2]! }]),
  });
  const first = (await sampleRegistry(m)).v;
  assert.equal(first['d4_stage_seconds_total{stage="embed"}'], 0, 'declared at 0 before any window');
  assert.equal(first['d4_broker_down'], 0);
  m.windowCommitted(window([0.25, 1.5, 0.25]));
  m.windowCommitted(window([0.25, 0.5, 0.25]));
  m.brokerOutage({ state: 'down', seconds: 0 });
  const down = await sampleRegistry(m);
  assert.equal(down.v['d4_stage_seconds_total{stage="embed"}'], 2);
  assert.equal(down.v['d4_stage_seconds_total{stage="exact"}'], 0.5);
  assert.equal(down.v['d4_broker_down'], 1);
  assert.equal(down.v['d4_broker_outages_total'], 1);
  m.brokerOutage({ state: 'up', seconds: 12.5 });
  const up = (await sampleRegistry(m)).v;
  assert.equal(up['d4_broker_down'], 0);
  assert.equal(up['d4_broker_outage_seconds_total'], 12.5);
  // Two samples 4 s apart: embed used 2 of those seconds.
  const page = dashboardView([{ t: 0, v: first }, { t: 4000, v: up }], 'test');
  const chart = page.charts.find((c) => c.id === 'stage_time')!;
  assert.deepEqual(chart.series.find((s) => s.label === 'embed')!.values, [null, 0.5]);
  assert.equal(page.stats.find((s) => s.id === 'broker')!.value, 'up');
  assert.equal(page.stats.find((s) => s.id === 'broker_outages')!.value, 1);
});
