/**
 * Errors of the store. A database failure is never the git client's fault, so every code here
 * reaches the client as an HTTP status (503 when the database is unreachable or overloaded, so
 * clients and load balancers retry; 500 otherwise), except a bad audit query filter, which is
 * the caller's mistake (400). The gateway refuses a push when the store fails: never fail open.
 */
import { PushgateError, type ClientDelivery } from '@pushgate/core';

/** The codes of StoreError (listed in docs/ERRORS.md). */
export type StoreErrorCode =
  /** `database.url` is not a postgres:// or postgresql:// URL. */
  | 'STORE_BAD_URL'
  /** The first connection to PostgreSQL failed (refused, DNS, authentication, missing database). */
  | 'STORE_CONNECT_FAILED'
  /** The connection was lost or the server refused work (SQLSTATE class 08, 53300, 57P0x). */
  | 'STORE_UNAVAILABLE'
  /** A statement ran longer than the statement timeout (SQLSTATE 57014). */
  | 'STORE_TIMEOUT'
  /** A statement failed; `data.sqlState` says why. */
  | 'STORE_QUERY_FAILED'
  /** An UPDATE, DELETE or TRUNCATE on an append-only table was refused by its trigger. */
  | 'STORE_APPEND_ONLY'
  /** The database was used after `close()`. */
  | 'STORE_CLOSED'
  /** `db.query` or `db.transaction` was called inside a transaction on the same database. */
  | 'STORE_NESTED_QUERY'
  /** A transaction's `query` was used after the transaction ended. */
  | 'STORE_TX_CLOSED'
  /** Another process (or this one) already has the embedded database directory open. */
  | 'STORE_DATADIR_LOCKED'
  /** A value came back in a form the store cannot read (e.g. a server not using DateStyle ISO). */
  | 'STORE_BAD_VALUE'
  /** An applied migration's SQL differs from the code's. */
  | 'STORE_MIGRATION_CHANGED'
  /** The database has migrations this code does not know: it is older than the schema. */
  | 'STORE_SCHEMA_TOO_NEW'
  /** The list of migrations in the code is malformed (versions not 1..N, empty SQL). */
  | 'STORE_MIGRATION_INVALID'
  /** A migration's SQL failed; it was rolled back. */
  | 'STORE_MIGRATION_FAILED'
  /** An audit event to append is malformed (a bug in the caller, not client input). */
  | 'STORE_BAD_EVENT'
  /** An audit query filter is malformed (limit out of range, bad id, bad dates). */
  | 'STORE_BAD_FILTER';

const DELIVERY: Record<StoreErrorCode, ClientDelivery> = {
  STORE_BAD_URL: { kind: 'http', status: 500 },
  STORE_CONNECT_FAILED: { kind: 'http', status: 503 },
  STORE_UNAVAILABLE: { kind: 'http', status: 503 },
  STORE_TIMEOUT: { kind: 'http', status: 503 },
  STORE_QUERY_FAILED: { kind: 'http', status: 500 },
  STORE_APPEND_ONLY: { kind: 'http', status: 500 },
  STORE_CLOSED: { kind: 'http', status: 503 },
  STORE_NESTED_QUERY: { kind: 'http', status: 500 },
  STORE_TX_CLOSED: { kind: 'http', status: 500 },
  STORE_DATADIR_LOCKED: { kind: 'http', status: 503 },
  STORE_BAD_VALUE: { kind: 'http', status: 500 },
  STORE_MIGRATION_CHANGED: { kind: 'http', status: 500 },
  STORE_SCHEMA_TOO_NEW: { kind: 'http', status: 500 },
  STORE_MIGRATION_INVALID: { kind: 'http', status: 500 },
  STORE_MIGRATION_FAILED: { kind: 'http', status: 500 },
  STORE_BAD_EVENT: { kind: 'http', status: 500 },
  STORE_BAD_FILTER: { kind: 'http', status: 400 },
};

/** A failure of the store; `data` carries the same facts as the message (SQLSTATE, versions, paths). */
export class StoreError extends PushgateError<StoreErrorCode, Record<string, unknown>> {
  constructor(code: StoreErrorCode, message: string, data: Record<string, unknown> = {}, cause?: unknown) {
    super(code, message, { data, cause, delivery: DELIVERY[code] });
  }
}

/** The SQLSTATE raised by the append-only triggers (class "PG" is unused by PostgreSQL itself). */
export const APPEND_ONLY_SQLSTATE = 'PGA01';

/** The fields of a server error that both `pg` and PGlite expose (both derive from pg-protocol). */
interface ServerErrorFields {
  readonly code: string;
  readonly message: string;
  readonly severity?: string;
  readonly detail?: string;
  readonly hint?: string;
  readonly table?: string;
  readonly column?: string;
  readonly constraint?: string;
}

const SQLSTATE_RE = /^[0-9A-Z]{5}$/;

