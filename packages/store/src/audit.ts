/**
 * Audit rows: camelCase in TypeScript, snake_case in SQL (migration 1). The `audit` package maps
 * its events to AuditEventRow; this module only validates, stores and reads them back.
 *
 * Text from clients ends up here (user agents, ref names, error details), and PostgreSQL refuses
 * NUL characters in text and jsonb and unpaired surrogates in jsonb. So that an odd byte can never
 * lose an audit event, both are replaced by U+FFFD before writing.
 */
import { isOid, type Oid, type RefUpdate } from '@pushgate/core';
import type { Queryable } from './database';
import { StoreError, describe } from './errors';

/** A JSON value as read back from jsonb columns. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** A JSON object (the `detail` column as read back). */
export type JsonObject = { [key: string]: JsonValue };

/** The git service of a request, when it had one. */
export type AuditService = 'git-upload-pack' | 'git-receive-pack';

/** A ref update as written; both ids are checked to be 40-hex (RefUpdate from core fits). */
export interface AuditRefUpdate {
  readonly ref: string;
  readonly oldOid: string;
  readonly newOid: string;
}

/**
 * An audit event to append; absent optional fields are stored as NULL. The actor columns are all
 * set (authenticated request; `actorEmail` may still be null) or all null (unauthenticated).
 */
export interface AuditEventRow {
  readonly occurredAt: Date;
  /** The gateway's request id; several events of one request share it. */
  readonly requestId: string;
  /** Dotted lowercase name: 'http.request', 'push.received', … (the audit package owns the list). */
  readonly kind: string;
  readonly actorSub?: string | null;
  readonly actorIssuer?: string | null;
  readonly actorEmail?: string | null;
  readonly actorGroups?: readonly string[] | null;
  readonly actorAgent?: boolean | null;
  readonly clientAddr?: string | null;
  readonly userAgent?: string | null;
  /** The configured upstream's name. */
  readonly upstream?: string | null;
  /** The repository path under the upstream, e.g. 'acme/widgets'. */
  readonly repo?: string | null;
  readonly service?: AuditService | null;
  readonly refUpdates?: readonly AuditRefUpdate[] | null;
  readonly httpStatus?: number | null;
  readonly bytesIn?: number | null;
  readonly bytesOut?: number | null;
  readonly durationMs?: number | null;
  /** Lowercase word(s) like 'ok', 'denied', 'client-error' (the audit package owns the list). */
  readonly outcome?: string | null;
  /**
   * Change-set summary, errors, the upstream's report, already masked by the caller. Stored as
   * JSON: Dates become ISO strings, bigints decimal strings, undefined members disappear.
   */
  readonly detail?: Readonly<Record<string, unknown>> | null;
}

/** An audit event read back; `id` is its position in the total order (a decimal string). */
export interface AuditEventRecord {
  readonly id: string;
  readonly occurredAt: Date;
  readonly requestId: string;
  readonly kind: string;
  readonly actorSub: string | null;
  readonly actorIssuer: string | null;
  readonly actorEmail: string | null;
  readonly actorGroups: string[] | null;
  readonly actorAgent: boolean | null;
  readonly clientAddr: string | null;
  readonly userAgent: string | null;
  readonly upstream: string | null;
  readonly repo: string | null;
  readonly service: AuditService | null;
  readonly refUpdates: RefUpdate[] | null;
  readonly httpStatus: number | null;
  readonly bytesIn: number | null;
  readonly bytesOut: number | null;
  readonly durationMs: number | null;
  readonly outcome: string | null;
  readonly detail: JsonObject | null;
}

