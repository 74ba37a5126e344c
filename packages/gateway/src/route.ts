/**
 * Which git request a raw HTTP request target is (gitprotocol-http(5), "Smart Clients"):
 *
 *   GET  /<upstream>/<repo path>/info/refs?service=git-upload-pack|git-receive-pack
 *   POST /<upstream>/<repo path>/git-upload-pack
 *   POST /<upstream>/<repo path>/git-receive-pack
 *
 * This runs on the request target exactly as it arrived, before any framework decodes or
 * normalises it, and accepts only plain segments of a small character set: no percent-encoding at
 * all (so `%2e%2e`, `%2f`, `%5c` and double encodings never reach a decoder), no backslashes,
 * control characters, empty or dot segments, and only origin-form targets (`/…`), never an
 * absolute URL. The path built for the upstream therefore can only name a location below the
 * configured upstream URL. Dumb HTTP (`objects/…`, `HEAD`) is not served.
 */
import { PushgateError } from '@pushgate/core';
import type { GitService } from '@pushgate/audit';

/** A git smart-HTTP request the gateway serves. */
export type GitRoute =
  | { readonly kind: 'info-refs'; readonly upstream: string; readonly repoPath: string; readonly service: GitService }
  | { readonly kind: 'upload-pack'; readonly upstream: string; readonly repoPath: string }
  | { readonly kind: 'receive-pack'; readonly upstream: string; readonly repoPath: string };

/** Codes of RouteError (listed in docs/ERRORS.md). */
export type RouteErrorCode =
  /** Not an origin-form target, too long, or characters outside the allowed set. */
  | 'ROUTE_BAD_TARGET'
  /** Empty, `.` or `..` segments, or a path too short to name a repository. */
  | 'ROUTE_BAD_PATH'
  /** `info/refs` without a valid `service=`, or a query where none belongs. */
  | 'ROUTE_BAD_QUERY'
  /** Not a smart-HTTP endpoint (dumb HTTP included). */
  | 'ROUTE_NOT_FOUND'
  /** A smart-HTTP endpoint with the wrong method. */
  | 'ROUTE_METHOD_NOT_ALLOWED'
  /** The first segment names no configured upstream. */
  | 'ROUTE_UNKNOWN_UPSTREAM';

/** A request target the gateway will not serve; always a client error with a text body. */
export class RouteError extends PushgateError<RouteErrorCode, { target: string; allow?: string }> {
  constructor(code: RouteErrorCode, message: string, target: string, allow?: string) {
    super(code, message, { data: { target: clip(target), allow }, delivery: { kind: 'http', status: STATUS[code] } });
  }
}

const STATUS: Record<RouteErrorCode, number> = {
  ROUTE_BAD_TARGET: 400,
  ROUTE_BAD_PATH: 400,
  ROUTE_BAD_QUERY: 400,
  ROUTE_NOT_FOUND: 404,
  ROUTE_METHOD_NOT_ALLOWED: 405,
  ROUTE_UNKNOWN_UPSTREAM: 404,
};

/**
 * Longest request target accepted, in bytes. Git hosts cap a repository path far below this
 * (GitLab: 255 bytes per path component, nesting 20 deep); anything longer is not a repository.
 */
export const MAX_REQUEST_TARGET_BYTES = 4096;

// Unreserved characters of RFC 3986 §2.3 plus "+" and "@", which appear in real repository names.
const PATH_CHAR_RE = /^[A-Za-z0-9._~+@/-]*$/;
const SERVICES: readonly GitService[] = ['git-upload-pack', 'git-receive-pack'];

