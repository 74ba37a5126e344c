/**
 * The approval API: JSON over HTTP under `/api/holds`, for reviewers, pushers, the `pushgate holds`
 * command and the review pages built on it. Callers authenticate exactly as git does (a token as
 * `Bearer`, or as the password of Basic). Every action goes through the HoldStore, whose outcomes
 * are data; this module only maps them to statuses (each refusal carries its own) and renders a
 * hold as JSON. Errors are `{"error": {"code", "message", "requestId"}}`, every code in
 * docs/ERRORS.md; the endpoints are described in docs/API.md.
 *
 *   GET  /api/holds[?state=<s>][&mine=1]   holds the caller may act on (pending by default), or pushed
 *   GET  /api/holds/<id>                   one hold (404 unless the caller pushed it or may review it)
 *   POST /api/holds/<id>/approve           {"comment"?, "digest"?}
 *   POST /api/holds/<id>/reject            {"comment"}   (required)
 *   POST /api/holds/<id>/cancel            {"comment"?}  (the pusher only)
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PushgateError, isPushgateError, refUpdateKind, type Identity, type Logger, type Oid, type RefUpdateKind } from '@pushgate/core';
import type { Authenticator } from '@pushgate/auth';
import {
  HOLD_STATES,
  inApproverGroups,
  isExpired,
  missingApprovals,
  sameAccount,
  type HoldActor,
  type HoldRecord,
  type HoldRefusal,
  type HoldStateKind,
  type HoldStore,
  type MovedRef,
  type Person,
  type RelayReport,
} from '@pushgate/holds';
import type { Approvers, Reason } from '@pushgate/policy';
import type { JsonObject } from '@pushgate/store';
import type { ClientAddressOf } from './client-address';
import type { HoldContext } from './hold';
import { methodLabel, type GatewayMetrics } from './metrics';

/**
 * Largest request body the API reads: a comment and a digest fit many times over, and a body
 * nobody needs is never buffered beyond it.
 */
export const MAX_API_BODY_BYTES = 64 * 1024;

/** What the API needs of the gateway (the HTTP layer's context has all of it). */
export interface HoldsApiContext {
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
  readonly authenticator: Authenticator;
  readonly clientAddress: ClientAddressOf;
  /**
   * The hold store and the base of review links (`<publicUrl>/review/holds/<id>`), as held pushes
   * use them. Absent when the gateway keeps no holds: every endpoint answers 503 HOLDS_UNAVAILABLE.
   */
  readonly holding?: Pick<HoldContext, 'holds' | 'publicUrl'>;
}

/** Codes of the API's own errors (a refusal of the store keeps its own HOLD_ code). */
export type HoldsApiErrorCode =
  /** The gateway keeps no holds (no hold store is configured or it is not ready). */
  | 'HOLDS_UNAVAILABLE'
  /** No endpoint at this path. */
  | 'API_NOT_FOUND'
  /** The endpoint exists but not with this method (the `Allow` header lists the ones it takes). */
  | 'API_METHOD_NOT_ALLOWED'
  /** A query parameter is unknown, repeated or has a value the endpoint does not take. */
  | 'API_BAD_QUERY'
  /** The body is not UTF-8 JSON, or not a JSON object. */
  | 'API_BAD_JSON'
  /** The body is JSON but a field is unknown or of the wrong type. */
  | 'API_BAD_BODY'
  /** The body is larger than MAX_API_BODY_BYTES. */
  | 'API_BODY_TOO_LARGE';

/** An error the API answers with: its `code` and message go to the caller as JSON with the HTTP status it carries. */
export class HoldsApiError extends PushgateError<HoldsApiErrorCode, { readonly allow?: string }> {
  constructor(code: HoldsApiErrorCode, status: number, message: string, data?: { readonly allow?: string }) {
    super(code, message, { data, delivery: { kind: 'http', status } });
  }
}

