/**
 * The store: PostgreSQL or embedded PGlite behind one Database interface, versioned migrations,
 * and the append-only audit event table. Test helpers live in '@pushgate/store/testing'.
 */
export type { Database, DatabaseKind, OpenDatabaseOptions, Queryable, QueryResult } from './database';
export { openDatabase } from './open';
export { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_POOL_SIZE, DEFAULT_STATEMENT_TIMEOUT_MS } from './postgres';
export { StoreError, APPEND_ONLY_SQLSTATE, type StoreErrorCode } from './errors';
export { maskDatabaseUrl } from './url';
export {
  migrate,
  appliedMigrations,
  migrationChecksum,
  type Migration,
  type MigrateResult,
  type AppliedMigration,
} from './migrate';
export { MIGRATIONS } from './migrations/index';
export {
  appendAuditEvent,
  listAuditEvents,
  DEFAULT_AUDIT_PAGE,
  MAX_AUDIT_PAGE,
  type AuditEventFilter,
  type AuditEventRecord,
  type AuditEventRow,
  type AuditRefUpdate,
  type AuditService,
  type JsonObject,
  type JsonValue,
} from './audit';
