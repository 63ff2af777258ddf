import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { dashboardView, seriesKey, type PageView, type Sample } from './views.js';
import { renderPage } from './page.js';
import { authorized } from '../io/http/access.js';

/** What a server exposes: a registry, and a phase that says whether the process is ready. */
export interface Observed {
  readonly registry: Registry;
  readonly phase: string;
  readonly startedAt: number;
  isReady(): boolean;
}

export interface MetricsServerOptions {
  readonly port: number;
  /** Loopback unless told otherwise: the metrics say what the corpus holds. */
  readonly host?: string;
  /** When set, everything but /healthz needs `Authorization: Bearer <token>` (401 otherwise). */
  readonly token?: string;
  /** What the dashboard's subtitle says (topology, application id). */
  readonly title?: string;
  /** Seconds between two samples of the dashboard's history. */
  readonly sampleSeconds?: number;
  /** Samples kept; when full, every other one is dropped (the history thins out, it never ends). */
  readonly maxSamples?: number;
  /** The dashboard's page from the history (default: the curation run's dashboard). */
  readonly view?: (samples: readonly Sample[], subtitle: string) => PageView;
}

/** The registry's d4_* series as one sample (histograms as their _bucket, _sum and _count series). */
export async function sampleRegistry(metrics: Observed): Promise<Sample> {
  const v: Record<string, number> = {};
  for (const m of await metrics.registry.getMetricsAsJSON()) {
    if (!m.name.startsWith('d4_')) continue;
    for (const x of m.values as { value: number; labels: Record<string, string | number>; metricName?: string }[]) {
      v[seriesKey(x.metricName ?? m.name, x.labels)] = x.value;
    }
  }
  return { t: Date.now(), v };
}

/**
 * The run's HTTP endpoint: /metrics (Prometheus text format), /healthz (the process answers),
 * /readyz (200 once restored and consuming, else 503 with the phase), / (the live dashboard) and
 * /api/view (what the dashboard draws, as JSON). It keeps a bounded history of samples of the
 * registry for the dashboard's time series.
 */
export class MetricsServer {
  private server?: Server;
  private timer?: NodeJS.Timeout;
  private readonly samples: Sample[] = [];
  private readonly maxSamples: number;
  private sampling: Promise<void> = Promise.resolve();

  constructor(private readonly metrics: Observed, private readonly options: MetricsServerOptions) {
    this.maxSamples = options.maxSamples ?? 1800;
  }

  /** Listens; resolves with the URL it answers at (port 0 picks a free one). */
  async start(): Promise<string> {
    const server = createServer((req, res) => { this.handle(req, res).catch((e: unknown) => this.fail(res, e)); });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, this.options.host ?? '127.0.0.1', () => { server.off('error', reject); resolve(); });
    });
    // The run (or --metrics-hold's timer) keeps the process alive, not the server: a command that
    // fails before its run starts still exits.
    server.unref();
    await this.sample();
    this.timer = setInterval(() => { void this.sample(); }, (this.options.sampleSeconds ?? 1) * 1000);
    this.timer.unref();
    const a = server.address() as AddressInfo;
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return `http://${host}:${a.port}`;
  }

  /** Takes one sample now (also at the end of a run, so the history ends on the final totals). */
  sample(): Promise<void> {
    this.sampling = this.sampling.then(async () => {
      this.samples.push(await sampleRegistry(this.metrics));
      if (this.samples.length > this.maxSamples) {
        const keep = this.samples.filter((_s, i) => i % 2 === 0 || i === this.samples.length - 1);
        this.samples.splice(0, this.samples.length, ...keep);
      }
    }).catch(() => undefined);
    return this.sampling;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') return this.send(res, 405, 'text/plain', 'GET only\n');
    if (path !== '/healthz' && !authorized(req, this.options.token)) {
      res.setHeader('www-authenticate', 'Bearer realm="d4 metrics"');
      return this.send(res, 401, 'text/plain', 'this endpoint needs "Authorization: Bearer <token>"\n');
    }
    switch (path) {
      case '/metrics':
        return this.send(res, 200, this.metrics.registry.contentType, await this.metrics.registry.metrics());
      case '/healthz':
        return this.send(res, 200, 'text/plain', 'ok\n');
      case '/readyz': {
        const ready = this.metrics.isReady();
        return this.send(res, ready ? 200 : 503, 'application/json', JSON.stringify({ ready, phase: this.metrics.phase }) + '\n');
      }
      case '/':
      case '/dashboard':
        await this.sample();
        return this.send(res, 200, 'text/html; charset=utf-8', renderPage(this.view(), { poll: '/api/view', pollMs: 2000 }));
      case '/api/view':
        await this.sample();
        return this.send(res, 200, 'application/json', JSON.stringify(this.view()));
      default:
        return this.send(res, 404, 'text/plain', 'not found: try /metrics, /healthz, /readyz or / (dashboard)\n');
    }
  }

  private view() {
    const subtitle = `${this.options.title ?? 'd4'} · ${this.metrics.phase} · up ${Math.round((Date.now() - this.metrics.startedAt) / 1000)} s`;
    return (this.options.view ?? dashboardView)(this.samples, subtitle);
  }

  private send(res: ServerResponse, status: number, type: string, body: string): void {
    res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
    res.end(body);
  }

  private fail(res: ServerResponse, e: unknown): void {
    if (!res.headersSent) this.send(res, 500, 'text/plain', `${(e as Error).message}\n`);
    else res.destroy();
  }
}
