/**
 * Databases for tests, imported as '@pushgate/store/testing' (never by the gateway). Every test
 * file gets its own: PGlite in a fresh temporary directory, and, when PostgreSQL is available, a
 * fresh `pushgate_test_<random>` database on the test server, dropped by `cleanup()`, so test
 * files running in parallel never see each other's rows.
 *
 * `PUSHGATE_TEST_PG` decides whether PostgreSQL cases run:
 * - `require`: they run, and the suite fails when PostgreSQL is unreachable (CI);
 * - `skip`: they do not run;
 * - unset: they run when PostgreSQL answers at `PUSHGATE_TEST_PG_URL` (default
 *   postgres://postgres@127.0.0.1:5432/postgres), and are skipped with a warning otherwise.
 *
 * Usage (top-level await works in the test files, which Jest runs as ES modules):
 *
 *     const backends = await testDatabases();
 *     describe.each(backends)('$name', (backend) => {
 *       let db: Database;
 *       beforeAll(async () => { db = await backend.open(); await migrate(db); });
 *       afterAll(() => backend.cleanup());
 *     });
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import type { Database, DatabaseKind, OpenDatabaseOptions } from './database';
import { StoreError, describe as describeError } from './errors';
import { openPglite } from './pglite';
import { openPostgres } from './postgres';
import { maskDatabaseUrl } from './url';

/** The server tests use when PUSHGATE_TEST_PG_URL is unset. */
export const DEFAULT_TEST_PG_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

/** One backend for a test file. */
export interface TestDatabase {
  /** 'pglite' or 'postgres', for `describe.each(…)('$name', …)`. */
  readonly name: DatabaseKind;
  /**
   * Opens a connection to this file's database (created on first use). Each call returns a new
   * Database over the same data; PGlite allows only one open at a time (close it to reopen).
   */
  open(): Promise<Database>;
  /**
   * The options that reach this database through `openDatabase` (creating it when needed), for
   * tests of code that opens the database itself or needs other pool settings. Databases opened
   * this way are the caller's to close.
   */
  options(): Promise<OpenDatabaseOptions>;
  /** Where the data lives: the PGlite data directory, or the PostgreSQL URL (password masked). */
  location(): string;
  /** Closes every Database `open()` returned and deletes the data (directory or database). */
  cleanup(): Promise<void>;
}

/** Which PostgreSQL policy applies, from PUSHGATE_TEST_PG. */
export type TestPgMode = 'require' | 'skip' | 'auto';

/** Reads PUSHGATE_TEST_PG; any value other than `require`, `skip` or unset is a mistake and throws. */
export function testPgMode(env: NodeJS.ProcessEnv = process.env): TestPgMode {
  const v = env.PUSHGATE_TEST_PG;
  if (v === undefined || v === '') return 'auto';
  if (v === 'require' || v === 'skip') return v;
  throw new Error(`PUSHGATE_TEST_PG must be 'require', 'skip' or unset, not '${v}'`);
}

/** The PostgreSQL server tests use (an administrative URL: databases are created through it). */
export function testPgUrl(env: NodeJS.ProcessEnv = process.env): string {
  return env.PUSHGATE_TEST_PG_URL || DEFAULT_TEST_PG_URL;
}

async function reachable(url: string): Promise<string | undefined> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  // A failed connection also emits 'error'; without a listener that would crash the test run.
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (e) {
    return describeError(e);
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function adminQuery(adminUrl: string, sql: string): Promise<void> {
  const client = new Client({ connectionString: adminUrl, connectionTimeoutMillis: 10_000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end().catch(() => undefined);
  }
}

function pgliteTestDatabase(): TestDatabase {
  let dir: string | undefined;
  const opened: Database[] = [];
  const options = async (): Promise<OpenDatabaseOptions> => {
    dir ??= await mkdtemp(join(tmpdir(), 'pushgate-store-'));
    return { dataDir: dir };
  };
  return {
    name: 'pglite',
    location: () => dir ?? '(not created yet)',
    options,
    async open() {
      const db = await openPglite((await options()).dataDir);
      opened.push(db);
      return db;
    },
    async cleanup() {
      await Promise.all(opened.splice(0).map((db) => db.close()));
      if (dir !== undefined) await rm(dir, { recursive: true, force: true });
      dir = undefined;
    },
  };
}

function postgresTestDatabase(adminUrl: string): TestDatabase {
  const name = `pushgate_test_${randomBytes(6).toString('hex')}`;
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  // Shared, so concurrent open() calls create the database once.
  let created: Promise<void> | undefined;
  const opened: Database[] = [];
  const options = async (): Promise<OpenDatabaseOptions> => {
    created ??= adminQuery(adminUrl, `CREATE DATABASE ${name}`);
    await created;
    // dataDir is required by openDatabase but unused with a URL.
    return { url: url.toString(), dataDir: tmpdir() };
  };
  return {
    name: 'postgres',
    location: () => maskDatabaseUrl(url.toString()),
    options,
    async open() {
      const db = await openPostgres((await options()).url!);
      opened.push(db);
      return db;
    },
    async cleanup() {
      await Promise.all(opened.splice(0).map((db) => db.close()));
      if (created !== undefined) {
        created = undefined;
        // FORCE (PostgreSQL 13+) ends sessions a failed test may have left behind.
        await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      }
    },
  };
}

/**
 * The backends a test file should run against: always PGlite, and PostgreSQL unless
 * PUSHGATE_TEST_PG says `skip` or (when unset) the server does not answer.
 */
export async function testDatabases(env: NodeJS.ProcessEnv = process.env): Promise<TestDatabase[]> {
  const mode = testPgMode(env);
  const backends = [pgliteTestDatabase()];
  if (mode === 'skip') return backends;
  const adminUrl = testPgUrl(env);
  const problem = await reachable(adminUrl);
  if (problem !== undefined) {
    const message = `PostgreSQL at ${maskDatabaseUrl(adminUrl)} is unreachable (${problem})`;
    if (mode === 'require') throw new Error(`${message}, and PUSHGATE_TEST_PG=require`);
    console.warn(`${message}: skipping the PostgreSQL cases (set PUSHGATE_TEST_PG=require to fail instead)`);
    return backends;
  }
  backends.push(postgresTestDatabase(adminUrl));
  return backends;
}

/** The StoreError `p` rejects with; fails when it resolves, or rejects with anything else. */
export async function rejection(p: Promise<unknown>): Promise<StoreError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof StoreError) return e;
    throw new Error(`expected a StoreError, got ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  }
  throw new Error('expected a rejection');
}
