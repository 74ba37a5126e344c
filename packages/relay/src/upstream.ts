/**
 * The gateway's HTTP client to one upstream Git server, speaking the smart HTTP protocol as a
 * client does (gitprotocol-http(5), "Smart Clients"):
 *
 *   GET  $GIT_URL/info/refs?service=git-upload-pack|git-receive-pack
 *   POST $GIT_URL/git-upload-pack   Content-Type: application/x-git-upload-pack-request
 *   POST $GIT_URL/git-receive-pack  Content-Type: application/x-git-receive-pack-request
 *
 * Credential custody lives here: the caller's Authorization never reaches the upstream, the
 * gateway sends its own Basic credential, only allow-listed headers cross in either direction,
 * and redirects are never followed (the configured URL is the only host the gateway talks to).
 * Bodies are streamed with backpressure both ways; nothing is buffered.
 */
import http from 'node:http';
import https from 'node:https';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isPushgateError, silentLogger, type Logger, type PushgateError } from '@pushgate/core';
import { UpstreamError, type UpstreamErrorCode } from './errors';

/** The gateway's own credential for an upstream. */
export type UpstreamCredential =
  | { readonly kind: 'none' }
  | { readonly kind: 'basic'; readonly username: string; readonly password: string };

/** One configured upstream. */
export interface UpstreamEndpoint {
  /** The name in config: `/<name>/<path>` at the gateway is `<url>/<path>` here. */
  readonly name: string;
  /** Base URL (http or https), without credentials, query or fragment. */
  readonly url: string;
  readonly credential: UpstreamCredential;
  /** Longest wait for a TCP (and TLS) connection. */
  readonly connectTimeoutMs?: number;
  /** Longest time without a byte in either direction, once connected. */
  readonly idleTimeoutMs?: number;
}

/** The smart-HTTP endpoints of a repository. */
export type GitEndpoint = 'info/refs' | 'git-upload-pack' | 'git-receive-pack';

/** One request to relay. */
export interface UpstreamRequest {
  readonly method: 'GET' | 'POST';
  /** The repository path under the upstream, already validated by the gateway (e.g. `team/app.git`). */
  readonly repoPath: string;
  readonly endpoint: GitEndpoint;
  /** The query string without `?` (only `service=…` for info/refs). */
  readonly query?: string;
  /** Headers to pass; anything not in FORWARDED_REQUEST_HEADERS is dropped here regardless. */
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  /** The request body, streamed; absent for GET. */
  readonly body?: Readable | AsyncIterable<Uint8Array>;
  /** Sent as X-Request-Id so the upstream's logs can be correlated with ours. */
  readonly requestId?: string;
  readonly signal?: AbortSignal;
}

/** A 2xx answer of the upstream, its body still streaming. */
export interface UpstreamResponse {
  readonly status: number;
  /** The allow-listed response headers (lower-case names). */
  readonly headers: Readonly<Record<string, string>>;
  /** The body; stream failures surface as UpstreamError UPSTREAM_STREAM_FAILED / UPSTREAM_TIMEOUT. */
  readonly body: Readable;
}

/**
 * Request headers a git client sends that the upstream needs. Everything else, above all
 * `authorization`, `cookie`, `host`, `x-forwarded-*` and hop-by-hop headers, is dropped.
 * `content-length` is the caller's to set: it is only right when the body is passed unchanged.
 */
export const FORWARDED_REQUEST_HEADERS: readonly string[] = Object.freeze([
  'accept',
  'accept-encoding',
  'accept-language',
  'cache-control',
  'content-encoding',
  'content-length',
  'content-type',
  'git-protocol',
  'pragma',
  'user-agent',
]);

/** Response headers passed back to the client; cookies, `www-authenticate`, `location` and server banners are not. */
export const FORWARDED_RESPONSE_HEADERS: readonly string[] = Object.freeze([
  'cache-control',
  'content-encoding',
  'content-length',
  'content-type',
  'expires',
  'pragma',
]);

