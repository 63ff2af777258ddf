import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { authorized } from './access.js';
import { batchLine, CheckpointError, FeedOptionsError, type FeedBatch } from '../../feed/index.js';
import { PoisonTopicError } from '../../records/poison-guard.js';

export interface FeedServerOptions {
  /** 0 picks a free port (see the returned url). */
  readonly port: number;
  /** Loopback by default (see access.ts): another address must be given explicitly. */
  readonly host?: string;
  /** When set, every request needs `Authorization: Bearer <token>` (401 otherwise). */
  readonly token?: string;
  /**
   * Starts one feed for one request (its own consumer), from the request's `resume` token if
   * any. Throws CheckpointError or FeedOptionsError for a token that does not fit.
   */
  readonly open: (params: { readonly resume?: string }) => AsyncGenerator<FeedBatch>;
  /** Stop each response after this many batches (a request's max_batches may lower it). */
  readonly maxBatches?: number;
  /** Feeds served at once; more requests get 503 (default 8). */
  readonly maxConcurrent?: number;
  readonly log: (message: string) => void;
}

export interface FeedServer {
  readonly url: string;
  readonly port: number;
  /** Stops accepting requests and ends the feeds being served. */
  close(): Promise<void>;
}

/** Writes text, waiting for the socket when its buffer is full; false once the client is gone. */
async function write(res: ServerResponse, text: string): Promise<boolean> {
  if (res.destroyed || res.writableEnded) return false;
  if (res.write(text)) return true;
  return new Promise<boolean>((resolve) => {
    const done = (ok: boolean) => () => { res.off('drain', onDrain); res.off('close', onClose); resolve(ok); };
    const onDrain = done(true);
    const onClose = done(false);
    res.once('drain', onDrain);
    res.once('close', onClose);
  });
}

/** The poison-topic guard stopped the feed: the topic is read with the wrong options (see src/records/poison-guard.ts). */
const isPoison = (e: unknown): boolean => e instanceof PoisonTopicError;

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body) + '\n');
}

/**
 * Serves a training feed as NDJSON over HTTP, for trainers in any language:
 *
 *   GET /batches[?resume=<checkpoint token>][&max_batches=N]
 *     200 application/x-ndjson: one batch per line, exactly the lines `d4 feed` prints
 *     ({"epoch","batch","checkpoint","tokens","documents"}), streamed as the trainer reads them
 *     (a slow reader slows the feed; nothing piles up). The response ends when the epochs are
 *     done or after max_batches. If the feed fails midway, a last line {"error": "..."} is sent
 *     and the connection is cut, so a truncated stream is never mistaken for a finished one.
 *     400 {"error"}: a token that cannot be read or does not fit this feed (other topic, seed,
 *     shuffle buffer or batching), or a bad max_batches.
 *     422 {"error"}: the poison-topic guard stopped the feed (records that do not decode: wrong
 *     --format or --schema-id); retrying does not help. An error line midway says the same with
 *     "retriable": false.
 *     502 {"error"}: the feed could not start (broker down, topic missing, records deleted).
 *   GET /healthz  200 {"ok": true}
 *
 * Each request is its own feed from its own token: the trainer keeps the checkpoint of the last
 * batch it trained on and reconnects with it.
 */
export async function serveFeed(options: FeedServerOptions): Promise<FeedServer> {
  const host = options.host ?? '127.0.0.1';
  const maxConcurrent = options.maxConcurrent ?? 8;
  const active = new Set<AsyncGenerator<FeedBatch>>();
  /** Feeds being released (consumer leaving its group); close() waits for them. */
  const releasing = new Set<Promise<unknown>>();
  const release = (b: AsyncGenerator<FeedBatch>): Promise<unknown> => {
    const p = b.return(undefined).catch(() => undefined);
    releasing.add(p);
    void p.finally(() => releasing.delete(p));
    return p;
  };
  let nextId = 1;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error: `${req.method} is not supported; use GET` });
    if (url.pathname === '/healthz') return sendJson(res, 200, { ok: true });
    if (!authorized(req, options.token)) {
      res.setHeader('www-authenticate', 'Bearer realm="d4 feed"');
      return sendJson(res, 401, { error: 'this feed needs "Authorization: Bearer <token>" (the token d4 feed was given)' });
    }
    if (url.pathname !== '/batches') return sendJson(res, 404, { error: `no such path ${url.pathname}; the feed is at /batches[?resume=<token>][&max_batches=N]` });
    if (active.size >= maxConcurrent) return sendJson(res, 503, { error: `already serving ${active.size} feeds (the limit)` });

    let max = options.maxBatches ?? Infinity;
    const mb = url.searchParams.get('max_batches');
    if (mb !== null) {
      const n = Number(mb);
      if (!Number.isInteger(n) || n <= 0) return sendJson(res, 400, { error: `max_batches must be a positive whole number, got "${mb}"` });
      max = Math.min(max, n);
    }
    const resume = url.searchParams.get('resume') ?? undefined;
    const id = nextId++;
    let batches: AsyncGenerator<FeedBatch>;
    try {
      batches = options.open(resume === undefined || resume === '' ? {} : { resume });
    } catch (e) {
      if (e instanceof CheckpointError || e instanceof FeedOptionsError) return sendJson(res, 400, { error: e.message });
      throw e;
    }
    active.add(batches);
    let sent = 0;
    let gone = false;
    res.on('close', () => {
      // The client left (or the response ended): stop the feed, which releases its consumer.
      if (!res.writableFinished) gone = true;
      void release(batches);
    });
    try {
      // The first batch is awaited before the status is sent, so that a token that does not
      // match the topic, or a broker that is down, is an HTTP error and not a 200 with an error line.
      let first: IteratorResult<FeedBatch>;
      try {
        first = await batches.next();
      } catch (e) {
        options.log(`feed #${id}: ${(e as Error).message}`);
        return sendJson(res, e instanceof CheckpointError ? 400 : isPoison(e) ? 422 : 502, { error: (e as Error).message });
      }
      res.writeHead(200, { 'content-type': 'application/x-ndjson; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
      if (req.method === 'HEAD') return void res.end();
      options.log(`feed #${id}: started${resume ? ' from a checkpoint' : ''}`);
      try {
        for (let r = first; !r.done && sent < max && !gone; r = await batches.next()) {
          if (!(await write(res, batchLine(r.value) + '\n'))) break;
          sent++;
          if (sent >= max) break;
        }
      } catch (e) {
        options.log(`feed #${id}: failed after ${sent} batches: ${(e as Error).message}`);
        // retriable: false tells a client (clients/python) that reconnecting from its token would fail the same way.
        await write(res, JSON.stringify({ error: (e as Error).message, ...(e instanceof CheckpointError || isPoison(e) ? { retriable: false } : {}) }) + '\n');
        res.destroy();
        return;
      }
      res.end();
      options.log(`feed #${id}: ${gone ? 'client left' : 'done'} after ${sent} batches`);
    } finally {
      active.delete(batches);
      await release(batches);
    }
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: Error) => {
      options.log(`request failed: ${e.stack ?? e.message}`);
      if (!res.headersSent) sendJson(res, 500, { error: e.message });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => { server.off('error', reject); resolve(); });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/batches`,
    port,
    async close() {
      server.closeAllConnections();
      for (const b of active) void release(b);
      await new Promise<void>((resolve) => server.close(() => resolve()));
      // A feed stuck on an unreachable broker must not keep the server from stopping.
      await Promise.race([Promise.all([...releasing]), new Promise((r) => setTimeout(r, 10_000).unref())]);
    },
  };
}
