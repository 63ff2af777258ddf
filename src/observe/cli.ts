import { ConfigError } from '../topology/registry.js';
import type { SemanticReport } from '../stages/semantic/semantic.js';
import type { PrototypeReport } from '../stages/prototype/prototype.js';
import { RunMetrics } from './metrics.js';
import { MetricsServer } from './server.js';
import { describeAccess, httpAccess } from '../io/http/access.js';

export interface ObserveCliOptions {
  /** --metrics-port: serve /metrics, /healthz, /readyz and the dashboard on this port (0: any free one). */
  readonly metricsPort?: number;
  /** --metrics-host: the address to listen on (default 127.0.0.1). */
  readonly metricsHost?: string;
  /** --metrics-token-file (else $D4_HTTP_TOKEN): require this bearer token. */
  readonly metricsTokenFile?: string;
  /** --metrics-hold: keep serving this many ms after the run ended, so a last scrape sees the totals. */
  readonly metricsHold?: number;
}

/**
 * A command's metrics and their server, started before anything slow (model load, restore) so
 * that /readyz answers "not ready" meanwhile. Without --metrics-port it is inert: `observer` is
 * undefined and the hooks cost nothing.
 */
export class Observation {
  private constructor(readonly metrics: RunMetrics | undefined, private readonly server: MetricsServer | undefined, private readonly hold: number, readonly url: string | undefined) {}

  static async start(opts: ObserveCliOptions, title: string, log: (m: string) => void): Promise<Observation> {
    if (opts.metricsPort === undefined) return new Observation(undefined, undefined, 0, undefined);
    const metrics = new RunMetrics();
    const access = httpAccess({ ...(opts.metricsHost ? { bind: opts.metricsHost } : {}), ...(opts.metricsTokenFile ? { tokenFile: opts.metricsTokenFile } : {}) });
    const server = new MetricsServer(metrics, { port: opts.metricsPort, title, host: access.host, ...(access.token ? { token: access.token } : {}) });
    const url = await server.start().catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'EADDRINUSE' || e.code === 'EACCES' || e.code === 'EADDRNOTAVAIL') {
        throw new ConfigError(`--metrics-port ${opts.metricsPort}: cannot listen on ${opts.metricsHost ?? '127.0.0.1'}:${opts.metricsPort} (${e.code}); pick another port, or 0 for any free one`);
      }
      throw e;
    });
    log(`metrics at ${url}/metrics (health ${url}/healthz, readiness ${url}/readyz, dashboard ${url}/; ${describeAccess(access)})`);
    return new Observation(metrics, server, opts.metricsHold ?? 0, url);
  }

  get observer(): RunMetrics | undefined {
    return this.metrics;
  }

  /** The selection stages' report dependency, forwarded as stage reports. */
  readonly onReport = (r: SemanticReport | PrototypeReport): void => {
    this.metrics?.stageReport({ task: '0', stage: r.stage, report: r as unknown as Record<string, unknown> });
  };

  /** The run ended: not ready any more; the final totals stay served for --metrics-hold ms, then the server closes. */
  async finish(ok: boolean, log: (m: string) => void): Promise<void> {
    if (!this.metrics || !this.server) return;
    this.metrics.finished(ok);
    await this.server.sample();
    if (this.hold > 0) {
      log(`run ended; serving the final metrics at ${this.url}/metrics for ${this.hold} ms (or until SIGINT/SIGTERM)`);
      await new Promise<void>((resolve) => {
        const done = () => { clearTimeout(timer); process.off('SIGINT', done); process.off('SIGTERM', done); resolve(); };
        const timer = setTimeout(done, this.hold);
        process.once('SIGINT', done);
        process.once('SIGTERM', done);
      });
    }
    await this.server.close();
  }
}
