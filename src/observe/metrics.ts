import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { PartitionLag, RunObserver, StageReport, StoreRestored, StoreSize, TasksAssigned, TransactionFailed, WindowCommitted } from '../topology/events.js';

/**
 * Decision latency buckets (seconds): a window's linger and the model bound it from below,
 * a backlog from above; from 50 ms (a small window of exact dedup) to 10 min (a replay).
 */
const LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4, 5, 7.5, 10, 15, 20, 30, 60, 120, 300, 600];
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** SemDeDup drops at cosine ≥ 1 − ε with ε ≲ 0.2: the interesting range is 0.8 to 1. */
const SIMILARITY_BUCKETS = [0.8, 0.82, 0.84, 0.86, 0.88, 0.9, 0.91, 0.92, 0.93, 0.94, 0.95, 0.96, 0.97, 0.98, 0.99, 0.995, 1];
const CLUSTER_SIZE_BUCKETS = [0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 50000];

export type Phase = 'starting' | 'restored' | 'consuming' | 'finished' | 'failed';

/**
 * The run's Prometheus metrics, fed by the run loop's observer events. Names follow the
 * Prometheus conventions: `d4_` prefix, base units (seconds, bytes), `_total` on counters, labels
 * for stage, reason, partition and store. The registry is the one source of the figures:
 * /metrics, the dashboard's history and `d4 report`'s live counterpart all read it.
 */
export class RunMetrics implements RunObserver {
  readonly registry = new Registry();
  /** The readiness state /readyz answers from. */
  phase: Phase = 'starting';
  readonly startedAt = Date.now();
  /** The kept/seen counts behind d4_kept_fraction (a gauge cannot be read back cheaply). */
  private seen = 0;
  private keptDocs = 0;
  /** Documents reaching the prototype stage and kept, per cluster: the cluster-size distributions. */
  private readonly clusters = new Map<string, Map<number, { before: number; after: number }>>();
  private readonly stageTypes = new Map<string, string>();

  readonly documentsIn: Counter<string>;
  readonly kept: Counter<string>;
  readonly dropped: Counter<'stage' | 'reason'>;
  readonly deadLetters: Counter<'stage' | 'reason'>;
  readonly stageIn: Counter<'stage'>;
  readonly stageOut: Counter<'stage'>;
  readonly records: Counter<'partition'>;
  readonly windows: Counter<'partition'>;
  readonly decisionLatency: Histogram<string>;
  readonly windowSeconds: Histogram<string>;
  readonly transactionSeconds: Histogram<string>;
  readonly transactionRetries: Counter<string>;
  readonly transactionFailures: Counter<'outcome'>;
  readonly rebalances: Counter<string>;
  readonly tasks: Gauge<string>;
  readonly keptFraction: Gauge<string>;
  readonly targetRatio: Gauge<'stage'>;
  readonly dedupKeptFraction: Gauge<'stage'>;
  readonly protoKeptFraction: Gauge<'stage'>;
  readonly similarity: Histogram<'stage'>;
  readonly clusterSize: Histogram<'stage' | 'when'>;
  readonly centroidVersion: Gauge<'stage'>;
  readonly clustersK: Gauge<'stage'>;
  readonly consumerLag: Gauge<'topic' | 'partition'>;
  readonly storeEntries: Gauge<'store'>;
  readonly storeBytes: Gauge<'store'>;
  readonly restoreSeconds: Gauge<'store'>;
  readonly restoreRecords: Gauge<'store'>;
  readonly embedDocuments: Counter<'stage' | 'source'>;
  readonly embedTokens: Counter<'stage'>;
  readonly embedTokensPerSecond: Gauge<'stage'>;
  readonly readyGauge: Gauge<string>;
  readonly brokerDown: Gauge<string>;
  readonly brokerOutages: Counter<string>;
  readonly brokerOutageSeconds: Counter<string>;
  readonly stageSeconds: Counter<'stage'>;
  readonly centroidDrift: Gauge<'stage'>;
  readonly embedBatches: Counter<'stage'>;
  readonly embedBatchFill: Gauge<'stage'>;
  readonly embedBatchTexts: Gauge<'stage'>;
  private readonly embedLast = new Map<string, { embedded: number; cacheHits: number; tokens: number; at: number; batches: number; texts: number; modelTokens: number; padded: number }>();

