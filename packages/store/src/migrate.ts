/**
 * Versioned schema migrations, recorded in `schema_migrations (version, name, checksum,
 * applied_at)`. Each pending migration runs in its own transaction together with its record, so
 * a failure leaves the schema at the previous version.
 *
 * Several replicas may start at once: every migration transaction first takes a transaction-level
 * advisory lock (`pg_advisory_xact_lock`, which PGlite supports too), then re-reads what is
 * applied, so a migration another replica applied meanwhile is skipped, never applied twice. The
 * lock is released by COMMIT or ROLLBACK, so a crashed replica cannot leave it held.
 */
import { createHash } from 'node:crypto';
import { silentLogger, type Logger } from '@pushgate/core';
import type { Database, Queryable } from './database';
import { StoreError, describe } from './errors';
import { MIGRATIONS } from './migrations/index';

/** One schema change: SQL statements run in order in one transaction. */
export interface Migration {
  /** 1 for the first migration, then consecutive. */
  readonly version: number;
  /** What it does, for logs and `schema_migrations.name`. */
  readonly name: string;
  /** One statement per string (both backends run one statement per query). */
  readonly statements: readonly string[];
}

/** What `migrate` did. */
export interface MigrateResult {
  /** Migrations this call applied (empty when the schema was current or another replica applied them). */
  readonly applied: readonly { readonly version: number; readonly name: string }[];
  /** The schema version afterwards. */
  readonly version: number;
}

/** A migration recorded in `schema_migrations`. */
export interface AppliedMigration {
  readonly version: number;
  readonly name: string;
  readonly checksum: string;
  readonly appliedAt: Date;
}

// The advisory lock key: two int4s ('push', 1), a key space apart from single-bigint keys.
const LOCK_CLASS = 0x70757368;
const LOCK_OBJECT = 1;

/** SHA-256 over the statements; any change to an applied migration's SQL changes it. */
export function migrationChecksum(m: Migration): string {
  const h = createHash('sha256');
  for (const s of m.statements) {
    // Length-prefixed, so moving text between two statements changes the checksum too.
    h.update(`${Buffer.byteLength(s)}:`).update(s);
  }
  return h.digest('hex');
}

function checkList(migrations: readonly Migration[]): void {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) {
      throw new StoreError('STORE_MIGRATION_INVALID', `migration #${i + 1} ("${m.name}") has version ${m.version}; versions must be 1..N in order`, {
        index: i,
        expected: i + 1,
        actual: m.version,
      });
    }
    if (m.name.trim() === '' || m.statements.length === 0 || m.statements.some((s) => s.trim() === '')) {
      throw new StoreError('STORE_MIGRATION_INVALID', `migration ${m.version} needs a name and non-empty statements`, {
        version: m.version,
      });
    }
  });
}

async function lockAndRead(tx: Queryable): Promise<AppliedMigration[]> {
  // Waiting for another replica's migration can take longer than the statement timeout.
  await tx.query('SET LOCAL statement_timeout = 0');
  await tx.query('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_CLASS, LOCK_OBJECT]);
  // Checked rather than CREATE TABLE IF NOT EXISTS, which answers every start with a NOTICE.
  if (!(await hasMigrationsTable(tx))) {
    await tx.query(`CREATE TABLE schema_migrations (
  version integer PRIMARY KEY,
  name text NOT NULL,
  checksum text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
)`);
  }
  return readApplied(tx);
}

async function hasMigrationsTable(q: Queryable): Promise<boolean> {
  const r = await q.query<{ present: boolean }>(`SELECT to_regclass('schema_migrations') IS NOT NULL AS present`);
  return r.rows[0]?.present === true;
}

async function readApplied(q: Queryable): Promise<AppliedMigration[]> {
  const r = await q.query<{ version: number; name: string; checksum: string; applied_at: Date }>(
    'SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version',
  );
  return r.rows.map((row) => ({ version: row.version, name: row.name, checksum: row.checksum, appliedAt: row.applied_at }));
}

function verify(applied: readonly AppliedMigration[], migrations: readonly Migration[]): void {
  const latest = migrations.length;
  const unknown = applied.filter((a) => a.version > latest);
  if (unknown.length > 0) {
    const newest = unknown[unknown.length - 1]!;
    throw new StoreError(
      'STORE_SCHEMA_TOO_NEW',
      `the database schema is at version ${newest.version} ("${newest.name}") but this pushgate knows versions up to ${latest}; ` +
        `run a pushgate release at least as new as the one that migrated it`,
      { databaseVersion: newest.version, codeVersion: latest, unknown: unknown.map((a) => a.version) },
    );
  }
  for (const a of applied) {
    const m = migrations[a.version - 1]!;
    const checksum = migrationChecksum(m);
    if (a.checksum !== checksum) {
      throw new StoreError(
        'STORE_MIGRATION_CHANGED',
        `migration ${a.version} ("${m.name}") differs from the one applied on ${a.appliedAt.toISOString()} ("${a.name}"): ` +
          `applied migrations must never change; add a new migration instead`,
        { version: a.version, name: m.name, expected: a.checksum, actual: checksum },
      );
    }
  }
}

/** Lists the applied migrations (empty when the database was never migrated) without changing anything. */
export async function appliedMigrations(db: Database): Promise<AppliedMigration[]> {
  return (await hasMigrationsTable(db)) ? readApplied(db) : [];
}

/**
 * Brings the schema to the code's version, applying each pending migration in its own
 * transaction. Throws STORE_MIGRATION_CHANGED when an applied migration's SQL differs from the
 * code's, STORE_SCHEMA_TOO_NEW when the database has migrations the code does not know, and
 * STORE_MIGRATION_FAILED when a migration's SQL fails (that migration is rolled back).
 * `migrations` is for tests; the gateway uses the default.
 */
export async function migrate(
  db: Database,
  logger: Logger = silentLogger,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<MigrateResult> {
  checkList(migrations);
  const pending = await db.transaction(async (tx) => {
    const applied = await lockAndRead(tx);
    verify(applied, migrations);
    const versions = new Set(applied.map((a) => a.version));
    return migrations.filter((m) => !versions.has(m.version));
  });
  const done: { version: number; name: string }[] = [];
  for (const m of pending) {
    const ran = await db.transaction(async (tx) => {
      const applied = await lockAndRead(tx);
      verify(applied, migrations);
      // Another replica applied it between our transactions.
      if (applied.some((a) => a.version === m.version)) return false;
      const started = Date.now();
      for (const [i, statement] of m.statements.entries()) {
        try {
          await tx.query(statement);
        } catch (e) {
          throw new StoreError(
            'STORE_MIGRATION_FAILED',
            `migration ${m.version} ("${m.name}") failed at statement ${i + 1} of ${m.statements.length}: ${describe(e)}`,
            { ...(e instanceof StoreError ? e.data : {}), version: m.version, name: m.name, statement: i + 1 },
            e,
          );
        }
      }
      await tx.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [
        m.version,
        m.name,
        migrationChecksum(m),
      ]);
      logger.info('migration applied', { version: m.version, name: m.name, ms: Date.now() - started, database: db.description });
      return true;
    });
    if (ran) done.push({ version: m.version, name: m.name });
  }
  if (done.length === 0) logger.debug('schema is current', { version: migrations.length, database: db.description });
  return { applied: done, version: migrations.length };
}