/** True when a request target belongs to the API (case-sensitive, as the reserved upstream name `api` is). */
export function isHoldsApiTarget(target: string): boolean {
  const path = target.split('?', 1)[0];
  return path === '/api' || path.startsWith('/api/');
}

// --- JSON views -------------------------------------------------------------------------------

/** A person as the API shows them. */
export interface PersonView {
  readonly sub: string;
  readonly email?: string;
  readonly agent: boolean;
}

/** One approval as the API shows it. */
export interface ApprovalView {
  readonly by: PersonView;
  readonly at: string;
  readonly comment?: string;
}

/** One ref command of a held push. */
export interface CommandView {
  readonly ref: string;
  readonly oldOid: Oid;
  readonly newOid: Oid;
  readonly kind: RefUpdateKind;
}

/** A hold's state flattened into the hold: `state` names it, its fields sit beside it (dates as ISO strings). */
export type HoldStateView =
  | { readonly state: 'pending'; readonly expiresAt: string }
  | { readonly state: 'approved'; readonly approvedAt: string; readonly attempts: number; readonly nextAttemptAt: string; readonly lastError?: string }
  | { readonly state: 'relaying'; readonly approvedAt: string; readonly attempts: number; readonly owner: string; readonly leaseUntil: string }
  | { readonly state: 'relayed'; readonly approvedAt: string; readonly finishedAt: string; readonly report: RelayReport }
  | { readonly state: 'stale'; readonly approvedAt: string; readonly finishedAt: string; readonly moved: readonly MovedRef[] }
  | { readonly state: 'upstream-rejected'; readonly approvedAt: string; readonly finishedAt: string; readonly message: string; readonly report?: RelayReport }
  | { readonly state: 'rejected'; readonly at: string; readonly by: PersonView; readonly comment: string }
  | { readonly state: 'expired'; readonly at: string }
  | { readonly state: 'cancelled'; readonly at: string; readonly by: PersonView };

/** A hold as the API answers it, for one caller (`mayReview`, `mayCancel`). */
export type HoldView = HoldStateView & {
  readonly id: string;
  readonly pushId: string;
  /** The review page of the hold. */
  readonly link: string;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly upstream: string;
  readonly repo: string;
  readonly pusher: PersonView;
  readonly commands: readonly CommandView[];
  readonly pushOptions: readonly string[];
  /** The held pack's size and SHA-256 (null for a push that only deletes refs). */
  readonly pack: { readonly bytes: number; readonly sha256: string } | null;
  readonly summary: JsonObject;
  /** The rules that fired (findings already masked). */
  readonly reasons: readonly Reason[];
  /** Who must approve: every entry met, each by `count` distinct people from its groups. */
  readonly approvers: readonly Approvers[];
  readonly approvals: readonly ApprovalView[];
  /** What each unmet entry still needs. */
  readonly missing: readonly Approvers[];
  /** What an approval binds to (send it back with `approve` to approve exactly this push). */
  readonly digest: string;
  readonly mayReview: boolean;
  readonly mayCancel: boolean;
};

/** The answer of `GET /api/holds`. */
export interface HoldListView {
  readonly holds: readonly HoldView[];
}

/** The body of every error answer. */
export interface ApiErrorView {
  readonly error: { readonly code: string; readonly message: string; readonly requestId: string };
}

function personView(p: Person): PersonView {
  return p.email === undefined ? { sub: p.sub, agent: p.agent } : { sub: p.sub, email: p.email, agent: p.agent };
}