  /** `stages`: the pipeline's stage ids and types, in order (labels are created up front, so a stage that drops nothing still shows 0). */
  constructor(stages: readonly { readonly id: string; readonly type: string }[] = [], options: { readonly defaultMetrics?: boolean } = {}) {
    const r = [this.registry];
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
    this.documentsIn = new Counter({ name: 'd4_documents_in_total', help: 'Input records decided or dead-lettered (the summary\'s "documents in")', registers: r });
    this.kept = new Counter({ name: 'd4_documents_kept_total', help: 'Documents kept by the whole pipeline', registers: r });
    this.dropped = new Counter({ name: 'd4_documents_dropped_total', help: 'Documents dropped, by the stage that dropped them and its reason', labelNames: ['stage', 'reason'], registers: r });
    this.deadLetters = new Counter({ name: 'd4_dead_letters_total', help: 'Records sent to the dead-letter sink, by the stage that refused them and the error', labelNames: ['stage', 'reason'], registers: r });
    this.stageIn = new Counter({ name: 'd4_stage_documents_in_total', help: 'Live documents that reached a stage', labelNames: ['stage'], registers: r });
    this.stageOut = new Counter({ name: 'd4_stage_documents_out_total', help: 'Live documents a stage let through', labelNames: ['stage'], registers: r });
    this.stageSeconds = new Counter({ name: 'd4_stage_seconds_total', help: 'Wall time a stage spent on its windows (model calls included); its rate is the share of a worker\'s time', labelNames: ['stage'], registers: r });
    this.records = new Counter({ name: 'd4_input_records_total', help: 'Crawl records (offsets) consumed and committed, per crawl partition (internal topics not counted)', labelNames: ['partition'], registers: r });
    this.windows = new Counter({ name: 'd4_windows_total', help: 'Windows committed, per input partition', labelNames: ['partition'], registers: r });
    this.decisionLatency = new Histogram({ name: 'd4_decision_latency_seconds', help: 'Commit time of a document\'s decision minus its record\'s timestamp', buckets: LATENCY_BUCKETS, registers: r });
    this.windowSeconds = new Histogram({ name: 'd4_window_process_seconds', help: 'Time running the stages on one window', buckets: DURATION_BUCKETS, registers: r });
    this.transactionSeconds = new Histogram({ name: 'd4_commit_seconds', help: 'Time committing one window (a Kafka transaction, or the file writes)', buckets: DURATION_BUCKETS, registers: r });
    this.transactionRetries = new Counter({ name: 'd4_transaction_retries_total', help: 'Transactional writes aborted and retried', registers: r });
    this.transactionFailures = new Counter({ name: 'd4_transaction_failures_total', help: 'Failed transactional writes, by what followed (retry, abandoned, fatal)', labelNames: ['outcome'], registers: r });
    this.rebalances = new Counter({ name: 'd4_rebalances_total', help: 'Task assignments received from the consumer group (the first one included)', registers: r });
    this.tasks = new Gauge({ name: 'd4_tasks', help: 'Tasks (input partitions) this worker owns', registers: r });
    this.keptFraction = new Gauge({ name: 'd4_kept_fraction', help: 'Documents kept / documents decided, so far', registers: r });
    this.targetRatio = new Gauge({ name: 'd4_target_kept_fraction', help: 'The prototype stage\'s target ratio R of the overall kept fraction', labelNames: ['stage'], registers: r });
    this.dedupKeptFraction = new Gauge({ name: 'd4_semantic_kept_fraction', help: 'R_dedup: kept / judged by the semantic stage, so far', labelNames: ['stage'], registers: r });
    this.protoKeptFraction = new Gauge({ name: 'd4_prototype_kept_fraction', help: 'R_proto: kept / live documents reaching the prototype stage, so far', labelNames: ['stage'], registers: r });
    this.similarity = new Histogram({ name: 'd4_semantic_duplicate_similarity', help: 'Cosine similarity of each semantic drop to the earlier document it duplicates', labelNames: ['stage'], buckets: SIMILARITY_BUCKETS, registers: r });
    const clusters = this.clusters;
    this.clusterSize = new Histogram({
      name: 'd4_cluster_size_documents', help: 'Distribution of cluster sizes of the prototype stage: documents reaching it per cluster (when="before") and kept per cluster (when="after"); recomputed at every scrape',
      labelNames: ['stage', 'when'], buckets: CLUSTER_SIZE_BUCKETS, registers: r,
      collect() {
        this.reset();
        for (const [stage, m] of clusters) {
          for (const c of m.values()) {
            this.observe({ stage, when: 'before' }, c.before);
            this.observe({ stage, when: 'after' }, c.after);
          }
        }
      },
    });
    this.centroidVersion = new Gauge({ name: 'd4_centroid_version', help: 'Version of a stage\'s centroids (bumped at every refit or fold)', labelNames: ['stage'], registers: r });
    this.centroidDrift = new Gauge({ name: 'd4_centroid_drift', help: 'Mean cosine distance from the current centroids (a sample of up to 64) to the nearest centroid of the version before', labelNames: ['stage'], registers: r });
    this.clustersK = new Gauge({ name: 'd4_clusters', help: 'Clusters (k) of a stage\'s centroids', labelNames: ['stage'], registers: r });
    this.consumerLag = new Gauge({ name: 'd4_consumer_lag_records', help: 'Records of an input partition not yet consumed (log end offset - position)', labelNames: ['topic', 'partition'], registers: r });
    this.storeEntries = new Gauge({ name: 'd4_store_entries', help: 'Entries held by a state store', labelNames: ['store'], registers: r });
    this.storeBytes = new Gauge({ name: 'd4_store_bytes', help: 'Estimated memory held by a state store', labelNames: ['store'], registers: r });
    this.restoreSeconds = new Gauge({ name: 'd4_store_restore_seconds', help: 'Time the last restore of a store from its changelog (or snapshot) took', labelNames: ['store'], registers: r });
    this.restoreRecords = new Gauge({ name: 'd4_store_restore_records', help: 'Changelog records applied by the last restore of a store', labelNames: ['store'], registers: r });
    this.embedDocuments = new Counter({ name: 'd4_embed_documents_total', help: 'Documents the embed stage vectorised, by where the vector came from: source="model" (model calls) or "store" (embeddings store hits)', labelNames: ['stage', 'source'], registers: r });
    this.embedTokens = new Counter({ name: 'd4_embed_tokens_total', help: 'Tokens fed to the model (special tokens included)', labelNames: ['stage'], registers: r });
    this.embedTokensPerSecond = new Gauge({ name: 'd4_embed_tokens_per_second', help: 'Tokens fed to the model per second of wall time over the last window', labelNames: ['stage'], registers: r });
    this.embedBatches = new Counter({ name: 'd4_embed_model_batches_total', help: 'Inference calls (batches) of the model', labelNames: ['stage'], registers: r });
    this.embedBatchFill = new Gauge({ name: 'd4_embed_batch_fill_ratio', help: 'Tokens / token slots computed (padding included) over the last window: 1 = no padding', labelNames: ['stage'], registers: r });
    this.embedBatchTexts = new Gauge({ name: 'd4_embed_batch_texts', help: 'Texts per inference call over the last window', labelNames: ['stage'], registers: r });
    this.readyGauge = new Gauge({ name: 'd4_ready', help: '1 once restored and consuming, else 0', registers: r });
    this.brokerDown = new Gauge({ name: 'd4_broker_down', help: '1 while the broker does not answer', registers: r });
    this.brokerOutages = new Counter({ name: 'd4_broker_outages_total', help: 'Times the broker stopped answering the worker\'s probe', registers: r });
    this.brokerOutageSeconds = new Counter({ name: 'd4_broker_outage_seconds_total', help: 'Time the broker did not answer, summed over the outages that ended', registers: r });
    this.brokerDown.set(0);
    this.keptFraction.set(0);
    this.readyGauge.set(0);
    this.addStages(stages);
  }