/** Default connect timeout: a healthy upstream on the same network connects in milliseconds. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/**
 * Default idle timeout. upload-pack may compute for minutes before its first byte on a large
 * repository when the client asked for no progress, so this is generous.
 */
export const DEFAULT_IDLE_TIMEOUT_MS = 300_000;
/** Bytes of an upstream's error body quoted to the client (after masking); enough for one message. */
const ERROR_BODY_QUOTE_BYTES = 512;

/** The `Authorization` header value of HTTP Basic credentials (RFC 7617). */
export function basicAuthorization(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}

/** Options of an Upstream. */
export interface UpstreamOptions {
  readonly logger?: Logger;
  /** Removes secrets from upstream text quoted in errors (defence in depth). */
  readonly mask?: (text: string) => string;
}

/** A configured upstream: builds its URLs, holds its credential and keep-alive connections. */
export class Upstream {
  readonly name: string;
  private readonly base: URL;
  private readonly authorizationValue: string | undefined;
  private readonly agent: http.Agent;
  /**
   * For requests with a body (a push's or a fetch's POST): a connection of their own, never an
   * idle keep-alive one. A server may close an idle connection (Node's keepAliveTimeout is 5 s) at
   * the moment it is reused; a GET could be sent again, but a POST's body is a stream already
   * consumed, so the push would fail with ECONNRESET after its whole inspection — seen when an
   * inspection outlasted the server's idle timeout. One handshake per push costs nothing beside it.
   */
  private readonly freshAgent: http.Agent;
  private readonly connectTimeoutMs: number;
  private readonly idleTimeoutMs: number;
  private readonly logger: Logger;
  private readonly mask: (text: string) => string;

  constructor(endpoint: UpstreamEndpoint, options: UpstreamOptions = {}) {
    this.name = endpoint.name;
    const base = new URL(endpoint.url);
    if (base.protocol !== 'http:' && base.protocol !== 'https:') {
      throw new TypeError(`upstream ${endpoint.name}: URL must be http or https, got ${base.protocol}`);
    }
    if (base.username || base.password || base.search || base.hash) {
      throw new TypeError(`upstream ${endpoint.name}: URL must not carry credentials, a query or a fragment`);
    }
    if (!base.pathname.endsWith('/')) base.pathname += '/';
    this.base = base;
    this.authorizationValue =
      endpoint.credential.kind === 'basic' ? basicAuthorization(endpoint.credential.username, endpoint.credential.password) : undefined;
    this.agent = base.protocol === 'https:' ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
    this.freshAgent = base.protocol === 'https:' ? new https.Agent({ keepAlive: false }) : new http.Agent({ keepAlive: false });
    this.connectTimeoutMs = endpoint.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.idleTimeoutMs = endpoint.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    this.logger = (options.logger ?? silentLogger).child({ upstream: endpoint.name });
    this.mask = options.mask ?? ((s) => s);
  }

  /** The repository's URL at the upstream (no credentials), e.g. for a mirror's fetch. */
  repoUrl(repoPath: string): string {
    return this.resolve(repoPath, undefined).toString().replace(/\/$/, '');
  }

  /** The `Authorization` value of the gateway's credential for this upstream, if it has one. */
  authorization(): string | undefined {
    return this.authorizationValue;
  }

