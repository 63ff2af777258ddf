// What the dashboard and the report draw, as data: charts (x values and named series) and
// headline figures. Built in Node from the metrics registry's samples (dashboard) or from a run's
// output files (report), and drawn in the browser by one renderer (page.ts), so that both pages
// show the same plots and the tests can compare their figures with the run's summary.

/** One chart: `x` and every series have the same length; `categories` labels bar charts' x positions. */
export interface ChartView {
  readonly id: string;
  readonly title: string;
  readonly kind: 'line' | 'bars';
  readonly xLabel: string;
  readonly yLabel: string;
  readonly x: readonly number[];
  readonly categories?: readonly string[];
  readonly series: readonly { readonly label: string; readonly values: readonly (number | null)[] }[];
  /** x is epoch seconds (a time axis). */
  readonly time?: boolean;
  readonly note?: string;
}

export interface StatView {
  readonly id: string;
  readonly label: string;
  readonly value: number | string;
}

export interface PageView {
  readonly title: string;
  readonly subtitle: string;
  readonly stats: readonly StatView[];
  readonly charts: readonly ChartView[];
}

/** A metrics sample: series key (`name{label="v",...}`, as in the text format) → value, at `t` (epoch ms). */
export interface Sample {
  readonly t: number;
  readonly v: Readonly<Record<string, number>>;
}

/** Splits `name{a="x",b="y"}` into its name and labels. */
export function parseKey(key: string): { name: string; labels: Record<string, string> } {
  const i = key.indexOf('{');
  if (i < 0) return { name: key, labels: {} };
  const labels: Record<string, string> = {};
  for (const m of key.slice(i + 1, -1).matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[m[1]!] = m[2]!.replace(/\\(.)/g, (_s, c: string) => (c === 'n' ? '\n' : c));
  return { name: key.slice(0, i), labels };
}

export function seriesKey(name: string, labels: Readonly<Record<string, string | number>>): string {
  const ks = Object.keys(labels).sort();
  if (ks.length === 0) return name;
  return `${name}{${ks.map((k) => `${k}="${String(labels[k]).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',')}}`;
}

/** Cumulative histogram buckets (upper bound → count of observations ≤ it), `+Inf` included. */
export type Buckets = readonly { readonly le: number; readonly count: number }[];

/** The buckets of histogram `name` whose other labels match `match`, from a sample's values. */
export function bucketsOf(v: Readonly<Record<string, number>>, name: string, match: Readonly<Record<string, string>> = {}): Buckets {
  const out: { le: number; count: number }[] = [];
  for (const [k, value] of Object.entries(v)) {
    const { name: n, labels } = parseKey(k);
    if (n !== `${name}_bucket`) continue;
    if (Object.entries(match).some(([lk, lv]) => labels[lk] !== lv)) continue;
    const le = labels['le'] === '+Inf' ? Infinity : Number(labels['le']);
    const same = out.find((b) => b.le === le);
    if (same) same.count += value;
    else out.push({ le, count: value });
  }
  return out.sort((a, b) => a.le - b.le);
}

/**
 * The q-quantile of a histogram as Prometheus' histogram_quantile() computes it: linear
 * interpolation inside the bucket that holds the rank (from 0 for the first bucket); a rank in
 * the +Inf bucket answers the highest finite bound. NaN when the histogram is empty.
 */
export function histogramQuantile(buckets: Buckets, q: number): number {
  const total = buckets.at(-1)?.count ?? 0;
  if (total === 0) return NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of buckets) {
    if (b.count >= rank) {
      if (b.le === Infinity) return prevLe;
      if (b.count === prevCount) return b.le;
      return prevLe + ((b.le - prevLe) * (rank - prevCount)) / (b.count - prevCount);
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return prevLe;
}

/** Per-bucket (not cumulative) counts as bars, labelled by their range. */
export function bucketBars(buckets: Buckets, format: (x: number) => string = (x) => String(x)): { categories: string[]; counts: number[] } {
  const categories: string[] = [];
  const counts: number[] = [];
  let prev: number | undefined;
  let prevCount = 0;
  for (const b of buckets) {
    categories.push(b.le === Infinity ? `> ${format(prev ?? 0)}` : prev === undefined ? `≤ ${format(b.le)}` : `${format(prev)}–${format(b.le)}`);
    counts.push(b.count - prevCount);
    prev = b.le;
    prevCount = b.count;
  }
  return { categories, counts };
}

/** Sum of every series of metric `name` (any labels) in a sample, grouped by the value of label `by` (or '' when absent). */
export function sumBy(v: Readonly<Record<string, number>>, name: string, by?: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, value] of Object.entries(v)) {
    const { name: n, labels } = parseKey(k);
    if (n !== name) continue;
    const g = by ? labels[by] ?? '' : '';
    out.set(g, (out.get(g) ?? 0) + value);
  }
  return out;
}