  /** Declares the pipeline's stages (when it is built after the server started): their series start at 0. */
  addStages(stages: readonly { readonly id: string; readonly type: string }[]): void {
    for (const s of stages) {
      this.stageTypes.set(s.id, s.type);
      this.stageIn.inc({ stage: s.id }, 0);
      this.stageOut.inc({ stage: s.id }, 0);
      this.stageSeconds.inc({ stage: s.id }, 0);
      if (s.type === 'semantic') this.similarity.zero({ stage: s.id });
    }
  }

  windowCommitted(e: WindowCommitted): void {
    const partition = String(e.partition);
    if (e.subtopology === '0') this.records.inc({ partition }, e.records); // the crawl's records, not the internal topics' again
    this.windows.inc({ partition });
    this.documentsIn.inc(e.decisions.length + e.dead.length);
    this.kept.inc(e.kept);
    this.seen += e.decisions.length;
    this.keptDocs += e.kept;
    this.keptFraction.set(this.seen ? this.keptDocs / this.seen : 0);
    for (const s of e.stages) {
      this.stageIn.inc({ stage: s.stage }, s.in);
      this.stageOut.inc({ stage: s.stage }, s.out);
      this.stageSeconds.inc({ stage: s.stage }, s.seconds);
    }
    e.decisions.forEach((d, i) => {
      const ts = e.recordTimestamps[i];
      if (ts !== undefined && Number.isFinite(ts)) this.decisionLatency.observe(Math.max(0, (e.committedAt - ts) / 1000));
      const type = this.stageTypes.get(d.stage);
      if (!d.keep) {
        this.dropped.inc({ stage: d.stage, reason: d.reason });
        if (type === 'semantic' && d.similarity !== null) this.similarity.observe({ stage: d.stage }, d.similarity);
      }
      // The prototype stage's decisions (its drops, and keeps whose evidence it wrote) carry its cluster.
      const proto = !d.keep ? (type === 'prototype' ? d.stage : undefined) : this.prototypeStage();
      if (proto !== undefined && d.cluster !== null) {
        let m = this.clusters.get(proto);
        if (!m) this.clusters.set(proto, (m = new Map()));
        const c = m.get(d.cluster) ?? { before: 0, after: 0 };
        c.before++;
        if (d.keep) c.after++;
        m.set(d.cluster, c);
      }
    });
    for (const d of e.dead) this.deadLetters.inc({ stage: d.stage, reason: d.error });
    this.windowSeconds.observe(e.processSeconds);
    this.transactionSeconds.observe(e.commitSeconds);
  }

