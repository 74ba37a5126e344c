/**
 * The CGI/1.1 contract between the loopback upstream and `git http-backend` (RFC 3875; the
 * variables http-backend reads are listed in git-http-backend(1), ENVIRONMENT).
 *
 * Request meta-variables (RFC 3875 §4.1): REQUEST_METHOD, PATH_INFO, QUERY_STRING, CONTENT_TYPE,
 * CONTENT_LENGTH, REMOTE_ADDR, REMOTE_USER, AUTH_TYPE, SERVER_*, and one HTTP_<NAME> per request
 * header (§4.1.18), except credentials (Authorization) and the two that have their own variables.
 *
 * CONTENT_LENGTH is omitted for a chunked body: http-backend 2.39 (`get_content_length` in
 * http-backend.c) then treats the length as unknown and reads stdin to EOF — receive-pack
 * inherits stdin directly, upload-pack's input is read whole before it runs — so closing stdin at
 * the end of the request body is what delimits it.
 *
 * Response (RFC 3875 §6): a header block ending with an empty line (git writes CRLF; LF alone is
 * accepted), `Status: <code> <reason>` defaulting to 200 (302 with `Location`), then the body.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { Transform, type TransformCallback } from 'node:stream';
import { GitServerError } from './errors';

/** How long the request body is, as far as the CGI program is told. */
export type CgiBodyLength = { readonly kind: 'length'; readonly bytes: number } | { readonly kind: 'until-eof' };

/** What the CGI environment is built from. */
export interface CgiRequest {
  readonly method: string;
  /** The decoded path after the script name (here: the whole URL path). */
  readonly pathInfo: string;
  /** The query string as received, without `?`, still percent-encoded. */
  readonly query: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: CgiBodyLength;
  readonly remoteAddr: string;
  /** The authenticated user, set only when the server checked a credential. */
  readonly remoteUser?: string;
  readonly serverPort: number;
}

/** Request headers that never become HTTP_* variables: credentials, and those CGI names itself. */
const NOT_PASSED = new Set(['authorization', 'proxy-authorization', 'content-type', 'content-length']);

/** The CGI/1.1 meta-variables for one request (without PATH, HOME or git's own variables). */
export function cgiVariables(r: CgiRequest): Record<string, string> {
  const env: Record<string, string> = {
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_PROTOCOL: 'HTTP/1.1',
    SERVER_SOFTWARE: 'pushgate-git-server',
    SERVER_NAME: '127.0.0.1',
    SERVER_PORT: String(r.serverPort),
    REQUEST_METHOD: r.method,
    SCRIPT_NAME: '',
    PATH_INFO: r.pathInfo,
    QUERY_STRING: r.query,
    REMOTE_ADDR: r.remoteAddr,
  };
  const type = r.headers['content-type'];
  if (type !== undefined) env.CONTENT_TYPE = type;
  if (r.body.kind === 'length') env.CONTENT_LENGTH = String(r.body.bytes);
  if (r.remoteUser !== undefined) {
    env.REMOTE_USER = r.remoteUser;
    env.AUTH_TYPE = 'Basic';
  }
  for (const [name, value] of Object.entries(r.headers)) {
    if (value === undefined || NOT_PASSED.has(name) || !/^[a-z0-9-]+$/.test(name)) continue;
    env[`HTTP_${name.toUpperCase().replace(/-/g, '_')}`] = Array.isArray(value) ? value.join(', ') : value;
  }
  return env;
}