function stateView(hold: HoldRecord): HoldStateView {
  const s = hold.state;
  switch (s.kind) {
    case 'pending':
      return { state: s.kind, expiresAt: s.expiresAt.toISOString() };
    case 'approved':
      return {
        state: s.kind,
        approvedAt: s.approvedAt.toISOString(),
        attempts: s.attempts,
        nextAttemptAt: s.nextAttemptAt.toISOString(),
        ...(s.lastError === undefined ? {} : { lastError: s.lastError }),
      };
    case 'relaying':
      return { state: s.kind, approvedAt: s.approvedAt.toISOString(), attempts: s.attempts, owner: s.owner, leaseUntil: s.leaseUntil.toISOString() };
    case 'relayed':
      return { state: s.kind, approvedAt: s.approvedAt.toISOString(), finishedAt: s.finishedAt.toISOString(), report: s.report };
    case 'stale':
      return { state: s.kind, approvedAt: s.approvedAt.toISOString(), finishedAt: s.finishedAt.toISOString(), moved: s.moved };
    case 'upstream-rejected':
      return {
        state: s.kind,
        approvedAt: s.approvedAt.toISOString(),
        finishedAt: s.finishedAt.toISOString(),
        message: s.message,
        ...(s.report === undefined ? {} : { report: s.report }),
      };
    case 'rejected':
      return { state: s.kind, at: s.at.toISOString(), by: personView(s.by), comment: s.comment };
    case 'expired':
      return { state: s.kind, at: s.at.toISOString() };
    case 'cancelled':
      return { state: s.kind, at: s.at.toISOString(), by: personView(s.by) };
  }
}

/** Whether `identity` is the account that pushed the hold. */
export function isPusher(hold: HoldRecord, identity: Identity): boolean {
  return sameAccount(hold.pusher, identity);
}

/**
 * Who may read a hold: its pusher, and anyone in one of the groups it needs approvers from
 * (whatever its state: a reviewer still reads a hold after it was relayed). Nobody else learns it
 * exists.
 */
export function mayRead(hold: HoldRecord, identity: Identity): boolean {
  return isPusher(hold, identity) || inApproverGroups(hold.approvers, identity);
}

/** The review page of a hold. */
export function holdLink(publicUrl: (() => string) | undefined, id: string): string {
  const base = publicUrl === undefined ? '' : publicUrl().replace(/\/+$/, '');
  return `${base}/review/holds/${encodeURIComponent(id)}`;
}

/** A hold as `viewer` sees it through the API. */
export function holdView(hold: HoldRecord, viewer: Identity, store: Pick<HoldStore, 'mayReview'>, publicUrl?: () => string): HoldView {
  return {
    id: hold.id,
    pushId: hold.pushId,
    ...stateView(hold),
    link: holdLink(publicUrl, hold.id),
    createdAt: hold.createdAt.toISOString(),
    updatedAt: hold.updatedAt.toISOString(),
    upstream: hold.upstream,
    repo: hold.repo,
    pusher: personView(hold.pusher),
    commands: hold.commands.map((c) => ({ ref: c.ref, oldOid: c.oldOid, newOid: c.newOid, kind: refUpdateKind(c) })),
    pushOptions: hold.pushOptions,
    pack: hold.pack === undefined ? null : { bytes: hold.pack.bytes, sha256: hold.pack.sha256 },
    summary: hold.summary,
    reasons: hold.decision.reasons,
    approvers: hold.approvers,
    approvals: hold.approvals.map((a) => ({ by: personView(a.by), at: a.at.toISOString(), ...(a.comment === undefined ? {} : { comment: a.comment }) })),
    missing: missingApprovals(hold),
    digest: hold.digest,
    mayReview: store.mayReview(hold, viewer),
    mayCancel: hold.state.kind === 'pending' && !isExpired(hold, new Date()) && isPusher(hold, viewer),
  };
}

// --- Requests ---------------------------------------------------------------------------------

/** The endpoint a request names. */
export type ApiRoute =
  | { readonly kind: 'list'; readonly query: URLSearchParams }
  | { readonly kind: 'show'; readonly id: string }
  | { readonly kind: 'act'; readonly id: string; readonly action: HoldAction };

/** What a reviewer or the pusher can do to a hold. */
export type HoldAction = 'approve' | 'reject' | 'cancel';

const ACTIONS: readonly HoldAction[] = ['approve', 'reject', 'cancel'];

/** What a hold id can look like; anything else cannot name a hold (and is answered as one not found). */
const HOLD_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;