/** Parses a raw request target (`req.url` as received) into a GitRoute, or throws RouteError. */
export function parseGitRoute(method: string, target: string): GitRoute {
  if (Buffer.byteLength(target, 'utf8') > MAX_REQUEST_TARGET_BYTES) {
    throw new RouteError('ROUTE_BAD_TARGET', `request target is longer than ${MAX_REQUEST_TARGET_BYTES} bytes`, target);
  }
  if (!target.startsWith('/') || target.startsWith('//')) {
    throw new RouteError('ROUTE_BAD_TARGET', 'only origin-form request targets ("/<upstream>/<repo>/…") are accepted', target);
  }
  const q = target.indexOf('?');
  const path = q === -1 ? target : target.slice(0, q);
  const query = q === -1 ? undefined : target.slice(q + 1);
  checkCharacters(path, target);

  if (path === '/') throw new RouteError('ROUTE_NOT_FOUND', 'this is a pushgate gateway: use /<upstream>/<repo> as a git remote', target);
  const segments = path.slice(1).split('/');
  if (segments.some((s) => s === '')) {
    throw new RouteError('ROUTE_BAD_PATH', 'empty path segments ("//" or a trailing "/") are not allowed', target);
  }
  if (segments.some((s) => /^\.+$/.test(s))) {
    throw new RouteError('ROUTE_BAD_PATH', 'dot segments ("." or "..") are not allowed', target);
  }

  const [upstream, ...rest] = segments;
  let kind: GitRoute['kind'];
  let repo: string[];
  if (rest.length >= 3 && rest.at(-2) === 'info' && rest.at(-1) === 'refs') {
    kind = 'info-refs';
    repo = rest.slice(0, -2);
  } else if (rest.length >= 2 && rest.at(-1) === 'git-upload-pack') {
    kind = 'upload-pack';
    repo = rest.slice(0, -1);
  } else if (rest.length >= 2 && rest.at(-1) === 'git-receive-pack') {
    kind = 'receive-pack';
    repo = rest.slice(0, -1);
  } else {
    const dumb = rest.includes('objects') || rest.at(-1) === 'HEAD' || rest.at(-1) === 'refs';
    throw new RouteError(
      'ROUTE_NOT_FOUND',
      dumb ? 'the dumb HTTP protocol is not served; use a git client that speaks smart HTTP' : 'not a git smart-HTTP endpoint (expected /<upstream>/<repo>/info/refs, git-upload-pack or git-receive-pack)',
      target,
    );
  }
  const repoPath = repo.join('/');

  if (kind === 'info-refs') {
    if (method !== 'GET') throw new RouteError('ROUTE_METHOD_NOT_ALLOWED', `${clip(method)} is not allowed on info/refs; use GET`, target, 'GET');
    const service = serviceOf(query);
    if (service === undefined) {
      throw new RouteError('ROUTE_BAD_QUERY', 'info/refs needs ?service=git-upload-pack or ?service=git-receive-pack (dumb HTTP is not served)', target);
    }
    return { kind, upstream, repoPath, service };
  }
  if (method !== 'POST') throw new RouteError('ROUTE_METHOD_NOT_ALLOWED', `${clip(method)} is not allowed on ${rest.at(-1)}; use POST`, target, 'POST');
  if (query !== undefined && query !== '') throw new RouteError('ROUTE_BAD_QUERY', `${rest.at(-1)} takes no query string`, target);
  return { kind, upstream, repoPath };
}

function serviceOf(query: string | undefined): GitService | undefined {
  if (query === undefined) return undefined;
  const m = /^service=([a-z-]+)$/.exec(query);
  return m === null ? undefined : SERVICES.find((s) => s === m[1]);
}

function checkCharacters(path: string, target: string): void {
  if (PATH_CHAR_RE.test(path)) return;
  let reason = 'characters outside A-Z a-z 0-9 . _ ~ + @ - /';
  if (path.includes('%')) reason = 'percent-encoded characters (e.g. %2e, %2f, %5c)';
  else if (path.includes('\\')) reason = 'backslashes';
  else if (/[\x00-\x1f\x7f]/.test(path)) reason = 'control characters';
  else if (path.includes('#')) reason = 'a fragment';
  throw new RouteError('ROUTE_BAD_TARGET', `the request path contains ${reason}, which repository paths never need`, target);
}

function clip(s: string): string {
  const printable = s.replace(/[^\x20-\x7e]/g, '?');
  return printable.length > 200 ? `${printable.slice(0, 200)}…` : printable;
}