const total = (v: Readonly<Record<string, number>>, name: string) => [...sumBy(v, name).values()].reduce((a, b) => a + b, 0);
const round = (x: number, digits = 3) => (Number.isFinite(x) ? Number(x.toFixed(digits)) : 'n/a');

/** Headline figures, the same ones for the dashboard and the bench (they read one histogram). */
export function headline(v: Readonly<Record<string, number>>): StatView[] {
  const lat = bucketsOf(v, 'd4_decision_latency_seconds');
  const target = [...sumBy(v, 'd4_target_kept_fraction', 'stage').values()][0];
  const rDedup = [...sumBy(v, 'd4_semantic_kept_fraction', 'stage').values()][0];
  return [
    { id: 'documents_in', label: 'documents in', value: total(v, 'd4_documents_in_total') },
    { id: 'kept', label: 'kept', value: total(v, 'd4_documents_kept_total') },
    { id: 'dropped', label: 'dropped', value: total(v, 'd4_documents_dropped_total') },
    { id: 'dead_lettered', label: 'dead-lettered', value: total(v, 'd4_dead_letters_total') },
    { id: 'kept_fraction', label: 'kept fraction', value: round(total(v, 'd4_kept_fraction'), 4) },
    ...(target !== undefined ? [{ id: 'target_ratio', label: 'target ratio', value: round(target, 4) }] : []),
    ...(rDedup !== undefined ? [{ id: 'r_dedup', label: 'R_dedup', value: round(rDedup, 4) }] : []),
    { id: 'latency_p50_s', label: 'decision latency p50 (s)', value: round(histogramQuantile(lat, 0.5)) },
    { id: 'latency_p95_s', label: 'decision latency p95 (s)', value: round(histogramQuantile(lat, 0.95)) },
    { id: 'latency_p99_s', label: 'decision latency p99 (s)', value: round(histogramQuantile(lat, 0.99)) },
    { id: 'transaction_retries', label: 'transaction retries', value: total(v, 'd4_transaction_retries_total') },
    ...(v['d4_broker_down'] !== undefined ? [{ id: 'broker', label: 'broker', value: v['d4_broker_down'] ? 'down' : 'up' },
      { id: 'broker_outages', label: 'broker outages', value: total(v, 'd4_broker_outages_total') }] : []),
  ];
}

const fmtSeconds = (x: number) => (x < 1 ? `${Math.round(x * 1000)}ms` : `${x}s`);