/** Parses the method and request target into an endpoint (or the error that answers it). */
export function parseApiRoute(method: string, target: string): { readonly kind: 'route'; readonly route: ApiRoute } | { readonly kind: 'error'; readonly error: HoldsApiError } {
  const q = target.indexOf('?');
  const path = q === -1 ? target : target.slice(0, q);
  const query = new URLSearchParams(q === -1 ? '' : target.slice(q + 1));
  const parts = path.split('/').slice(1);
  const notFound = { kind: 'error', error: new HoldsApiError('API_NOT_FOUND', 404, `no API endpoint at ${JSON.stringify(path.slice(0, 200))}; see docs/API.md`) } as const;
  const only = (allowed: string) =>
    method === allowed ? undefined : ({ kind: 'error', error: new HoldsApiError('API_METHOD_NOT_ALLOWED', 405, `${path.slice(0, 200)} takes ${allowed}, not ${methodLabel(method)}`, { allow: allowed }) } as const);
  if (parts[0] !== 'api' || parts[1] !== 'holds') return notFound;
  if (parts.length === 2) return only('GET') ?? { kind: 'route', route: { kind: 'list', query } };
  const id = parts[2];
  if (parts.length === 3) {
    if (id === '') return notFound;
    return only('GET') ?? { kind: 'route', route: { kind: 'show', id } };
  }
  const action = ACTIONS.find((a) => a === parts[3]);
  if (parts.length !== 4 || action === undefined || id === '') return notFound;
  return only('POST') ?? { kind: 'route', route: { kind: 'act', id, action } };
}

/**
 * The answer for a hold the caller may not see, or that does not exist: the same, so that
 * nobody learns which holds exist.
 */
function notFound(id: string): HoldRefusal {
  return { kind: 'refused', status: 404, code: 'HOLD_NOT_FOUND', message: `no hold ${JSON.stringify(id.slice(0, 80))} that you may see` };
}

/** The filters of `GET /api/holds`. */
export interface ListQuery {
  readonly state: HoldStateKind | undefined;
  readonly mine: boolean;
}

/** Reads `state` and `mine`; an unknown, repeated or malformed parameter is an error, not ignored. */
export function parseListQuery(query: URLSearchParams): { readonly kind: 'query'; readonly query: ListQuery } | { readonly kind: 'error'; readonly error: HoldsApiError } {
  const bad = (message: string) => ({ kind: 'error', error: new HoldsApiError('API_BAD_QUERY', 400, message) }) as const;
  const seen = new Set<string>();
  for (const key of query.keys()) {
    if (key !== 'state' && key !== 'mine') return bad(`unknown query parameter ${JSON.stringify(key.slice(0, 80))}: the parameters are state and mine`);
    if (seen.has(key)) return bad(`query parameter ${key} is given more than once`);
    seen.add(key);
  }
  const stateText = query.get('state');
  const state = stateText === null ? undefined : HOLD_STATES.find((s) => s === stateText);
  if (stateText !== null && state === undefined) return bad(`state must be one of ${HOLD_STATES.join(', ')}, not ${JSON.stringify(stateText.slice(0, 80))}`);
  const mineText = query.get('mine');
  let mine = false;
  if (mineText === '1' || mineText === 'true') mine = true;
  else if (mineText !== null && mineText !== '0' && mineText !== 'false') return bad(`mine must be 1 or 0, not ${JSON.stringify(mineText.slice(0, 80))}`);
  return { kind: 'query', query: { state, mine } };
}

/** The body of an action, validated. */
export type ActionBody =
  | { readonly action: 'approve'; readonly comment?: string; readonly digest?: string }
  | { readonly action: 'reject'; readonly comment: string }
  | { readonly action: 'cancel'; readonly comment?: string };

const ACTION_FIELDS: Readonly<Record<HoldAction, readonly string[]>> = { approve: ['comment', 'digest'], reject: ['comment'], cancel: ['comment'] };