  private prototypeStage(): string | undefined {
    for (const [id, type] of this.stageTypes) if (type === 'prototype') return id;
    return undefined;
  }

  transactionFailed(e: TransactionFailed): void {
    this.transactionFailures.inc({ outcome: e.outcome });
    if (e.outcome === 'retry') this.transactionRetries.inc();
  }

  tasksAssigned(e: TasksAssigned): void {
    this.rebalances.inc();
    this.tasks.set(e.assigned.length);
  }

  storeRestored(e: StoreRestored): void {
    this.restoreSeconds.set({ store: e.store }, e.seconds);
    this.restoreRecords.set({ store: e.store }, e.records);
    if (this.phase === 'starting') this.phase = 'restored';
  }

  isReady(): boolean {
    return this.phase === 'consuming';
  }

  ready(): void {
    this.phase = 'consuming';
    this.readyGauge.set(1);
  }

  /** The run ended (cleanly or not): /readyz is no longer ready, /metrics keeps the totals. */
  finished(ok: boolean): void {
    this.phase = ok ? 'finished' : 'failed';
    this.readyGauge.set(0);
  }

  lag(e: PartitionLag): void {
    this.consumerLag.set({ topic: e.topic, partition: String(e.partition) }, e.lag);
  }

  storeSizes(e: readonly StoreSize[]): void {
    for (const s of e) {
      this.storeEntries.set({ store: s.store }, s.entries);
      this.storeBytes.set({ store: s.store }, s.bytes);
    }
  }