  /**
   * Sends one request. Resolves with the upstream's 2xx answer (body streaming); rejects with an
   * UpstreamError for every other outcome, having consumed nothing more of the answer than the
   * start of an error message — or with the PushgateError the request body's producer threw.
   */
  request(req: UpstreamRequest): Promise<UpstreamResponse> {
    const url = this.resolve(req.repoPath, req.endpoint, req.query);
    const where = { upstream: this.name, path: url.pathname };
    const headers = this.outgoingHeaders(req);
    const transport = url.protocol === 'https:' ? https : http;

    return new Promise<UpstreamResponse>((resolve, reject) => {
      let settled = false;
      let response: http.IncomingMessage | undefined;
      const fail = (err: PushgateError): void => {
        if (!settled) {
          settled = true;
          reject(err);
        }
        if (response) response.destroy(err);
        outgoing.destroy(err);
      };

      const agent = req.body === undefined ? this.agent : this.freshAgent;
      const outgoing = transport.request(url, { method: req.method, headers, agent, signal: req.signal });

      const connectTimer = setTimeout(() => {
        fail(new UpstreamError('UPSTREAM_TIMEOUT', `upstream "${this.name}" did not accept a connection within ${this.connectTimeoutMs} ms`, where));
      }, this.connectTimeoutMs);
      outgoing.once('socket', (socket) => {
        // A reused keep-alive socket is connected already; a new one is not until 'connect'.
        const connected = (): void => clearTimeout(connectTimer);
        if ('connecting' in socket && socket.connecting) socket.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', connected);
        else connected();
      });
      outgoing.setTimeout(this.idleTimeoutMs, () => {
        fail(new UpstreamError('UPSTREAM_TIMEOUT', `upstream "${this.name}" sent nothing for ${this.idleTimeoutMs} ms`, where));
      });
      outgoing.once('close', () => clearTimeout(connectTimer));

      // `on`, not `once`: a second error from a dying socket must never go unhandled.
      outgoing.on('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(connectTimer);
        if (e instanceof UpstreamError) return fail(e);
        if (settled) {
          // The answer is streaming already; its body reports the failure.
          response?.destroy(streamFailure(this.name, where, e));
          return;
        }
        if (e.name === 'AbortError') return fail(new UpstreamError('UPSTREAM_STREAM_FAILED', `request to upstream "${this.name}" was abandoned by the client`, where, e));
        fail(unreachable(this.name, where, e));
      });

      outgoing.once('response', (res) => {
        response = res;
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) {
          settled = true;
          resolve({ status, headers: forwardedResponseHeaders(res.headers), body: streamOf(res, this.name, where) });
          return;
        }
        void this.statusError(res, status, where).then(fail);
      });

      if (req.body === undefined) {
        outgoing.end();
        return;
      }
      const body = req.body instanceof Readable ? req.body : Readable.from(req.body, { objectMode: false });
      pipeline(body, outgoing).catch((e: unknown) => {
        // The upstream may answer (and close) before reading the whole body, e.g. a 401; that
        // answer is what the client needs. Otherwise the body failed (the client went away, or the
        // body's producer refused it, e.g. a limit): abandon the request with that error.
        if (response !== undefined) return;
        fail(isPushgateError(e) ? e : new UpstreamError('UPSTREAM_STREAM_FAILED', `sending the request body to upstream "${this.name}" failed: ${(e as Error).message}`, where, e));
      });
    });
  }

  /** Closes idle keep-alive connections. */
  close(): void {
    this.agent.destroy();
    this.freshAgent.destroy();
  }

  private resolve(repoPath: string, endpoint: GitEndpoint | undefined, query?: string): URL {
    const path = endpoint === undefined ? `${repoPath}/` : `${repoPath}/${endpoint}`;
    const url = new URL(path, this.base);
    // repoPath was validated by the gateway; this is the last line of defence against a path
    // that would leave the configured prefix or host.
    if (url.origin !== this.base.origin || !url.pathname.startsWith(this.base.pathname) || url.pathname.includes('/../')) {
      throw new UpstreamError('UPSTREAM_REQUEST_REFUSED', `path ${JSON.stringify(repoPath)} leaves upstream "${this.name}"`, {
        upstream: this.name,
        path: repoPath,
        status: 400,
      });
    }
    if (query !== undefined) url.search = query;
    return url;
  }

  private outgoingHeaders(req: UpstreamRequest): Record<string, string | string[]> {
    const out: Record<string, string | string[]> = {};
    for (const name of FORWARDED_REQUEST_HEADERS) {
      const value = req.headers[name];
      if (value === undefined) continue;
      out[name] = typeof value === 'string' ? value : [...value];
    }
    if (req.requestId !== undefined) out['x-request-id'] = req.requestId;
    if (this.authorizationValue !== undefined) out.authorization = this.authorizationValue;
    return out;
  }

  private async statusError(res: http.IncomingMessage, status: number, where: { upstream: string; path: string }): Promise<UpstreamError> {
    const quoted = this.mask(await quoteBody(res));
    const suffix = quoted ? `: ${quoted}` : '';
    const data = { ...where, status };
    let code: UpstreamErrorCode;
    let message: string;
    if (status >= 300 && status < 400) {
      code = 'UPSTREAM_REDIRECT';
      message = `upstream "${this.name}" answered with a redirect (${status}); the gateway does not follow redirects, check the upstream URL in the gateway's config`;
    } else if (status === 401 || status === 403) {
      code = 'UPSTREAM_AUTH_REFUSED';
      message = `upstream "${this.name}" refused the gateway's credential (${status}); an operator must fix the gateway's upstream credential`;
    } else if (status === 404) {
      code = 'UPSTREAM_NOT_FOUND';
      message = `upstream "${this.name}" has no repository at ${where.path}`;
    } else if (status >= 500) {
      code = 'UPSTREAM_ERROR_STATUS';
      message = `upstream "${this.name}" failed with HTTP ${status}${suffix}`;
    } else {
      code = 'UPSTREAM_REQUEST_REFUSED';
      message = `upstream "${this.name}" refused the request with HTTP ${status}${suffix}`;
    }
    this.logger.warn('upstream answered with an error status', { code, status, path: where.path });
    return new UpstreamError(code, message, data);
  }
}