/** Decodes and validates an action's body: UTF-8 JSON, an object, known fields of the right types. An empty body is `{}`. */
export function parseActionBody(action: HoldAction, bytes: Uint8Array): { readonly kind: 'body'; readonly body: ActionBody } | { readonly kind: 'error'; readonly error: HoldsApiError } {
  const badJson = (message: string) => ({ kind: 'error', error: new HoldsApiError('API_BAD_JSON', 400, message) }) as const;
  const badBody = (message: string) => ({ kind: 'error', error: new HoldsApiError('API_BAD_BODY', 400, message) }) as const;
  let value: unknown = {};
  if (bytes.length > 0) {
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      return badJson('the body is not UTF-8 text');
    }
    if (text.trim() !== '') {
      try {
        value = JSON.parse(text);
      } catch (e) {
        return badJson(`the body is not JSON: ${e instanceof Error ? e.message.slice(0, 200) : 'unreadable'}`);
      }
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return badJson('the body must be a JSON object');
  const fields = value as Record<string, unknown>;
  const allowed = ACTION_FIELDS[action];
  for (const key of Object.keys(fields)) {
    if (!allowed.includes(key)) return badBody(`${action} takes ${allowed.map((f) => `"${f}"`).join(' and ')}, not ${JSON.stringify(key.slice(0, 80))}`);
  }
  for (const key of allowed) {
    if (fields[key] !== undefined && typeof fields[key] !== 'string') return badBody(`"${key}" must be a string`);
  }
  const comment = fields.comment as string | undefined;
  const given = comment === undefined || comment.trim() === '' ? undefined : comment;
  switch (action) {
    case 'approve':
      return { kind: 'body', body: { action, comment: given, digest: fields.digest as string | undefined } };
    case 'reject':
      // A missing comment is the store's refusal (HOLD_COMMENT_REQUIRED), as for any other caller.
      return { kind: 'body', body: { action, comment: given ?? '' } };
    case 'cancel':
      return { kind: 'body', body: { action, comment: given } };
  }
}

/** How reading a body ended. */
type BodyRead = { readonly kind: 'read'; readonly bytes: Buffer } | { readonly kind: 'too-large' } | { readonly kind: 'failed'; readonly message: string };

/**
 * How much of a too-large body is still read (and dropped) before answering. Many HTTP clients
 * cannot read an answer while they are still sending (the connection is reset under them), so a
 * body a little over the limit is drained and the caller gets its 400; anything larger is not
 * read at all: the answer closes the connection.
 */
const MAX_API_DRAIN_BYTES = 1024 * 1024;

/** Reads a request body up to `limit` bytes (see MAX_API_DRAIN_BYTES for what happens past it). */
function readBody(req: IncomingMessage, limit: number): Promise<BodyRead> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > MAX_API_DRAIN_BYTES) {
    req.pause();
    return Promise.resolve({ kind: 'too-large' });
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (result: BodyRead): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
      resolve(result);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
      else if (size > MAX_API_DRAIN_BYTES) {
        req.pause();
        finish({ kind: 'too-large' });
      }
    };
    const onEnd = (): void => finish(size > limit ? { kind: 'too-large' } : { kind: 'read', bytes: Buffer.concat(chunks) });
    const onError = (e: Error): void => finish({ kind: 'failed', message: e.message });
    const onClose = (): void => {
      if (!req.complete) finish({ kind: 'failed', message: 'the client closed the connection before its request body ended' });
    };
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onError);
    req.once('close', onClose);
  });
}

/** An answer, before it is written. */
interface ApiAnswer {
  readonly status: number;
  readonly body: HoldView | HoldListView | ApiErrorView;
  readonly headers?: Readonly<Record<string, string>>;
  /** The error code, for the log line and metrics. */
  readonly code?: string;
  /** Logged with the request (an internal failure's details, never sent). */
  readonly failure?: unknown;
}

/** What the log line says about the request, filled in as it is understood. */
interface Facts {
  endpoint?: string;
  holdId?: string;
  identity?: Identity;
}