  stageReport(e: StageReport): void {
    const r = e.report;
    const num = (k: string) => (typeof r[k] === 'number' ? (r[k] as number) : undefined);
    const set = (g: Gauge<'stage'>, v: number | undefined) => { if (v !== undefined) g.set({ stage: e.stage }, v); };
    if (r['kind'] === 'semantic') {
      set(this.dedupKeptFraction, num('keptFraction'));
      set(this.centroidVersion, num('centroidVersion'));
      set(this.centroidDrift, num('centroidDrift'));
      set(this.clustersK, num('k'));
    } else if (r['kind'] === 'prototype') {
      set(this.targetRatio, num('targetRatio'));
      set(this.protoKeptFraction, num('protoFraction'));
      set(this.centroidVersion, num('centroidVersion'));
      set(this.centroidDrift, num('centroidDrift'));
      set(this.clustersK, num('k'));
    } else if (r['kind'] === 'embed') {
      // Embed counters are cumulative since the stage was built: count the increments.
      const model = (r['model'] ?? {}) as Record<string, number | undefined>;
      const now = {
        embedded: num('embedded') ?? 0, cacheHits: num('cache_hits') ?? 0, tokens: num('tokens') ?? 0, at: Date.now(),
        batches: model['batches'] ?? 0, texts: model['texts'] ?? 0, modelTokens: model['tokens'] ?? 0, padded: model['paddedTokens'] ?? 0,
      };
      const before = this.embedLast.get(e.stage) ?? { embedded: 0, cacheHits: 0, tokens: 0, at: this.startedAt, batches: 0, texts: 0, modelTokens: 0, padded: 0 };
      const batches = now.batches - before.batches;
      if (batches > 0) {
        this.embedBatches.inc({ stage: e.stage }, batches);
        this.embedBatchTexts.set({ stage: e.stage }, (now.texts - before.texts) / batches);
        if (now.padded > before.padded) this.embedBatchFill.set({ stage: e.stage }, (now.modelTokens - before.modelTokens) / (now.padded - before.padded));
      }
      this.embedDocuments.inc({ stage: e.stage, source: 'model' }, Math.max(0, now.embedded - before.embedded));
      this.embedDocuments.inc({ stage: e.stage, source: 'store' }, Math.max(0, now.cacheHits - before.cacheHits));
      this.embedTokens.inc({ stage: e.stage }, Math.max(0, now.tokens - before.tokens));
      const dt = (now.at - before.at) / 1000;
      if (dt > 0) this.embedTokensPerSecond.set({ stage: e.stage }, (now.tokens - before.tokens) / dt);
      this.embedLast.set(e.stage, now);
    }
  }

  brokerOutage(e: { readonly state: 'down' | 'up'; readonly seconds: number }): void {
    this.brokerDown.set(e.state === 'down' ? 1 : 0);
    if (e.state === 'down') this.brokerOutages.inc();
    else this.brokerOutageSeconds.inc(e.seconds);
  }
}
