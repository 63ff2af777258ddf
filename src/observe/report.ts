import { createReadStream, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { bucketBars, type Buckets, type ChartView, type PageView, type StatView } from './views.js';
import { renderPage } from './page.js';

/** The selection stages' reports as `d4 curate` saves them (<out>/selection.json): one per stage and batch. */
export interface SelectionLog {
  readonly reports: readonly (Record<string, unknown> & { readonly kind: string; readonly stage: string })[];
}

interface DecisionLine {
  readonly id: string; readonly keep: boolean; readonly stage: string; readonly reason: string;
  readonly similarity: number | null; readonly cluster: number | null; readonly distance: number | null;
}

/** What the report needs from decisions.jsonl, read in one streaming pass (the file may be large). */
interface DecisionStats {
  total: number;
  kept: number;
  /** Cumulative kept fraction and drops per stage, sampled at ~400 points along the input order. */
  readonly curve: { at: number; kept: number; drops: Map<string, number> }[];
  readonly drops: Map<string, number>;
  readonly stages: string[];
  /** Similarity of drops, per stage that records one (exact records 1, near its Jaccard estimate, semantic the cosine). */
  readonly similarity: Map<string, number[]>;
  /** Per cluster of the prototype stage: documents that reached it and documents kept. */
  readonly clusters: Map<number, { before: number; after: number }>;
  readonly distances: { kept: number[]; dropped: number[] };
}

async function readDecisions(path: string, sampleEvery: number): Promise<DecisionStats> {
  const s: DecisionStats = { total: 0, kept: 0, curve: [], drops: new Map(), stages: [], similarity: new Map(), clusters: new Map(), distances: { kept: [], dropped: [] } };
  const perStage = new Map<string, number>();
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line) continue;
    const d = JSON.parse(line) as DecisionLine;
    s.total++;
    if (d.keep) s.kept++;
    else {
      const k = `${d.stage}: ${d.reason}`;
      s.drops.set(k, (s.drops.get(k) ?? 0) + 1);
      perStage.set(d.stage, (perStage.get(d.stage) ?? 0) + 1);
      if (!s.stages.includes(d.stage)) s.stages.push(d.stage);
      if (d.similarity !== null && d.reason !== 'duplicate') {
        const list = s.similarity.get(d.stage) ?? [];
        list.push(d.similarity);
        s.similarity.set(d.stage, list);
      }
    }
    // The prototype stage writes its cluster on its drops and on the keeps it judged.
    if (d.cluster !== null && (d.keep || d.reason === 'prototypical')) {
      const c = s.clusters.get(d.cluster) ?? { before: 0, after: 0 };
      c.before++;
      if (d.keep) c.after++;
      s.clusters.set(d.cluster, c);
      if (d.distance !== null) (d.keep ? s.distances.kept : s.distances.dropped).push(d.distance);
    }
    if (s.total % sampleEvery === 0) s.curve.push({ at: s.total, kept: s.kept, drops: new Map(perStage) });
  }
  if (s.curve.at(-1)?.at !== s.total) s.curve.push({ at: s.total, kept: s.kept, drops: new Map(perStage) });
  return s;
}

/** Equal-width histogram of values in [lo, hi], as cumulative buckets for bucketBars. */
function histogram(values: readonly number[], lo: number, hi: number, bins: number): Buckets {
  const counts = new Array<number>(bins).fill(0);
  for (const v of values) counts[Math.min(bins - 1, Math.max(0, Math.floor(((v - lo) / (hi - lo)) * bins)))]!++;
  let acc = 0;
  return counts.map((c, i) => ({ le: Number((lo + ((i + 1) * (hi - lo)) / bins).toFixed(4)), count: (acc += c) }));
}

/** Cluster sizes in powers-of-two buckets. */
function sizeBuckets(sizes: readonly number[], top: number): Buckets {
  const bounds = [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536].filter((b, i, a) => i === 0 || a[i - 1]! < top);
  return bounds.map((le) => ({ le, count: sizes.filter((x) => x <= le).length }));
}