function errorAnswer(error: unknown, requestId: string): ApiAnswer {
  const httpStatus = isPushgateError(error) && error.delivery.kind === 'http' ? error.delivery.status : 500;
  // What the caller may learn: its own mistakes and a service being unavailable; an internal failure says nothing about internals.
  const shown = isPushgateError(error) && error.code !== 'INTERNAL' && (httpStatus < 500 || httpStatus === 503);
  const code = shown ? (error as PushgateError).code : 'INTERNAL';
  const message = shown ? (error as PushgateError).message : 'internal error';
  const status = shown ? httpStatus : 500;
  const headers: Record<string, string> = {};
  if (status === 401) headers['www-authenticate'] = 'Basic realm="pushgate"';
  if (error instanceof HoldsApiError && error.data?.allow !== undefined) headers.allow = error.data.allow;
  return { status, body: { error: { code, message, requestId } }, headers, code, failure: shown ? undefined : error };
}

/** The store's refusal (or the API's "not found") with the status it carries. */
function refusalAnswer(refusal: HoldRefusal, requestId: string): ApiAnswer {
  return { status: refusal.status, body: { error: { code: refusal.code, message: refusal.message, requestId } }, code: refusal.code };
}

/** Everything of one request after routing: authentication, the store, the body, the action. */
async function answer(ctx: HoldsApiContext, req: IncomingMessage, requestId: string, clientAddr: string | undefined, facts: Facts): Promise<ApiAnswer> {
  const parsed = parseApiRoute(req.method ?? '', req.url ?? '');
  if (parsed.kind === 'error') return errorAnswer(parsed.error, requestId);
  const route = parsed.route;
  facts.endpoint = route.kind === 'act' ? `holds.${route.action}` : `holds.${route.kind}`;
  // Logged as sent, but bounded: it is whatever the caller put in the path.
  if (route.kind !== 'list') facts.holdId = route.id.slice(0, 80);

  const header = req.headers.authorization;
  let identity: Identity;
  try {
    identity = await ctx.authenticator.authenticate(Array.isArray(header) ? header[0] : header);
  } catch (e) {
    return errorAnswer(e, requestId);
  }
  facts.identity = identity;
  const store = ctx.holding?.holds;
  if (store === undefined) return errorAnswer(new HoldsApiError('HOLDS_UNAVAILABLE', 503, 'this gateway keeps no held pushes'), requestId);
  // An id no hold can have is not looked up: it is answered as any hold the caller cannot see.
  if (route.kind !== 'list' && !HOLD_ID_RE.test(route.id)) return refusalAnswer(notFound(route.id), requestId);
  const ok = (body: HoldView | HoldListView): ApiAnswer => ({ status: 200, body });
  const view = (hold: HoldRecord): HoldView => holdView(hold, identity, store, ctx.holding?.publicUrl);

  switch (route.kind) {
    case 'list': {
      const query = parseListQuery(route.query);
      if (query.kind === 'error') return errorAnswer(query.error, requestId);
      const { state, mine } = query.query;
      const holds = mine ? await store.list({ state, pushedBy: identity }) : await store.list({ state: state ?? 'pending', actionableBy: identity });
      // The store's filter decides; this only makes sure nothing unreadable ever leaves.
      return ok({ holds: holds.filter((h) => mayRead(h, identity)).map(view) });
    }
    case 'show': {
      const hold = await store.get(route.id);
      if (hold === undefined || !mayRead(hold, identity)) return refusalAnswer(notFound(route.id), requestId);
      return ok(view(hold));
    }
    case 'act': {
      const read = await readBody(req, MAX_API_BODY_BYTES);
      if (read.kind === 'too-large') return errorAnswer(new HoldsApiError('API_BODY_TOO_LARGE', 400, `the body is larger than ${MAX_API_BODY_BYTES} bytes`), requestId);
      if (read.kind === 'failed') return errorAnswer(new HoldsApiError('API_BAD_JSON', 400, read.message), requestId);
      const body = parseActionBody(route.action, read.bytes);
      if (body.kind === 'error') return errorAnswer(body.error, requestId);
      const actor: HoldActor = { identity, requestId, clientAddr, userAgent: firstHeader(req.headers['user-agent']) };
      const b = body.body;
      switch (b.action) {
        case 'approve': {
          const outcome = await store.approve(route.id, actor, { comment: b.comment, digest: b.digest });
          return outcome.kind === 'refused' ? refusalAnswer(outcome, requestId) : ok(view(outcome.hold));
        }
        case 'reject': {
          const outcome = await store.reject(route.id, actor, { comment: b.comment });
          return outcome.kind === 'refused' ? refusalAnswer(outcome, requestId) : ok(view(outcome.hold));
        }
        case 'cancel': {
          const outcome = await store.cancel(route.id, actor, { comment: b.comment });
          return outcome.kind === 'refused' ? refusalAnswer(outcome, requestId) : ok(view(outcome.hold));
        }
      }
    }
  }
}

