import { ConfigError } from '../topology/registry.js';
import { codecOptionsFor } from './codec-options.js';
import { batchLine, CheckpointError, describeBatchLimit, feed, FeedOptionsError, planFeed, type BatchLimit, type FeedBatch, type FeedOptions } from '../feed/index.js';
import { resolveBrokers } from '../io/kafka/client.js';
import { FeedSourceError, kafkaFeedSource, type KafkaFeedSource } from '../io/kafka/feed-source.js';

const log = (m: string) => console.error(`[d4 feed] ${new Date().toISOString()} ${m}`);

export interface FeedCliOptions {
  readonly topic: string;
  readonly brokers?: string;
  readonly epochs: number;
  readonly batchSize?: number;
  readonly batchTokens?: number;
  readonly shuffleBuffer?: number;
  readonly seed?: string;
  readonly resume?: string;
  /** A port, as typed (0-65535). */
  readonly serve?: string;
  readonly serveHost?: string;
  readonly serveTokenFile?: string;
  readonly metricsTokenFile?: string;
  readonly maxBatches?: number;
  readonly schemaId?: number;
  readonly maxDeadShare?: number;
  /** With --serve: Prometheus metrics and a dashboard on this port. */
  readonly metricsPort?: number;
  readonly metricsHost?: string;
  readonly schemaRegistry?: string;
}

function feedOptions(opts: FeedCliOptions, source: KafkaFeedSource): FeedOptions {
  if (opts.batchSize !== undefined && opts.batchTokens !== undefined) throw new ConfigError('give --batch-size or --batch-tokens, not both');
  const batch: BatchLimit | undefined = opts.batchSize !== undefined ? { kind: 'count', size: opts.batchSize }
    : opts.batchTokens !== undefined ? { kind: 'tokens', tokens: opts.batchTokens } : undefined;
  return {
    epochs: opts.epochs,
    ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
    ...(opts.shuffleBuffer !== undefined ? { shuffleBuffer: opts.shuffleBuffer } : {}),
    ...(batch ? { batch } : {}),
    ...(opts.maxDeadShare !== undefined ? { poisonGuard: { maxDeadShare: opts.maxDeadShare } } : {}),
    onSkip: quietAfter(5, (s) => log(`epoch ${s.epoch}: skipped ${source.id} partition ${s.partition} offset ${s.offset}, not a document: ${s.error}`), (n) => log(`… ${n} records skipped so far (only the first 5 are listed)`)),
  };
}

/** Calls `each` for the first `n` events, then `summary(count)` on every 1,000th: a topic of undecodable records must not flood stderr. */
function quietAfter<T>(n: number, each: (e: T) => void, summary: (count: number) => void): (e: T) => void {
  let count = 0;
  return (e) => {
    count++;
    if (count <= n) each(e);
    else if (count % 1000 === 0) summary(count);
  };
}

/** Waits until a stream can take more, or is closed (then whoever wrote learns it from 'error'). */
function drained(stream: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve) => {
    const done = () => { stream.off('drain', done); stream.off('close', done); stream.off('error', done); resolve(); };
    stream.on('drain', done);
    stream.on('close', done);
    stream.on('error', done);
  });
}

/** A resume token that does not fit is a usage error (exit 2), with the reason. */
function planOrConfigError(sourceId: string, options: FeedOptions): ReturnType<typeof planFeed> {
  try {
    return planFeed(sourceId, options);
  } catch (e) {
    if (e instanceof CheckpointError || e instanceof FeedOptionsError) throw new ConfigError(e.message);
    throw e;
  }
}

/** `d4 feed`: batches as NDJSON on stdout, or served over HTTP with --serve. */
export async function feedCommand(opts: FeedCliOptions): Promise<number> {
  const port = opts.serve === undefined ? undefined : Number(opts.serve);
  if (opts.metricsPort !== undefined && port === undefined) throw new ConfigError('--metrics-port needs --serve (the metrics describe the feed server)');
  if (port !== undefined && (!/^\d+$/.test(opts.serve!) || port > 65535)) throw new ConfigError(`--serve must be a port number 0-65535 (0: any free port), got "${opts.serve}"`);
  const brokers = resolveBrokers(opts.brokers);
  const source = kafkaFeedSource({ brokers, topic: opts.topic, codec: await codecOptionsFor(opts, { writes: {}, reads: [opts.topic] }, log), log });
  try {
    const base = feedOptions(opts, source);
    const plan = planOrConfigError(source.id, { ...base, ...(opts.resume !== undefined ? { resume: opts.resume } : {}) });
    log(`${source.id} on ${brokers.join(',')}: epochs ${plan.epochs}, seed "${plan.seed}", shuffle buffer ${plan.shuffleBuffer}, batches of ${describeBatchLimit(plan.batch)}${opts.resume ? `, resuming at epoch ${plan.start.epoch} after ${plan.start.position} records` : ''}`);
    if (plan.start.epoch >= plan.epochs) log(`the checkpoint is at epoch ${plan.start.epoch}: with --epochs ${plan.epochs} nothing is left to feed`);
    if (port !== undefined) return await serve(port, opts, source, base);
    return await toStdout(opts, source, { ...base, ...(opts.resume !== undefined ? { resume: opts.resume } : {}) });
  } catch (e) {
    // A missing topic, or a checkpoint whose records are gone: the message says what to change.
    if (e instanceof FeedSourceError || e instanceof CheckpointError) throw new ConfigError(e.message);
    throw e;
  } finally {
    await source.close().catch(() => undefined);
  }
}

