/**
 * The Database contract, run against every backend testDatabases() offers: values round-trip the
 * same on both, transactions commit and roll back, PGlite serialises concurrent transactions.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { StoreError, type Database } from './index';
import { rejection, testDatabases } from './testing';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until `check` holds (a generous deadline, never a fixed wait). */
async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

const backends = await testDatabases();

describe.each(backends)('Database on $name', (backend) => {
  let db: Database;

  beforeAll(async () => {
    db = await backend.open();
    await db.query('CREATE TABLE t (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, owner text NOT NULL, n int)');
  });
  afterAll(() => backend.cleanup());

  it('reports its kind and answers ping', async () => {
    expect(db.kind).toBe(backend.name);
    await expect(db.ping()).resolves.toBeUndefined();
  });

  it('reads every value type the same way, from literals and from parameters', async () => {
    const when = new Date('2024-02-29T12:34:56.789Z');
    const bytes = Buffer.from([0, 1, 2, 0x5c, 0xff]);
    const json = { a: [1, 'x', null, { b: true }], 'k"ey': 'v\\' };
    const r = await db.query<Record<string, unknown>>(
      `SELECT
        9007199254740993::int8 AS big_literal, $1::int8 AS big_param, 5::int8 AS small_int8,
        7::int4 AS int4, 3::int2 AS int2, 1.5::float8 AS float8, 'NaN'::float8 AS nan, 'Infinity'::float4 AS inf,
        12345678901234567890.123::numeric AS numeric,
        true AS t, $2::bool AS f,
        $3::text AS text,
        $4::bytea AS bytes, $5::bytea AS uint8array, '\\x'::bytea AS empty_bytes,
        $6::timestamptz AS ts_param, '2024-01-02 03:04:05.123456+05:30'::timestamptz AS ts_literal,
        '2024-01-02 03:04:05'::timestamp AS ts_without_zone, 'infinity'::timestamptz AS ts_infinity,
        '2024-02-29'::date AS date,
        $7::jsonb AS jsonb, '[1, 2]'::json AS json_array, 'null'::jsonb AS json_null,
        $8::text[] AS texts, ARRAY[1, NULL, 9007199254740993]::int8[] AS int8s, ARRAY[1, 2]::int4[] AS int4s,
        ARRAY[true, false]::bool[] AS bools, ARRAY['\\x01'::bytea] AS byteas, ARRAY['{"a":1}'::jsonb] AS jsonbs,
        ARRAY[1.5]::numeric[] AS numerics, '{}'::text[] AS empty_texts,
        NULL::text AS null_text, NULL::int8 AS null_int8,
        '00000000-0000-4000-8000-000000000000'::uuid AS uuid, '1 day'::interval AS interval`,
      [
        9007199254740993n,
        false,
        'ünïcødé 🎉 \'quoted\' "double" back\\slash',
        bytes,
        new Uint8Array([9, 8]),
        when,
        JSON.stringify(json),
        ['a', 'b c', '"q"', 'back\\slash', null, '', 'NULL', '{}'],
      ],
    );
    expect(r.rowCount).toBe(1);
    const row = r.rows[0]!;
    expect(row).toEqual({
      big_literal: '9007199254740993',
      big_param: '9007199254740993',
      small_int8: '5',
      int4: 7,
      int2: 3,
      float8: 1.5,
      nan: NaN,
      inf: Infinity,
      numeric: '12345678901234567890.123',
      t: true,
      f: false,
      text: 'ünïcødé 🎉 \'quoted\' "double" back\\slash',
      bytes,
      uint8array: Buffer.from([9, 8]),
      empty_bytes: Buffer.alloc(0),
      ts_param: when,
      ts_literal: new Date('2024-01-01T21:34:05.123Z'),
      ts_without_zone: new Date('2024-01-02T03:04:05.000Z'),
      ts_infinity: new Date(8.64e15),
      date: '2024-02-29',
      jsonb: json,
      json_array: [1, 2],
      json_null: null,
      texts: ['a', 'b c', '"q"', 'back\\slash', null, '', 'NULL', '{}'],
      int8s: ['1', null, '9007199254740993'],
      int4s: [1, 2],
      bools: [true, false],
      byteas: [Buffer.from([1])],
      jsonbs: [{ a: 1 }],
      numerics: ['1.5'],
      empty_texts: [],
      null_text: null,
      null_int8: null,
      uuid: '00000000-0000-4000-8000-000000000000',
      // Types outside the shared table come back as PostgreSQL's text on both backends.
      interval: '1 day',
    });
    // toEqual treats a Uint8Array and a Buffer alike; the contract is Buffer.
    expect(Buffer.isBuffer(row.bytes)).toBe(true);
    expect(Buffer.isBuffer(row.uint8array)).toBe(true);
    expect(Buffer.isBuffer((row.byteas as unknown[])[0])).toBe(true);
    expect(row.ts_param).toBeInstanceOf(Date);
  });

  it('round-trips arbitrary text arrays and instants', async () => {
    await fc.assert(
      fc.asyncProperty(
        // PostgreSQL refuses NUL in text; the audit repository replaces it before writing.
        fc.array(fc.option(fc.string({ unit: 'grapheme' }).filter((s) => !s.includes('\0')))),
        fc.date({ min: new Date('-004000-01-01T00:00:00Z'), max: new Date('+200000-01-01T00:00:00Z'), noInvalidDate: true }),
        async (texts, when) => {
          const r = await db.query<{ texts: unknown; when: unknown }>('SELECT $1::text[] AS texts, $2::timestamptz AS when', [texts, when]);
          expect(r.rows[0]).toEqual({ texts, when });
        },
      ),
      { numRuns: 60 },
    );
  });

  it('counts rows returned and changed the same way', async () => {
    const ins = await db.query("INSERT INTO t (owner, n) VALUES ('count', 1), ('count', 2), ('count', 3)");
    expect(ins).toEqual({ rows: [], rowCount: 3 });
    const upd = await db.query("UPDATE t SET n = n + 10 WHERE owner = 'count' AND n < 3");
    expect(upd.rowCount).toBe(2);
    const sel = await db.query<{ n: number }>("SELECT n FROM t WHERE owner = 'count' ORDER BY n");
    expect(sel).toEqual({ rows: [{ n: 3 }, { n: 11 }, { n: 12 }], rowCount: 3 });
    const ddl = await db.query('CREATE TEMPORARY TABLE scratch_for_count (x int)');
    expect(ddl.rowCount).toBe(0);
    await db.query('DROP TABLE scratch_for_count');
  });

  it('refuses several statements in one query on both backends', async () => {
    const e = await rejection(db.query('SELECT 1; SELECT 2'));
    expect(e.code).toBe('STORE_QUERY_FAILED');
    expect(e.data).toMatchObject({ sqlState: '42601' });
  });

  it('reports SQL errors with their SQLSTATE and statement', async () => {
    const e = await rejection(db.query('SELECT * FROM no_such_table WHERE x = $1', [1]));
    expect(e.code).toBe('STORE_QUERY_FAILED');
    expect(e.data).toMatchObject({ sqlState: '42P01', statement: 'SELECT * FROM no_such_table WHERE x = $1' });
    expect(e.message).toContain('no_such_table');
    expect(e.message).toContain('42P01');
    const bad = await rejection(db.query('SELECT $1::timestamptz', [new Date(NaN)]));
    expect(bad.code).toBe('STORE_BAD_VALUE');
  });

  it('commits a transaction and returns its result', async () => {
    const result = await db.transaction(async (tx) => {
      await tx.query("INSERT INTO t (owner, n) VALUES ('commit', 1)");
      const r = await tx.query<{ c: string }>("SELECT count(*) AS c FROM t WHERE owner = 'commit'");
      return r.rows[0]!.c;
    });
    expect(result).toBe('1');
    const after = await db.query<{ c: string }>("SELECT count(*) AS c FROM t WHERE owner = 'commit'");
    expect(after.rows[0]!.c).toBe('1');
  });

  it('rolls back when the function throws, and rethrows its very error', async () => {
    const thrown = new Error('the caller changed its mind');
    await expect(
      db.transaction(async (tx) => {
        await tx.query("INSERT INTO t (owner, n) VALUES ('rollback', 1)");
        throw thrown;
      }),
    ).rejects.toBe(thrown);
    const after = await db.query<{ c: string }>("SELECT count(*) AS c FROM t WHERE owner = 'rollback'");
    expect(after.rows[0]!.c).toBe('0');
  });

  it('does not commit a transaction in which a statement failed, even when the error was caught', async () => {
    const e = await rejection(
      db.transaction(async (tx) => {
        await tx.query("INSERT INTO t (owner, n) VALUES ('aborted', 1)");
        await tx.query('SELECT * FROM no_such_table').catch(() => undefined);
        return 'looked fine';
      }),
    );
    expect(e.code).toBe('STORE_QUERY_FAILED');
    expect(e.data).toMatchObject({ sqlState: '25P02' });
    const after = await db.query<{ c: string }>("SELECT count(*) AS c FROM t WHERE owner = 'aborted'");
    expect(after.rows[0]!.c).toBe('0');
    // The connection is usable afterwards.
    await expect(db.ping()).resolves.toBeUndefined();
  });

  it('refuses db.query and db.transaction inside a transaction instead of deadlocking', async () => {
    const e = await rejection(
      db.transaction(async (tx) => {
        await tx.query("INSERT INTO t (owner, n) VALUES ('nested', 1)");
        await db.query('SELECT 1');
      }),
    );
    expect(e.code).toBe('STORE_NESTED_QUERY');
    const inner = await rejection(db.transaction(() => db.transaction(async () => 1)));
    expect(inner.code).toBe('STORE_NESTED_QUERY');
    const after = await db.query<{ c: string }>("SELECT count(*) AS c FROM t WHERE owner = 'nested'");
    expect(after.rows[0]!.c).toBe('0');
  });

  it('refuses a transaction handle used after the transaction ended', async () => {
    let leaked: { query: Database['query'] } | undefined;
    await db.transaction(async (tx) => {
      leaked = tx;
    });
    const e = await rejection(leaked!.query('SELECT 1'));
    expect(e.code).toBe('STORE_TX_CLOSED');
  });

  it('keeps concurrent transactions and plain queries apart', async () => {
    // On PGlite (one connection) statements of other requests must not run inside a transaction:
    // if they did, a rollback would take their rows with it, and a transaction would see rows
    // of another still-open one.
    const rowsPerTx = 4;
    const txs = Array.from({ length: 12 }, (_, i) =>
      db
        .transaction(async (tx) => {
          for (let k = 0; k < rowsPerTx; k++) {
            await tx.query('INSERT INTO t (owner, n) VALUES ($1, $2)', [`tx-${i}`, k]);
            await sleep(1);
          }
          const seen = await tx.query<{ c: string }>("SELECT count(*) AS c FROM t WHERE owner LIKE 'tx-%'");
          if (i % 2 === 1) throw new Error(`roll back ${i}`);
          return Number(seen.rows[0]!.c);
        })
        .catch((e: unknown) => (e instanceof Error && e.message === `roll back ${i}` ? 'rolled back' : Promise.reject(e))),
    );
    const plain = Array.from({ length: 12 }, (_, i) => db.query("INSERT INTO t (owner, n) VALUES ('plain', $1)", [i]));
    const results = await Promise.all([...txs, ...plain]);
    expect(results.slice(0, 12).filter((r) => r === 'rolled back')).toHaveLength(6);
    const counts = await db.query<{ owner: string; c: string }>(
      "SELECT owner, count(*) AS c FROM t WHERE owner LIKE 'tx-%' OR owner = 'plain' GROUP BY owner ORDER BY owner",
    );
    const expected = [
      { owner: 'plain', c: '12' },
      ...Array.from({ length: 12 }, (_, i) => i)
        .filter((i) => i % 2 === 0)
        .map((i) => ({ owner: `tx-${i}`, c: String(rowsPerTx) })),
    ].sort((a, b) => (a.owner < b.owner ? -1 : 1));
    expect(counts.rows).toEqual(expected);
  });

  it('delivers notifications when the sending transaction commits, never after a rollback, until stopped', async () => {
    const seen: string[] = [];
    const other: string[] = [];
    const stop = await db.listen('pushgate_test', (payload) => seen.push(payload));
    const stopOther = await db.listen('pushgate_test_other', (payload) => other.push(payload));
    await db.transaction(async (tx) => {
      await tx.query('SELECT pg_notify($1, $2)', ['pushgate_test', 'committed']);
      await tx.query('SELECT 1');
      expect(seen).toEqual([]);
    });
    await rejection(
      db.transaction(async (tx) => {
        await tx.query('SELECT pg_notify($1, $2)', ['pushgate_test', 'rolled back']);
        throw new StoreError('STORE_QUERY_FAILED', 'roll back');
      }),
    );
    await db.query('SELECT pg_notify($1, $2)', ['pushgate_test', 'plain']);
    await until(() => seen.includes('plain'), 'the plain notification');
    expect(seen).toEqual(['committed', 'plain']);
    expect(other).toEqual([]);
    await stop();
    await stop();
    await db.query('SELECT pg_notify($1, $2)', ['pushgate_test', 'after stop']);
    await db.query('SELECT pg_notify($1, $2)', ['pushgate_test_other', 'marker']);
    await until(() => other.includes('marker'), 'the other channel');
    expect(seen).toEqual(['committed', 'plain']);
    await stopOther();
    expect((await rejection(db.listen('', () => undefined))).code).toBe('STORE_BAD_VALUE');
  });

  it('closes idempotently, refuses work afterwards, and reopens onto the same data', async () => {
    await Promise.all([db.close(), db.close()]);
    await db.close();
    expect((await rejection(db.ping())).code).toBe('STORE_CLOSED');
    expect((await rejection(db.transaction(async () => 1))).code).toBe('STORE_CLOSED');
    expect((await rejection(db.listen('pushgate_test', () => undefined))).code).toBe('STORE_CLOSED');
    db = await backend.open();
    const kept = await db.query<{ c: string }>("SELECT count(*) AS c FROM t WHERE owner = 'commit'");
    expect(kept.rows[0]!.c).toBe('1');
  });
});