/** Filters of listAuditEvents; all given ones must match. */
export interface AuditEventFilter {
  readonly requestId?: string;
  readonly actorSub?: string;
  readonly upstream?: string;
  readonly repo?: string;
  readonly kind?: string;
  readonly outcome?: string;
  /** occurred_at >= since. */
  readonly since?: Date;
  /** occurred_at < until. */
  readonly until?: Date;
  /** Only ids greater than this (the last id of the previous page, reading oldest first). */
  readonly afterId?: string;
  /** Only ids smaller than this (the last id of the previous page, reading newest first). */
  readonly beforeId?: string;
  /** 'asc' (oldest first, the default) or 'desc'. */
  readonly order?: 'asc' | 'desc';
  /** Rows to return: 1..MAX_AUDIT_PAGE, default DEFAULT_AUDIT_PAGE. */
  readonly limit?: number;
}

/** Rows per page when the filter names no limit. */
export const DEFAULT_AUDIT_PAGE = 100;
/** The largest page: a response an API can hold in memory (rows carry change-set summaries). */
export const MAX_AUDIT_PAGE = 1000;

/** The format of `kind`, as the table's CHECK constraint states it. */
const KIND_RE = /^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*$/;
const OUTCOME_RE = /^[a-z][a-z0-9_-]*$/;
const ID_RE = /^[1-9][0-9]{0,18}$/;
// NUL, and UTF-16 surrogates without their other half.
const UNSTORABLE = '\\u0000|[\\uD800-\\uDBFF](?![\\uDC00-\\uDFFF])|(?<![\\uD800-\\uDBFF])[\\uDC00-\\uDFFF]';
const UNSTORABLE_ALL = new RegExp(UNSTORABLE, 'g');
const UNSTORABLE_ANY = new RegExp(UNSTORABLE);

function storable(s: string): string {
  return s.replace(UNSTORABLE_ALL, '\uFFFD');
}

function storableOrNull(s: string | null | undefined): string | null {
  return s === undefined || s === null ? null : storable(s);
}

// JSON.stringify calls this for every value (after toJSON, so Dates are strings already) and
// recurses into what it returns, so an object returned with cleaned keys is walked in turn.
function jsonReplacer(_key: string, v: unknown): unknown {
  if (typeof v === 'string') return storable(v);
  if (typeof v === 'bigint') return v.toString();
  if (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).some((k) => UNSTORABLE_ANY.test(k))) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [storable(k), x]));
  }
  return v;
}

function bad(field: string, message: string, actual: unknown): StoreError {
  return new StoreError('STORE_BAD_EVENT', `audit event ${field} ${message}`, { field, actual });
}

function isSet<T>(v: T | null | undefined): v is T {
  return v !== undefined && v !== null;
}

function checkCount(field: string, v: number | null | undefined): number | null {
  if (!isSet(v)) return null;
  if (!Number.isSafeInteger(v) || v < 0) throw bad(field, 'must be a non-negative integer', v);
  return v;
}

function checkEvent(e: AuditEventRow): void {
  if (!(e.occurredAt instanceof Date) || Number.isNaN(e.occurredAt.getTime())) {
    throw bad('occurredAt', 'must be a valid Date', String(e.occurredAt));
  }
  if (e.requestId === '') throw bad('requestId', 'must not be empty', e.requestId);
  if (!KIND_RE.test(e.kind)) throw bad('kind', `must be a dotted lowercase name like 'http.request'`, e.kind);
  if (isSet(e.outcome) && !OUTCOME_RE.test(e.outcome)) throw bad('outcome', `must be a lowercase word like 'ok'`, e.outcome);
  const actor = { actorSub: e.actorSub, actorIssuer: e.actorIssuer, actorGroups: e.actorGroups, actorAgent: e.actorAgent };
  const present = Object.entries(actor).filter(([, v]) => isSet(v)).map(([k]) => k);
  if (present.length !== 0 && present.length !== 4) {
    throw bad('actor', 'must have actorSub, actorIssuer, actorGroups and actorAgent all set or all null', { present });
  }
  if (present.length === 0 && isSet(e.actorEmail)) throw bad('actorEmail', 'must be null without an actor', e.actorEmail);
  if (e.actorSub === '') throw bad('actorSub', 'must not be empty', e.actorSub);
  if (e.actorIssuer === '') throw bad('actorIssuer', 'must not be empty', e.actorIssuer);
  if (isSet(e.httpStatus) && !(Number.isInteger(e.httpStatus) && e.httpStatus >= 100 && e.httpStatus <= 599)) {
    throw bad('httpStatus', 'must be an HTTP status 100..599', e.httpStatus);
  }
  if (isSet(e.durationMs) && !(Number.isFinite(e.durationMs) && e.durationMs >= 0)) {
    throw bad('durationMs', 'must be a finite non-negative number', e.durationMs);
  }
  e.refUpdates?.forEach((u, i) => {
    if (!isOid(u.oldOid) || !isOid(u.newOid)) {
      throw bad(`refUpdates[${i}]`, 'must have 40-hex oldOid and newOid', { oldOid: u.oldOid, newOid: u.newOid });
    }
  });
  if (isSet(e.detail) && (typeof e.detail !== 'object' || Array.isArray(e.detail))) {
    throw bad('detail', 'must be an object', Array.isArray(e.detail) ? 'array' : typeof e.detail);
  }
}

