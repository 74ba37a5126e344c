/**
 * What only the PostgreSQL backend has: connection failures (which must never show the URL's
 * password), pool settings, and connections that die under it.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { createServer } from 'node:net';
import { Client } from 'pg';
import type { LogFields, Logger } from '@pushgate/core';
import { StoreError, openDatabase, type Database } from './index';
import { rejection, testDatabases, testPgUrl } from './testing';

const PASSWORD = 'hunter2-S3cret';

function expectNoPassword(e: StoreError): void {
  expect(e.message).not.toContain(PASSWORD);
  expect(JSON.stringify(e.toJSON())).not.toContain(PASSWORD);
  expect(String(e.stack)).not.toContain(PASSWORD);
  expect(e.cause).toBeUndefined();
}

/** Polls until `check` holds (a generous deadline, never a fixed wait). */
async function waitFor(check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A loopback port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

describe('connection failures', () => {
  it('names the server with the password masked when nothing listens', async () => {
    const port = await closedPort();
    const e = await rejection(openDatabase({ url: `postgres://pushgate:${PASSWORD}@127.0.0.1:${port}/pushgate`, dataDir: '/nonexistent' }));
    expect(e.code).toBe('STORE_CONNECT_FAILED');
    expect(e.message).toContain(`PostgreSQL at postgres://pushgate:***@127.0.0.1:${port}/pushgate`);
    expect(e.message).toContain('ECONNREFUSED');
    expect(e.delivery).toEqual({ kind: 'http', status: 503 });
    expectNoPassword(e);
  });

  it('masks a password given as a query parameter', async () => {
    const port = await closedPort();
    const e = await rejection(openDatabase({ url: `postgres://127.0.0.1:${port}/db?user=u&password=${PASSWORD}`, dataDir: '/nonexistent' }));
    expect(e.code).toBe('STORE_CONNECT_FAILED');
    expect(e.message).toContain('password=***');
    expectNoPassword(e);
  });

  it('refuses a URL of another scheme without connecting or showing the password', async () => {
    const e = await rejection(openDatabase({ url: `mysql://u:${PASSWORD}@127.0.0.1/db`, dataDir: '/nonexistent' }));
    expect(e.code).toBe('STORE_BAD_URL');
    expectNoPassword(e);
  });
});

const postgres = (await testDatabases()).find((b) => b.name === 'postgres');
// Visible in the report rather than silently absent; testDatabases() has warned why.
const withPostgres = postgres === undefined ? describe.skip : describe;

withPostgres('PostgreSQL backend', () => {
  const backend = postgres!;
  const extra: Database[] = [];
  afterAll(async () => {
    await Promise.all(extra.map((db) => db.close()));
    await backend.cleanup();
  });

  async function admin<R extends Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<R[]> {
    const client = new Client({ connectionString: testPgUrl() });
    await client.connect();
    try {
      return (await client.query<R>(sql, params)).rows;
    } finally {
      await client.end();
    }
  }

  it('reports a missing database with its SQLSTATE and without the password', async () => {
    const url = new URL(testPgUrl());
    url.username = url.username || 'postgres';
    url.password = PASSWORD;
    url.pathname = '/pushgate_no_such_database';
    const e = await rejection(openDatabase({ url: url.toString(), dataDir: '/nonexistent' }));
    expect(e.code).toBe('STORE_CONNECT_FAILED');
    expect(e.message).toContain('pushgate_no_such_database');
    expect(e.message).toContain(':***@');
    expect(e.data).toMatchObject({ code: '3D000' });
    expectNoPassword(e);
  });

  it("identifies itself as 'pushgate' and cancels statements past the statement timeout", async () => {
    const db = await openDatabase({ ...(await backend.options()), statementTimeoutMs: 200 });
    extra.push(db);
    const r = await db.query<{ name: string; timeout: string }>(
      "SELECT current_setting('application_name') AS name, current_setting('statement_timeout') AS timeout",
    );
    expect(r.rows).toEqual([{ name: 'pushgate', timeout: '200ms' }]);
    const e = await rejection(db.query('SELECT pg_sleep(5)'));
    expect(e.code).toBe('STORE_TIMEOUT');
    expect(e.data).toMatchObject({ sqlState: '57014' });
    expect(e.delivery).toEqual({ kind: 'http', status: 503 });
    await expect(db.ping()).resolves.toBeUndefined();
  });

  it('survives its connections being killed: idle ones are replaced, a broken transaction fails with a code', async () => {
    const warnings: { message: string; fields?: LogFields }[] = [];
    const logger: Logger = {
      debug: () => undefined,
      info: () => undefined,
      warn: (message, fields) => void warnings.push({ message, fields }),
      error: () => undefined,
      child: () => logger,
    };
    const options = await backend.options();
    const db = await openDatabase({ ...options, logger });
    extra.push(db);
    const database = new URL(options.url!).pathname.slice(1);
    const kill = () =>
      admin(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = $1 AND application_name = 'pushgate' AND pid <> pg_backend_pid()`,
        [database],
      );

    await Promise.all([db.query('SELECT 1'), db.query('SELECT 2')]);
    // Two queries at once: this handle holds two idle connections (other handles' die too).
    expect((await kill()).length).toBeGreaterThanOrEqual(2);
    // The idle connections' deaths arrive as pool errors; without a listener they would crash the
    // process. Both are waited for: a ping handed a connection whose death is still on its way fails.
    for (let i = 0; i < 500 && warnings.length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(warnings.map((w) => w.message)).toEqual(['idle PostgreSQL connection failed', 'idle PostgreSQL connection failed']);
    await expect(db.ping()).resolves.toBeUndefined();

    const e = await rejection(
      db.transaction(async (tx) => {
        await tx.query('SELECT 1');
        await kill();
        await tx.query('SELECT 2');
      }),
    );
    expect(e.code).toBe('STORE_UNAVAILABLE');
    expect(e.delivery).toEqual({ kind: 'http', status: 503 });
    await expect(db.ping()).resolves.toBeUndefined();
  });
  it('delivers a notification committed through another handle, reconnects its listener when it drops, and ends it on close', async () => {
    const lines: { level: string; message: string }[] = [];
    const logger: Logger = {
      debug: () => undefined,
      info: (message) => void lines.push({ level: 'info', message }),
      warn: (message) => void lines.push({ level: 'warn', message }),
      error: () => undefined,
      child: () => logger,
    };
    const options = await backend.options();
    const database = new URL(options.url!).pathname.slice(1);
    const listening = await openDatabase({ ...options, logger });
    const sending = await openDatabase(options);
    extra.push(sending);
    const seen: string[] = [];
    await listening.listen('pushgate_holds', (payload) => seen.push(payload));
    await sending.transaction((tx) => tx.query('SELECT pg_notify($1, $2)', ['pushgate_holds', 'from B']));
    await waitFor(() => seen.includes('from B'));

    const listeners = () =>
      admin<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = 'pushgate-listen'`, [database]);
    expect(await listeners()).toHaveLength(1);
    await admin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'pushgate-listen'`, [database]);
    await waitFor(() => lines.some((l) => l.message === 'PostgreSQL notification connection restored'));
    expect(lines.find((l) => l.level === 'warn')?.message).toBe('PostgreSQL notification connection lost; reconnecting');
    // Notifications sent while it was down are lost (listeners poll too); the ones after arrive.
    await sending.query('SELECT pg_notify($1, $2)', ['pushgate_holds', 'after reconnect']);
    await waitFor(() => seen.includes('after reconnect'));

    await listening.close();
    await waitFor(async () => (await listeners()).length === 0);
  });
});