/** The live dashboard's page, from the sampled history of the registry. */
export function dashboardView(samples: readonly Sample[], subtitle: string): PageView {
  const last = samples.at(-1)?.v ?? {};
  const x = samples.map((s) => s.t / 1000);
  const charts: ChartView[] = [];
  const line = (id: string, title: string, yLabel: string, series: { label: string; values: (number | null)[] }[], note?: string) =>
    charts.push({ id, title, kind: 'line', xLabel: 'time', yLabel, x, series, time: true, ...(note ? { note } : {}) });
  const groups = (name: string, by: string) => [...new Set(samples.flatMap((s) => [...sumBy(s.v, name, by).keys()]))].sort();

  // Per-second rate of a cumulative series between consecutive samples (none before the second).
  const rate = (cumulative: readonly number[]) => cumulative.map((n, i) => (i === 0 ? null : (n - cumulative[i - 1]!) / Math.max(1e-3, x[i]! - x[i - 1]!)));
  line('throughput', 'Throughput', 'documents/s', [{ label: 'documents in /s', values: rate(samples.map((s) => total(s.v, 'd4_documents_in_total'))) }]);
  line('lag', 'Consumer lag', 'records', [{ label: 'records behind (all partitions)', values: samples.map((s) => total(s.v, 'd4_consumer_lag_records')) }]);
  const targets = groups('d4_target_kept_fraction', 'stage');
  const dedup = groups('d4_semantic_kept_fraction', 'stage');
  line('kept_fraction', 'Kept fraction vs target', 'fraction', [
    { label: 'kept fraction', values: samples.map((s) => total(s.v, 'd4_kept_fraction')) },
    ...targets.map((st) => ({ label: `target (${st})`, values: samples.map((s) => sumBy(s.v, 'd4_target_kept_fraction', 'stage').get(st) ?? null) })),
    ...dedup.map((st) => ({ label: `R_dedup (${st})`, values: samples.map((s) => sumBy(s.v, 'd4_semantic_kept_fraction', 'stage').get(st) ?? null) })),
  ]);
  const stages = groups('d4_stage_documents_in_total', 'stage');
  line('drops', 'Drops per stage (cumulative)', 'documents', stages.map((st) => ({
    label: st, values: samples.map((s) => sumBy(s.v, 'd4_documents_dropped_total', 'stage').get(st) ?? 0),
  })));
  // Seconds per second of wall time: 1 = the stage kept one core's worth of the worker's loop busy.
  const timed = groups('d4_stage_seconds_total', 'stage');
  line('stage_time', 'Time per stage (seconds per second)', 'share of wall time', timed.map((st) => ({
    label: st, values: rate(samples.map((s) => sumBy(s.v, 'd4_stage_seconds_total', 'stage').get(st) ?? 0)),
  })), 'the model-bound stage is the bottleneck when its share is near 1');
  const drifting = groups('d4_centroid_drift', 'stage');
  if (drifting.length) {
    line('centroids', 'Centroid drift (1 − cosine to the previous version\'s nearest centroid)', 'cosine distance', drifting.map((st) => ({
      label: `${st} (k ${sumBy(last, 'd4_clusters', 'stage').get(st) ?? '?'}, version ${sumBy(last, 'd4_centroid_version', 'stage').get(st) ?? '?'})`,
      values: samples.map((s) => sumBy(s.v, 'd4_centroid_drift', 'stage').get(st) ?? null),
    })));
  }
  const reasons = groups('d4_dead_letters_total', 'reason');
  line('dead_letters', 'Dead letters (cumulative)', 'records', [
    { label: 'all', values: samples.map((s) => total(s.v, 'd4_dead_letters_total')) },
    ...reasons.map((r) => ({ label: r, values: samples.map((s) => sumBy(s.v, 'd4_dead_letters_total', 'reason').get(r) ?? 0) })),
  ]);
  const embed = groups('d4_embed_tokens_per_second', 'stage');
  if (embed.length) {
    line('embed_tokens', 'Model throughput', 'tokens/s', embed.map((st) => ({ label: st, values: samples.map((s) => sumBy(s.v, 'd4_embed_tokens_per_second', 'stage').get(st) ?? null) })));
    // Shown once the model has run (every vector may come from the embeddings store).
    const fill = embed.map((st) => ({ label: st, values: samples.map((s) => sumBy(s.v, 'd4_embed_batch_fill_ratio', 'stage').get(st) ?? null) }));
    if (fill.some((f) => f.values.some((v) => v !== null))) line('embed_fill', 'Model batch fill (tokens / token slots, 1 = no padding)', 'fraction', fill);
  }

  const lat = bucketBars(bucketsOf(last, 'd4_decision_latency_seconds'), fmtSeconds);
  charts.push({ id: 'latency', title: 'Decision latency (commit time − record timestamp)', kind: 'bars', xLabel: 'seconds', yLabel: 'documents', x: lat.counts.map((_c, i) => i), categories: lat.categories, series: [{ label: 'documents', values: lat.counts }] });
  for (const st of groups('d4_semantic_duplicate_similarity_count', 'stage')) {
    const b = bucketBars(bucketsOf(last, 'd4_semantic_duplicate_similarity', { stage: st }));
    charts.push({ id: `similarity_${st}`, title: `Similarity of semantic duplicates (${st})`, kind: 'bars', xLabel: 'cosine similarity', yLabel: 'drops', x: b.counts.map((_c, i) => i), categories: b.categories, series: [{ label: 'drops', values: b.counts }] });
  }
  for (const st of groups('d4_cluster_size_documents_count', 'stage')) {
    const before = bucketBars(bucketsOf(last, 'd4_cluster_size_documents', { stage: st, when: 'before' }));
    const after = bucketBars(bucketsOf(last, 'd4_cluster_size_documents', { stage: st, when: 'after' }));
    charts.push({ id: `clusters_${st}`, title: `Cluster sizes before and after pruning (${st})`, kind: 'bars', xLabel: 'documents per cluster', yLabel: 'clusters', x: before.counts.map((_c, i) => i), categories: before.categories, series: [{ label: 'before', values: before.counts }, { label: 'after', values: after.counts }] });
  }
  return { title: 'd4stream', subtitle, stats: headline(last), charts };
}