const bars = (id: string, title: string, xLabel: string, yLabel: string, b: { categories: string[]; counts: number[] }, more: { label: string; values: number[] }[] = [], label = 'count'): ChartView =>
  ({ id, title, kind: 'bars', xLabel, yLabel, x: b.counts.map((_c, i) => i), categories: b.categories, series: [{ label, values: b.counts }, ...more] });

interface SweepPoint { readonly set: readonly string[]; readonly kept_fraction: number; readonly r_dedup: number; readonly in: number }
interface SweepJson { readonly points: readonly SweepPoint[]; readonly trials?: readonly { epsilon: number; kept: number }[]; readonly target_dedup_ratio?: number; readonly epsilon?: number }

function sweepCharts(sweep: SweepJson): ChartView[] {
  const value = (p: SweepPoint, test: (k: string) => boolean) => {
    for (const s of p.set) {
      const [k, v] = s.split('=');
      if (k && v !== undefined && test(k)) return Number(v);
    }
    return undefined;
  };
  const isEps = (k: string) => k.endsWith('epsilon');
  const isTarget = (k: string) => k === 'target-ratio' || k.endsWith('targetRatio');
  const charts: ChartView[] = [];
  const along = (id: string, title: string, xLabel: string, axis: (k: string) => boolean, other: (k: string) => boolean, otherName: string, withDiagonal: boolean) => {
    const pts = sweep.points.filter((p) => value(p, axis) !== undefined);
    if (pts.length === 0) return;
    const xs = [...new Set(pts.map((p) => value(p, axis)!))].sort((a, b) => a - b);
    const groups = [...new Set(pts.map((p) => value(p, other)))];
    const series: { label: string; values: (number | null)[] }[] = [];
    for (const g of groups) {
      const at = (x: number, f: (p: SweepPoint) => number) => { const p = pts.find((q) => value(q, axis) === x && value(q, other) === g); return p ? f(p) : null; };
      const suffix = g === undefined ? '' : ` (${otherName} ${g})`;
      series.push({ label: `kept fraction${suffix}`, values: xs.map((x) => at(x, (p) => p.kept_fraction)) });
      series.push({ label: `R_dedup${suffix}`, values: xs.map((x) => at(x, (p) => p.r_dedup)) });
    }
    if (withDiagonal) series.push({ label: 'target', values: xs });
    charts.push({ id, title, kind: 'line', xLabel, yLabel: 'fraction', x: xs, series });
  };
  along('sweep_epsilon', 'Sweep: kept fraction and R_dedup against ε', 'semantic ε', isEps, isTarget, 'target', false);
  along('sweep_target', 'Sweep: kept fraction against the target ratio', 'target ratio R', isTarget, isEps, 'ε', true);
  if (sweep.trials?.length) {
    const t = [...sweep.trials].sort((a, b) => a.epsilon - b.epsilon);
    charts.push({
      id: 'sweep_search', title: `ε search for R_dedup ${sweep.target_dedup_ratio ?? ''}: chose ε ${sweep.epsilon ?? ''}`, kind: 'line', xLabel: 'semantic ε', yLabel: 'R_dedup',
      x: t.map((x) => x.epsilon), series: [{ label: 'R_dedup (trial)', values: t.map((x) => x.kept) }, ...(sweep.target_dedup_ratio !== undefined ? [{ label: 'target', values: t.map(() => sweep.target_dedup_ratio!) }] : [])],
    });
  }
  return charts;
}

/**
 * The report of a file-mode run's output directory: decisions.jsonl and summary.json (curate,
 * batch), selection.json (curate's per-batch selection reports) and sweep.json (sweep --out)
 * where present. Every chart has data: a chart whose data the run did not produce is left out.
 */