async function toStdout(opts: FeedCliOptions, source: KafkaFeedSource, options: FeedOptions): Promise<number> {
  let stop: string | undefined;
  const onSignal = (sig: string) => () => { stop = sig; };
  const handlers = { SIGINT: onSignal('SIGINT'), SIGTERM: onSignal('SIGTERM') };
  process.once('SIGINT', handlers.SIGINT);
  process.once('SIGTERM', handlers.SIGTERM);
  let pipeClosed = false;
  process.stdout.on('error', (e: NodeJS.ErrnoException) => { pipeClosed = true; if (e.code !== 'EPIPE') log(`stdout: ${e.message}`); });
  const started = Date.now();
  let batches = 0;
  let documents = 0;
  let last: FeedBatch | undefined;
  const epochStarts = new Map<number, number>();
  try {
    for await (const b of feed(source, { ...options, onEpoch: (e) => { epochStarts.set(e.epoch, Date.now()); log(`epoch ${e.epoch}: ${e.range.map((p) => `p${p.partition} [${p.start}, ${p.end})`).join(' ')}${e.resumeAt ? `, skipping the ${e.resumeAt} records already delivered` : ''}`); } })) {
      if (pipeClosed) break;
      if (!process.stdout.write(batchLine(b) + '\n')) await drained(process.stdout);
      batches++;
      documents += b.documents.length;
      last = b;
      if (stop || pipeClosed || (opts.maxBatches !== undefined && batches >= opts.maxBatches)) break;
    }
  } finally {
    process.off('SIGINT', handlers.SIGINT);
    process.off('SIGTERM', handlers.SIGTERM);
  }
  const seconds = (Date.now() - started) / 1000;
  const why = stop ? `stopped by ${stop}` : pipeClosed ? 'stdout closed' : opts.maxBatches !== undefined && batches >= opts.maxBatches ? `--max-batches ${opts.maxBatches} reached` : 'done';
  log(`${why}: ${batches} batches, ${documents} documents in ${seconds.toFixed(1)} s (${Math.round(documents / Math.max(seconds, 1e-3))} documents/s)`);
  if (last) log(`resume after the last batch with --resume ${last.checkpoint}`);
  return 0;
}

async function serve(port: number, opts: FeedCliOptions, source: KafkaFeedSource, options: FeedOptions): Promise<number> {
  const { serveFeed } = await import('../io/http/feed-server.js');
  const observed = opts.metricsPort === undefined ? undefined : await feedMetrics(opts);
  const { httpAccess, describeAccess } = await import('../io/http/access.js');
  const access = httpAccess({ ...(opts.serveHost ? { bind: opts.serveHost } : {}), ...(opts.serveTokenFile ? { tokenFile: opts.serveTokenFile } : {}) });
  const server = await serveFeed({
    port,
    host: access.host,
    ...(access.token ? { token: access.token } : {}),
    ...(opts.maxBatches !== undefined ? { maxBatches: opts.maxBatches } : {}),
    // A request without a token starts from --resume if one was given, else from the beginning.
    open: ({ resume }) => {
      const f = feed(source, { ...options, ...(resume ?? opts.resume ? { resume: resume ?? opts.resume } : {}) });
      return observed ? observed.metrics.count(f) : f;
    },
    log,
  }).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'EADDRINUSE' || e.code === 'EACCES' || e.code === 'EADDRNOTAVAIL') throw new ConfigError(`--serve ${port}: cannot listen on ${access.host}:${port} (${e.code}); pick another port (0 for any free one) or --serve-host <address>`);
    throw e;
  });
  log(`serving ${server.url} (NDJSON, one batch per line; ?resume=<checkpoint> to continue; ${describeAccess(access)}; Ctrl-C stops)`);
  const sig = await new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  log(`${sig}: stopping the server`);
  await server.close();
  if (observed) {
    observed.metrics.phase = 'stopped';
    await observed.server.close();
  }
  return 0;
}

/** --metrics-port: the feed's counters on their own loopback port (/metrics, /healthz, /readyz, dashboard at /). */
async function feedMetrics(opts: FeedCliOptions) {
  const { FeedMetrics, feedView } = await import('../observe/feed-metrics.js');
  const { MetricsServer } = await import('../observe/server.js');
  const metrics = new FeedMetrics();
  const { httpAccess, describeAccess } = await import('../io/http/access.js');
  const access = httpAccess({ ...(opts.metricsHost ? { bind: opts.metricsHost } : {}), ...(opts.metricsTokenFile ? { tokenFile: opts.metricsTokenFile } : {}) });
  const server = new MetricsServer(metrics, { port: opts.metricsPort!, title: `feed ${opts.topic}`, view: feedView, host: access.host, ...(access.token ? { token: access.token } : {}) });
  const url = await server.start();
  log(`metrics at ${url}/metrics (health ${url}/healthz, readiness ${url}/readyz, dashboard ${url}/; ${describeAccess(access)})`);
  return { metrics, server };
}