function firstHeader(value: string | readonly string[] | undefined): string | undefined {
  return typeof value === 'string' ? value : value?.[0];
}

/**
 * Serves one API request from arrival to its log line: answers it (never throws: a failure of the
 * store is a 500 or 503 with the request id), counts it under the route label `api`, and logs one
 * line. `requestId` is the request's id as git requests get it (X-Request-Id honoured).
 */
export async function serveHoldsApi(ctx: HoldsApiContext, req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
  const started = performance.now();
  const method = req.method ?? '';
  const clientAddr = ctx.clientAddress(req.socket.remoteAddress, req.headers['x-forwarded-for']);
  const closed = new Promise<void>((resolve) => res.once('close', resolve));
  ctx.metrics.inFlight.inc({ route: 'api' });
  const facts: Facts = {};
  let result: ApiAnswer;
  try {
    result = await answer(ctx, req, requestId, clientAddr, facts);
  } catch (e) {
    result = errorAnswer(e, requestId);
  }
  const body = Buffer.from(`${JSON.stringify(result.body)}\n`, 'utf8');
  if (!res.headersSent && !res.destroyed) {
    res.writeHead(result.status, {
      ...result.headers,
      'x-request-id': requestId,
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(body.length),
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      // A body left unread (too large, or sent to a GET) must not be taken for the next request.
      ...(req.complete ? {} : { connection: 'close' }),
    });
    res.end(body);
  }
  await closed;
  const durationMs = performance.now() - started;
  const status = res.statusCode;
  ctx.metrics.inFlight.dec({ route: 'api' });
  ctx.metrics.requests.inc({ route: 'api', method: methodLabel(method), status: String(status) });
  ctx.metrics.duration.observe({ route: 'api', method: methodLabel(method) }, durationMs / 1000);
  ctx.metrics.bytesOut.inc({ route: 'api' }, body.length);
  if (result.code?.startsWith('AUTH_') === true) ctx.metrics.authFailures.inc({ code: result.code });
  const identity = facts.identity;
  const fields = {
    method,
    route: 'api',
    endpoint: facts.endpoint,
    hold: facts.holdId,
    status,
    code: result.code,
    bytesOut: body.length,
    durationMs: Math.round(durationMs * 10) / 10,
    clientAddr,
    userAgent: firstHeader(req.headers['user-agent']),
  };
  const logger = ctx.logger.child(identity === undefined ? { requestId } : { requestId, sub: identity.sub, issuer: identity.issuer, agent: identity.agent });
  if (result.failure !== undefined) logger.error('api request failed', { ...fields, error: describe(result.failure) });
  else logger.info('api request', fields);
}

function describe(e: unknown): unknown {
  if (isPushgateError(e)) return { ...e.toJSON(), cause: e.cause instanceof Error ? e.cause.message : undefined };
  return e instanceof Error ? { name: e.name, message: e.message, stack: e.stack } : String(e);
}