function detailJson(detail: Readonly<Record<string, unknown>> | null | undefined): string | null {
  if (!isSet(detail)) return null;
  try {
    return JSON.stringify(detail, jsonReplacer);
  } catch (e) {
    // A circular structure: a bug in the caller, reported rather than crashing the request.
    throw bad('detail', `cannot be written as JSON: ${describe(e)}`, null);
  }
}

const COLUMNS = `id, occurred_at, request_id, kind, actor_sub, actor_issuer, actor_email, actor_groups, actor_agent,
  client_addr, user_agent, upstream, repo, service, ref_updates, http_status, bytes_in, bytes_out, duration_ms,
  outcome, detail`;

/**
 * Appends one event and returns its id. Takes a Queryable so an event can be written in the same
 * transaction as the state change it records. Throws STORE_BAD_EVENT for a malformed event.
 */
export async function appendAuditEvent(db: Queryable, event: AuditEventRow): Promise<{ id: string }> {
  checkEvent(event);
  const refUpdates = isSet(event.refUpdates)
    ? JSON.stringify(event.refUpdates.map((u) => ({ ref: storable(u.ref), oldOid: u.oldOid, newOid: u.newOid })))
    : null;
  const params = [
    event.occurredAt,
    storable(event.requestId),
    event.kind,
    storableOrNull(event.actorSub),
    storableOrNull(event.actorIssuer),
    storableOrNull(event.actorEmail),
    isSet(event.actorGroups) ? event.actorGroups.map(storable) : null,
    event.actorAgent ?? null,
    storableOrNull(event.clientAddr),
    storableOrNull(event.userAgent),
    storableOrNull(event.upstream),
    storableOrNull(event.repo),
    event.service ?? null,
    refUpdates,
    event.httpStatus ?? null,
    checkCount('bytesIn', event.bytesIn),
    checkCount('bytesOut', event.bytesOut),
    event.durationMs ?? null,
    event.outcome ?? null,
    detailJson(event.detail),
  ];
  const r = await db.query<{ id: string }>(
    `INSERT INTO audit_events (occurred_at, request_id, kind, actor_sub, actor_issuer, actor_email, actor_groups,
  actor_agent, client_addr, user_agent, upstream, repo, service, ref_updates, http_status, bytes_in, bytes_out,
  duration_ms, outcome, detail)
VALUES ($1, $2, $3, $4, $5, $6, $7::text[], $8, $9, $10, $11, $12, $13, $14::jsonb, $15, $16, $17, $18, $19, $20::jsonb)
RETURNING id`,
    params,
  );
  return { id: r.rows[0]!.id };
}

interface AuditEventSqlRow {
  id: string;
  occurred_at: Date;
  request_id: string;
  kind: string;
  actor_sub: string | null;
  actor_issuer: string | null;
  actor_email: string | null;
  actor_groups: string[] | null;
  actor_agent: boolean | null;
  client_addr: string | null;
  user_agent: string | null;
  upstream: string | null;
  repo: string | null;
  service: AuditService | null;
  ref_updates: { ref: string; oldOid: string; newOid: string }[] | null;
  http_status: number | null;
  bytes_in: string | null;
  bytes_out: string | null;
  duration_ms: number | null;
  outcome: string | null;
  detail: JsonObject | null;
}