function forwardedResponseHeaders(headers: http.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of FORWARDED_RESPONSE_HEADERS) {
    const value = headers[name];
    if (typeof value === 'string') out[name] = value;
  }
  return out;
}

/** The upstream's body, with failures mapped to UpstreamError and consumer aborts passed upstream. */
function streamOf(res: http.IncomingMessage, name: string, where: { upstream: string; path: string }): Readable {
  const out = new PassThrough({ highWaterMark: 64 * 1024 });
  res.on('error', (e) => out.destroy(e instanceof UpstreamError ? e : streamFailure(name, where, e)));
  res.once('aborted', () => out.destroy(streamFailure(name, where, new Error('connection closed mid-answer'))));
  out.once('close', () => {
    if (!res.complete) res.destroy();
  });
  res.pipe(out);
  return out;
}

function streamFailure(name: string, where: { upstream: string; path: string }, e: Error): UpstreamError {
  return new UpstreamError('UPSTREAM_STREAM_FAILED', `the connection to upstream "${name}" broke mid-answer: ${e.message}`, where, e);
}

function unreachable(name: string, where: { upstream: string; path: string }, e: NodeJS.ErrnoException): UpstreamError {
  const syscallCode = typeof e.code === 'string' ? e.code : undefined;
  return new UpstreamError('UPSTREAM_UNREACHABLE', `upstream "${name}" is unreachable (${syscallCode ?? e.message})`, { ...where, syscallCode }, e);
}

/** The start of an error body as one printable line, when it is text. */
async function quoteBody(res: http.IncomingMessage): Promise<string> {
  const type = String(res.headers['content-type'] ?? '');
  if (!type.startsWith('text/')) {
    res.resume();
    return '';
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res) {
      chunks.push(chunk as Buffer);
      size += (chunk as Buffer).length;
      if (size >= ERROR_BODY_QUOTE_BYTES) break;
    }
  } catch {
    // A broken error body still leaves the status to report.
  }
  res.destroy();
  return Buffer.concat(chunks)
    .subarray(0, ERROR_BODY_QUOTE_BYTES)
    .toString('utf8')
    .replace(/[^\x20-\x7e]+/g, ' ')
    .trim();
}