/** The parsed header block of a CGI response. */
export interface CgiHead {
  readonly status: number;
  readonly reason: string;
  /** Headers other than Status, in order, names as the program wrote them. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
}

/** Response headers the HTTP server decides itself (RFC 3875 §6.3.4: hop-by-hop fields are not the script's). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'te', 'trailer']);

/** Parses a CGI header block (without the blank line that ends it). */
export function parseCgiHead(block: Buffer): CgiHead {
  const lines = block.length === 0 ? [] : block.toString('latin1').split(/\r?\n/);
  let status: number | undefined;
  let reason = '';
  let location = false;
  const headers: Array<readonly [string, string]> = [];
  for (const [i, line] of lines.entries()) {
    const colon = line.indexOf(':');
    if (colon <= 0) {
      throw new GitServerError('GIT_SERVER_CGI_BAD_RESPONSE', `CGI header line ${i + 1} has no field name: ${JSON.stringify(line.slice(0, 80))}`, {
        line: i + 1,
        text: line.slice(0, 200),
      });
    }
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    const lower = name.toLowerCase();
    if (lower === 'status') {
      const m = /^(\d{3})(?:\s+(.*))?$/.exec(value);
      if (!m) {
        throw new GitServerError('GIT_SERVER_CGI_BAD_RESPONSE', `CGI Status header ${JSON.stringify(value)} is not "<3 digits> <reason>"`, {
          expected: '<3 digits> <reason>',
          actual: value,
        });
      }
      status = Number(m[1]);
      reason = m[2] ?? '';
    } else if (!HOP_BY_HOP.has(lower)) {
      if (lower === 'location') location = true;
      headers.push([name, value]);
    }
  }
  return { status: status ?? (location ? 302 : 200), reason, headers };
}

/** Where the header block ends in `buf`: the blank line's start and the body's start. */
function findHeadEnd(buf: Buffer, from: number): { headEnd: number; bodyStart: number } | undefined {
  // An output that starts with the blank line has no header fields at all.
  if (buf[0] === 0x0a) return { headEnd: 0, bodyStart: 1 };
  if (buf[0] === 0x0d && buf[1] === 0x0a) return { headEnd: 0, bodyStart: 2 };
  for (let i = Math.max(0, from); i < buf.length; i++) {
    if (buf[i] !== 0x0a) continue;
    if (buf[i + 1] === 0x0a) return { headEnd: i, bodyStart: i + 2 };
    if (buf[i + 1] === 0x0d && buf[i + 2] === 0x0a) return { headEnd: i, bodyStart: i + 3 };
  }
  return undefined;
}

/** Largest CGI header block accepted; http-backend writes a few hundred bytes. */
export const MAX_CGI_HEAD_BYTES = 64 * 1024;

/**
 * A Transform from a CGI program's stdout to the response body: it holds bytes only until the
 * header block is complete, resolves `head`, and passes every later byte through unbuffered.
 */
export class CgiResponseParser extends Transform {
  /** Resolves with the header block; rejects when the output ends or breaks the format first. */
  readonly head: Promise<CgiHead>;
  private resolveHead!: (h: CgiHead) => void;
  private rejectHead!: (e: Error) => void;
  private pending: Buffer | undefined = Buffer.alloc(0);

  constructor() {
    super();
    this.head = new Promise<CgiHead>((resolve, reject) => {
      this.resolveHead = resolve;
      this.rejectHead = reject;
    });
    // Whoever drives the response awaits `head`; this keeps an early failure from also being unhandled.
    this.head.catch(() => {});
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    if (this.pending === undefined) {
      done(null, chunk);
      return;
    }
    const scanFrom = this.pending.length - 2;
    const buf = Buffer.concat([this.pending, chunk]);
    const end = findHeadEnd(buf, scanFrom);
    if (end === undefined) {
      if (buf.length > MAX_CGI_HEAD_BYTES) {
        this.fail(new GitServerError('GIT_SERVER_CGI_BAD_RESPONSE', `CGI header block exceeds ${MAX_CGI_HEAD_BYTES} bytes`, { max: MAX_CGI_HEAD_BYTES, actual: buf.length }), done);
        return;
      }
      this.pending = buf;
      done();
      return;
    }
    this.pending = undefined;
    let head: CgiHead;
    try {
      head = parseCgiHead(buf.subarray(0, end.headEnd));
    } catch (e) {
      this.fail(e as Error, done);
      return;
    }
    this.resolveHead(head);
    done(null, buf.subarray(end.bodyStart));
  }

  override _flush(done: TransformCallback): void {
    if (this.pending === undefined) {
      done();
      return;
    }
    const got = this.pending.length;
    this.fail(new GitServerError('GIT_SERVER_CGI_BAD_RESPONSE', `CGI output ended after ${got} bytes, before its header block was complete`, { bytes: got }), done);
  }

  private fail(e: Error, done: TransformCallback): void {
    this.pending = undefined;
    this.rejectHead(e);
    done(e);
  }
}