/**
 * A string property of a thrown value. Read by name rather than after `instanceof Error`: errors
 * from Node itself (fs, net) come from another realm where the code runs in a VM context (Jest).
 */
export function errorField(e: unknown, name: string): string | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const v: unknown = Reflect.get(e, name);
  return typeof v === 'string' ? v : undefined;
}

function serverError(e: unknown): ServerErrorFields | undefined {
  const code = errorField(e, 'code');
  // Node's system errors also have `code` (ECONNREFUSED); SQLSTATEs are exactly five [0-9A-Z].
  if (code === undefined || !SQLSTATE_RE.test(code)) return undefined;
  const field = (name: string): string | undefined => errorField(e, name);
  return {
    code,
    message: errorField(e, 'message') ?? '',
    severity: field('severity'),
    detail: field('detail'),
    hint: field('hint'),
    table: field('table'),
    column: field('column'),
    constraint: field('constraint'),
  };
}

function isUnavailableState(sqlState: string): boolean {
  return (
    // Connection exceptions, except 08P01 (protocol violation), which a wrong parameter count raises.
    (sqlState.startsWith('08') && sqlState !== '08P01') ||
    sqlState === '53300' || // too many connections
    sqlState === '57P01' || // admin shutdown
    sqlState === '57P02' || // crash shutdown
    sqlState === '57P03' // cannot connect now (starting up, recovery)
  );
}

const NETWORK_ERRNOS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ENOENT', // a Unix socket path that does not exist
]);

// What pg and pg-pool say when a socket dies or no connection can be had in time.
const NETWORK_MESSAGE_RE = /connection terminated|timeout exceeded when trying to connect|connection error|not queryable/i;

/** The message of an error; Node's AggregateError (every address of a host refused) has none. */
export function describe(e: unknown): string {
  if (typeof e !== 'object' || e === null) return String(e);
  const message = errorField(e, 'message');
  if (message !== undefined && message !== '') return message;
  const inner: unknown = Reflect.get(e, 'errors');
  if (Array.isArray(inner) && inner.length > 0) return inner.map(describe).join('; ');
  return errorField(e, 'code') ?? errorField(e, 'name') ?? String(e);
}

/** The first line of a statement, short enough for a message. */
export function statementHead(sql: string): string {
  const line = sql.trim().split('\n', 1)[0] ?? '';
  return line.length > 120 ? `${line.slice(0, 117)}...` : line;
}

/**
 * Turns whatever a driver threw into a StoreError. `scrub` removes secrets (the password of the
 * database URL) from driver messages; `where` names the database for the message.
 */
export function toStoreError(e: unknown, sql: string, where: string, scrub: (s: string) => string): StoreError {
  if (e instanceof StoreError) return e;
  const statement = statementHead(sql);
  const server = serverError(e);
  if (server !== undefined) {
    const data: Record<string, unknown> = { sqlState: server.code, statement, database: where };
    for (const k of ['detail', 'hint', 'table', 'column', 'constraint'] as const) {
      const v = server[k];
      if (v !== undefined) data[k] = scrub(v);
    }
    const message = scrub(server.message);
    if (server.code === APPEND_ONLY_SQLSTATE) {
      return new StoreError('STORE_APPEND_ONLY', message, data);
    }
    if (server.code === '57014') {
      return new StoreError('STORE_TIMEOUT', `${message} (SQLSTATE 57014) in "${statement}" on ${where}`, data);
    }
    if (isUnavailableState(server.code)) {
      return new StoreError('STORE_UNAVAILABLE', `${where} is unavailable: ${message} (SQLSTATE ${server.code})`, data);
    }
    return new StoreError('STORE_QUERY_FAILED', `${message} (SQLSTATE ${server.code}) in "${statement}" on ${where}`, data);
  }
  const message = scrub(describe(e));
  const errno = errorField(e, 'code');
  const data: Record<string, unknown> = { statement, database: where };
  if (errno !== undefined) data.errno = errno;
  // The driver's error is not attached as `cause`: its message is scrubbed here and nowhere else.
  if ((errno !== undefined && NETWORK_ERRNOS.has(errno)) || NETWORK_MESSAGE_RE.test(message)) {
    return new StoreError('STORE_UNAVAILABLE', `${where} is unavailable: ${message}`, data);
  }
  return new StoreError('STORE_QUERY_FAILED', `${message} in "${statement}" on ${where}`, data);
}

/** COMMIT of a transaction in which a statement failed: PostgreSQL rolls it back instead. */
export function abortedCommitError(where: string): StoreError {
  return new StoreError(
    'STORE_QUERY_FAILED',
    `transaction on ${where} was rolled back instead of committed: a statement inside it failed (SQLSTATE 25P02)`,
    { sqlState: '25P02', statement: 'COMMIT', database: where },
  );
}