function toRecord(r: AuditEventSqlRow): AuditEventRecord {
  return {
    id: r.id,
    occurredAt: r.occurred_at,
    requestId: r.request_id,
    kind: r.kind,
    actorSub: r.actor_sub,
    actorIssuer: r.actor_issuer,
    actorEmail: r.actor_email,
    actorGroups: r.actor_groups,
    actorAgent: r.actor_agent,
    clientAddr: r.client_addr,
    userAgent: r.user_agent,
    upstream: r.upstream,
    repo: r.repo,
    service: r.service,
    // appendAuditEvent wrote only checked 40-hex ids.
    refUpdates: r.ref_updates?.map((u) => ({ ref: u.ref, oldOid: u.oldOid as Oid, newOid: u.newOid as Oid })) ?? null,
    httpStatus: r.http_status,
    // Byte counts come from Node's counters, which are numbers: they fit.
    bytesIn: r.bytes_in === null ? null : Number(r.bytes_in),
    bytesOut: r.bytes_out === null ? null : Number(r.bytes_out),
    durationMs: r.duration_ms,
    outcome: r.outcome,
    detail: r.detail,
  };
}

function badFilter(field: string, message: string, actual: unknown): StoreError {
  return new StoreError('STORE_BAD_FILTER', `audit filter ${field} ${message}`, { field, actual });
}

function checkDate(field: string, d: Date | undefined): Date | undefined {
  if (d !== undefined && (!(d instanceof Date) || Number.isNaN(d.getTime()))) throw badFilter(field, 'must be a valid Date', String(d));
  return d;
}

function checkId(field: string, id: string | undefined): string | undefined {
  if (id !== undefined && !ID_RE.test(id)) throw badFilter(field, 'must be a positive decimal event id', id);
  return id;
}

/** Lists events matching every given filter, ordered by id, one page at a time. */
export async function listAuditEvents(db: Queryable, filter: AuditEventFilter = {}): Promise<AuditEventRecord[]> {
  const limit = filter.limit ?? DEFAULT_AUDIT_PAGE;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_AUDIT_PAGE) {
    throw badFilter('limit', `must be an integer from 1 to ${MAX_AUDIT_PAGE}`, limit);
  }
  const order = filter.order ?? 'asc';
  if (order !== 'asc' && order !== 'desc') throw badFilter('order', `must be 'asc' or 'desc'`, order);
  const where: string[] = [];
  const params: unknown[] = [];
  const add = (condition: (placeholder: string) => string, value: unknown): void => {
    if (value === undefined) return;
    params.push(value);
    where.push(condition(`$${params.length}`));
  };
  add((p) => `request_id = ${p}`, filter.requestId);
  add((p) => `actor_sub = ${p}`, filter.actorSub);
  add((p) => `upstream = ${p}`, filter.upstream);
  add((p) => `repo = ${p}`, filter.repo);
  add((p) => `kind = ${p}`, filter.kind);
  add((p) => `outcome = ${p}`, filter.outcome);
  add((p) => `occurred_at >= ${p}`, checkDate('since', filter.since));
  add((p) => `occurred_at < ${p}`, checkDate('until', filter.until));
  add((p) => `id > ${p}::bigint`, checkId('afterId', filter.afterId));
  add((p) => `id < ${p}::bigint`, checkId('beforeId', filter.beforeId));
  params.push(limit);
  const sql = `SELECT ${COLUMNS} FROM audit_events${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''}
ORDER BY id ${order === 'asc' ? 'ASC' : 'DESC'} LIMIT $${params.length}`;
  const r = await db.query<AuditEventSqlRow>(sql, params);
  return r.rows.map(toRecord);
}
