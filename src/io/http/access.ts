// Who may reach d4's HTTP servers (the training feed, and any metrics endpoint): loopback unless
// an address is given explicitly, and then optionally a bearer token, read from a file or an
// environment variable (never from the command line, which `ps` shows).
import { timingSafeEqual, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';

export const DEFAULT_BIND = '127.0.0.1';
/** Where a bearer token comes from when no --token-file is given. */
export const HTTP_TOKEN_ENV = 'D4_HTTP_TOKEN';

export class HttpAccessError extends Error {
  override name = 'HttpAccessError';
  readonly exitCode = 2;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

export interface HttpAccess {
  readonly host: string;
  /** Absent: no authentication. */
  readonly token?: string;
}

/**
 * The bind address and token of a server from its options: --bind (default loopback),
 * --token-file or $D4_HTTP_TOKEN. A token file must hold one non-empty line.
 */
export function httpAccess(opts: { bind?: string; tokenFile?: string }, env: NodeJS.ProcessEnv = process.env): HttpAccess {
  const host = opts.bind ?? DEFAULT_BIND;
  if (host !== 'localhost' && isIP(host) === 0) throw new HttpAccessError(`--bind ${host}: expected an IP address (0.0.0.0 or :: for every interface) or localhost`);
  let token: string | undefined;
  if (opts.tokenFile !== undefined) {
    try {
      token = readFileSync(opts.tokenFile, 'utf8').trim();
    } catch (e) {
      throw new HttpAccessError(`--token-file ${opts.tokenFile}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    if (!token || /\s/.test(token)) throw new HttpAccessError(`--token-file ${opts.tokenFile}: expected one token (no blanks) on one line`);
  } else if (env[HTTP_TOKEN_ENV]) token = env[HTTP_TOKEN_ENV]!.trim();
  return { host, ...(token ? { token } : {}) };
}

/** True when the request may be served: no token set, or `Authorization: Bearer <token>`. */
export function authorized(req: IncomingMessage, token: string | undefined): boolean {
  if (token === undefined) return true;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  if (!m) return false;
  // Compare digests so that neither the length nor the content leaks through timing.
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(m[1]!), digest(token));
}

/** One line for the log: where it listens and whether it asks for a token (never the token). */
export function describeAccess(a: HttpAccess): string {
  if (a.token) return 'bearer token required';
  return isLoopback(a.host) ? 'loopback only, no authentication' : `WARNING: open to the network on ${a.host} without authentication (set --token-file or $${HTTP_TOKEN_ENV})`;
}
