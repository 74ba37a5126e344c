import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { LogFields, Logger } from '@pushgate/core';
import { MIGRATIONS, appliedMigrations, migrate, migrationChecksum, type Database, type Migration } from './index';
import { rejection, testDatabases } from './testing';

function recordingLogger(lines: { message: string; fields?: LogFields }[]): Logger {
  const log = (message: string, fields?: LogFields) => void lines.push({ message, fields });
  const logger: Logger = { debug: log, info: log, warn: log, error: log, child: () => logger };
  return logger;
}

async function tableExists(db: Database, name: string): Promise<boolean> {
  const r = await db.query<{ present: boolean }>('SELECT to_regclass($1) IS NOT NULL AS present', [name]);
  return r.rows[0]!.present;
}

const extra: Migration = { version: MIGRATIONS.length + 1, name: 'extra table', statements: ['CREATE TABLE extra_t (x int)'] };

// Two databases per backend: one migrated step by step through the cases below, one fresh for
// concurrent migration.
const backends = await testDatabases();
const fresh = await testDatabases();

describe.each(backends.map((b, i) => ({ name: b.name, main: b, fresh: fresh[i]! })))('migrate on $name', ({ main, fresh }) => {
  let db: Database;

  beforeAll(async () => {
    db = await main.open();
  });
  afterAll(() => Promise.all([main.cleanup(), fresh.cleanup()]));

  it('applies every migration once on a new database, in order, and records them', async () => {
    expect(await appliedMigrations(db)).toEqual([]);
    const lines: { message: string; fields?: LogFields }[] = [];
    const result = await migrate(db, recordingLogger(lines));
    expect(result).toEqual({ applied: MIGRATIONS.map((m) => ({ version: m.version, name: m.name })), version: MIGRATIONS.length });
    const applied = await appliedMigrations(db);
    expect(applied.map((a) => ({ version: a.version, name: a.name, checksum: a.checksum }))).toEqual(
      MIGRATIONS.map((m) => ({ version: m.version, name: m.name, checksum: migrationChecksum(m) })),
    );
    expect(applied[0]!.appliedAt).toBeInstanceOf(Date);
    expect(Math.abs(applied[0]!.appliedAt.getTime() - Date.now())).toBeLessThan(60_000);
    expect(lines.filter((l) => l.message === 'migration applied').map((l) => l.fields?.version)).toEqual(MIGRATIONS.map((m) => m.version));
    expect(await tableExists(db, 'audit_events')).toBe(true);
  });

  it('is idempotent: a second run applies nothing', async () => {
    const before = await appliedMigrations(db);
    expect(await migrate(db)).toEqual({ applied: [], version: MIGRATIONS.length });
    expect(await appliedMigrations(db)).toEqual(before);
  });

  it('refuses to run when an applied migration changed', async () => {
    const changed = MIGRATIONS.map((m, i) => (i === 0 ? { ...m, statements: [...m.statements, 'SELECT 1'] } : m));
    const e = await rejection(migrate(db, undefined, changed));
    expect(e.code).toBe('STORE_MIGRATION_CHANGED');
    expect(e.data).toMatchObject({ version: 1, expected: migrationChecksum(MIGRATIONS[0]!), actual: migrationChecksum(changed[0]!) });
    // Even a change that moves text between statements is a change.
    const [first, second] = MIGRATIONS[0]!.statements;
    const moved = { ...MIGRATIONS[0]!, statements: [`${first}${second}`, '', ...MIGRATIONS[0]!.statements.slice(2)] };
    expect(migrationChecksum(moved)).not.toBe(migrationChecksum(MIGRATIONS[0]!));
  });

  it('refuses to run when the database is newer than the code', async () => {
    const e = await rejection(migrate(db, undefined, MIGRATIONS.slice(0, -1)));
    expect(e.code).toBe('STORE_SCHEMA_TOO_NEW');
    expect(e.data).toMatchObject({ databaseVersion: MIGRATIONS.length, codeVersion: MIGRATIONS.length - 1 });
  });

  it('refuses a malformed list of migrations', async () => {
    const e = await rejection(migrate(db, undefined, [{ ...extra, version: 1 }, { ...extra, version: 3 }]));
    expect(e.code).toBe('STORE_MIGRATION_INVALID');
    expect(e.data).toMatchObject({ index: 1, expected: 2, actual: 3 });
    const empty = await rejection(migrate(db, undefined, [{ version: 1, name: 'nothing', statements: [] }]));
    expect(empty.code).toBe('STORE_MIGRATION_INVALID');
  });

  it('rolls back a migration whose SQL fails, leaving the previous version', async () => {
    const broken: Migration = {
      version: MIGRATIONS.length + 1,
      name: 'broken',
      statements: ['CREATE TABLE half_done (x int)', 'SELECT * FROM no_such_table'],
    };
    const e = await rejection(migrate(db, undefined, [...MIGRATIONS, broken]));
    expect(e.code).toBe('STORE_MIGRATION_FAILED');
    expect(e.data).toMatchObject({ version: broken.version, statement: 2, sqlState: '42P01' });
    expect(await tableExists(db, 'half_done')).toBe(false);
    expect((await appliedMigrations(db)).map((a) => a.version)).toEqual(MIGRATIONS.map((m) => m.version));
  });

  it('applies only the new migration when one is appended', async () => {
    const result = await migrate(db, undefined, [...MIGRATIONS, extra]);
    expect(result).toEqual({ applied: [{ version: extra.version, name: extra.name }], version: extra.version });
    expect(await tableExists(db, 'extra_t')).toBe(true);
    expect(await migrate(db, undefined, [...MIGRATIONS, extra])).toEqual({ applied: [], version: extra.version });
  });

  it('applies each migration exactly once when several migrate at the same time', async () => {
    const chain: Migration[] = [
      ...MIGRATIONS,
      // Not idempotent: applying it twice would fail on the duplicate key.
      { version: MIGRATIONS.length + 1, name: 'counter', statements: ['CREATE TABLE once (v int PRIMARY KEY)', 'INSERT INTO once VALUES (1)'] },
      { version: MIGRATIONS.length + 2, name: 'counter again', statements: ['INSERT INTO once VALUES (2)'] },
    ];
    // PostgreSQL: separate pools, as separate replicas would have. PGlite: one process, so
    // concurrent calls on its one connection.
    const dbs = fresh.name === 'postgres' ? await Promise.all([1, 2, 3].map(() => fresh.open())) : [await fresh.open()];
    const runs = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => migrate(dbs[i % dbs.length]!, undefined, chain)));
    const appliedVersions = runs.flatMap((r) => r.applied.map((a) => a.version)).sort((a, b) => a - b);
    expect(appliedVersions).toEqual(chain.map((m) => m.version));
    const rows = await dbs[0]!.query<{ v: number }>('SELECT v FROM once ORDER BY v');
    expect(rows.rows).toEqual([{ v: 1 }, { v: 2 }]);
    expect((await appliedMigrations(dbs[0]!)).map((a) => a.version)).toEqual(chain.map((m) => m.version));
  });
});