export async function reportView(outDir: string): Promise<PageView> {
  const file = (f: string) => join(outDir, f);
  const json = <T>(f: string): T | undefined => (existsSync(file(f)) ? (JSON.parse(readFileSync(file(f), 'utf8')) as T) : undefined);
  const summary = json<{ input?: string; params_hash?: string; in: number; kept: number; dropped_total: number; dead_lettered: Record<string, number>; dead_lettered_total: number; seconds?: number; stage_seconds?: Record<string, number>; batch?: { options?: Record<string, unknown> } }>('summary.json');
  const sweep = json<SweepJson>('sweep.json');
  if (!summary && !sweep) throw new Error(`${outDir} has neither summary.json (d4 curate / d4 batch) nor sweep.json (d4 sweep --out): nothing to report`);
  const selection = json<SelectionLog>('selection.json');
  const charts: ChartView[] = [];
  const stats: StatView[] = [];

  if (summary) {
    if (!existsSync(file('decisions.jsonl'))) throw new Error(`${file('decisions.jsonl')} is missing (summary.json is there)`);
    const decided = summary.in - summary.dead_lettered_total;
    const d = await readDecisions(file('decisions.jsonl'), Math.max(1, Math.ceil(decided / 400)));
    if (d.total !== decided) throw new Error(`decisions.jsonl has ${d.total} decisions, summary.json says ${decided} (in − dead-lettered): a run still writing, or files of two runs?`);
    const protoReports = selection?.reports.filter((r) => r.kind === 'prototype') ?? [];
    const semReports = selection?.reports.filter((r) => r.kind === 'semantic') ?? [];
    const target = (protoReports.at(-1)?.['targetRatio'] ?? summary.batch?.options?.['targetRatio']) as number | undefined;
    const rDedup = semReports.at(-1)?.['keptFraction'] as number | undefined;
    stats.push(
      { id: 'documents_in', label: 'documents in', value: summary.in },
      { id: 'kept', label: 'kept', value: summary.kept },
      { id: 'dropped', label: 'dropped', value: summary.dropped_total },
      { id: 'dead_lettered', label: 'dead-lettered', value: summary.dead_lettered_total },
      { id: 'kept_fraction', label: 'kept fraction', value: Number((decided ? summary.kept / decided : 0).toFixed(4)) },
      ...(target !== undefined ? [{ id: 'target_ratio', label: 'target ratio', value: target }] : []),
      ...(rDedup !== undefined ? [{ id: 'r_dedup', label: 'R_dedup', value: Number(rDedup.toFixed(4)) }] : []),
      ...(summary.seconds !== undefined ? [{ id: 'seconds', label: 'run time (s)', value: summary.seconds }] : []),
    );
    const x = d.curve.map((c) => c.at);
    // Selection reports are per batch: step them onto the decision curve by documents seen.
    const stepped = (reports: typeof protoReports, key: string) => {
      if (reports.length === 0) return undefined;
      return x.map((at) => { const r = [...reports].reverse().find((q) => (q['seen'] as number) <= at) ?? reports[0]!; return r[key] as number; });
    };
    const targetLine = stepped(protoReports, 'targetRatio');
    const rDedupLine = stepped(semReports, 'keptFraction');
    charts.push({
      id: 'kept_fraction', title: 'Kept fraction along the input vs target', kind: 'line', xLabel: 'documents decided', yLabel: 'fraction', x,
      series: [
        { label: 'kept fraction (cumulative)', values: d.curve.map((c) => c.kept / c.at) },
        ...(targetLine ? [{ label: 'target ratio', values: targetLine }] : []),
        ...(rDedupLine ? [{ label: 'R_dedup (semantic)', values: rDedupLine }] : []),
      ],
    });
    if (d.stages.length) {
      charts.push({ id: 'drops_curve', title: 'Drops per stage along the input (cumulative)', kind: 'line', xLabel: 'documents decided', yLabel: 'documents', x, series: d.stages.map((st) => ({ label: st, values: d.curve.map((c) => c.drops.get(st) ?? 0) })) });
      const keys = [...d.drops.keys()];
      charts.push(bars('drops', 'Drops per stage and reason', 'stage: reason', 'documents', { categories: keys, counts: keys.map((k) => d.drops.get(k)!) }, [], 'dropped'));
    }
    const dead = Object.entries(summary.dead_lettered);
    if (dead.length) charts.push(bars('dead_letters', 'Dead letters by reason', 'reason', 'records', { categories: dead.map(([k]) => k), counts: dead.map(([, n]) => n) }, [], 'dead-lettered'));
    const timed = Object.entries(summary.stage_seconds ?? {});
    if (timed.length) charts.push(bars('stage_time', 'Time per stage (wall time, model calls included)', 'stage', 'seconds', { categories: timed.map(([k]) => k), counts: timed.map(([, v]) => v) }, [], 'seconds'));
    for (const [stage, values] of d.similarity) {
      const lo = Math.max(0, Math.floor(Math.min(...values) * 50) / 50);
      charts.push(bars(`similarity_${stage}`, `Similarity of ${stage} drops to what they duplicate`, 'similarity', 'drops', bucketBars(histogram(values, lo, 1, 20), (v) => v.toFixed(3)), [], 'drops'));
    }
    if (d.clusters.size && [...d.drops.keys()].some((k) => k.endsWith(': prototypical'))) {
      const sizes = [...d.clusters.values()];
      const top = Math.max(...sizes.map((c) => c.before));
      const before = bucketBars(sizeBuckets(sizes.map((c) => c.before), top));
      const after = bucketBars(sizeBuckets(sizes.map((c) => c.after), top));
      charts.push(bars('clusters', `Cluster sizes before and after pruning (${d.clusters.size} clusters)`, 'documents per cluster', 'clusters', before, [{ label: 'after', values: after.counts }], 'before'));
      const all = [...d.distances.kept, ...d.distances.dropped];
      if (all.length) {
        const hi = Math.max(...all, 1e-6);
        const kept = bucketBars(histogram(d.distances.kept, 0, hi, 20), (v) => v.toFixed(3));
        const dropped = bucketBars(histogram(d.distances.dropped, 0, hi, 20), (v) => v.toFixed(3));
        charts.push(bars('distance', 'Distance to the centroid: kept (hard) vs dropped (prototypical)', '1 − cosine to centroid', 'documents', kept, [{ label: 'dropped', values: dropped.counts }], 'kept'));
      }
    }
  }
  // Per selection stage: how far each new centroid version moved (its per-batch reports).
  for (const stage of new Set(selection?.reports.filter((r) => typeof r['centroidDrift'] === 'number').map((r) => r.stage) ?? [])) {
    const rs = selection!.reports.filter((r) => r.stage === stage);
    charts.push({
      id: `drift_${stage}`, title: `Centroid drift along the input (${stage}: 1 − cosine to the previous version's nearest centroid)`, kind: 'line',
      xLabel: 'documents seen', yLabel: 'cosine distance', x: rs.map((r) => r['seen'] as number),
      series: [{ label: `${stage} drift`, values: rs.map((r) => r['centroidDrift'] as number) }],
    });
  }
  if (sweep) {
    stats.push({ id: 'sweep_points', label: 'sweep points', value: sweep.points.length });
    charts.push(...sweepCharts(sweep));
  }
  const what = summary ? `${summary.input ?? ''} · params ${summary.params_hash ?? ''}` : `${sweep!.points.length} sweep points`;
  return { title: 'd4stream report', subtitle: `${outDir} · ${what}`, stats, charts: charts.filter((c) => c.series.some((s) => s.values.some((v) => v !== null && Number.isFinite(v)))) };
}

/** Writes <outDir>/report.html (self-contained: data, uPlot and the drawing code inline); returns its path. */
export async function writeReport(outDir: string): Promise<string> {
  const path = join(outDir, 'report.html');
  writeFileSync(path, renderPage(await reportView(outDir)));
  return path;
}
