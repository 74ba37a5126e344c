/**
 * A held pack at rest, on every backend: nothing of its content is readable in the database (every
 * column of the hold tables, and `pg_dump` of the PostgreSQL database), and a stored pack that was
 * tampered with (chunks swapped between holds, reordered, cut short) or is read with another key
 * fails with a code instead of yielding bytes it should not.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { migrate, type Database } from '@pushgate/store';
import { testDatabases } from '@pushgate/store/testing';
import { actor, collect, newHold, someone, testKey, testStore } from './store.test-support';
import type { HoldStore } from './types';

const backends = await testDatabases();

const MARKER = 'PUSHGATE-SECRET-MARKER-3f9c1d';
const alice = someone('alice', ['dev']);

/** A pack whose plaintext carries MARKER several times, across chunk boundaries too. */
async function* markedPack(): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < 20; i++) yield Buffer.from(`object ${i}: ${MARKER} password=${MARKER}\n`);
}

/** pg_dump of `url` as text, or undefined when pg_dump is not installed. */
function pgDump(url: string): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const p = spawn('pg_dump', ['--no-owner', '--data-only', '--dbname', url], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    p.stdout.on('data', (d: Buffer) => out.push(d));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? resolve(undefined) : reject(e)));
    p.on('close', (code) => (code === 0 ? resolve(Buffer.concat(out).toString('latin1')) : reject(new Error(`pg_dump exited ${code}: ${err}`))));
  });
}

describe.each(backends)('held packs at rest on $name', (backend) => {
  let db: Database;
  let store: HoldStore;

  beforeAll(async () => {
    db = await backend.open();
    await migrate(db);
    ({ store } = testStore(db, { chunkBytes: 100 }));
  });
  afterAll(() => backend.cleanup());

  it('keeps no byte of the pack readable in any column of the hold tables', async () => {
    const hold = await store.create(newHold(alice), markedPack());
    await store.approve(hold.id, actor(someone('bob', ['reviewers'])));
    expect((await collect(store.readPack(hold))).toString()).toContain(MARKER);
    expect(hold.pack!.chunks).toBeGreaterThan(5);
    for (const table of ['holds', 'hold_pack_chunks', 'hold_approvals', 'audit_events']) {
      // Every column as text (bytea as its hex and as raw bytes), whatever its type.
      const rows = await db.query<{ t: string | null }>(`SELECT row_to_json(x)::text AS t FROM ${table} x`);
      const text = rows.rows.map((r) => r.t ?? '').join('\n');
      expect({ table, found: text.includes(MARKER) }).toEqual({ table, found: false });
      expect({ table, found: text.includes(Buffer.from(MARKER).toString('hex')) }).toEqual({ table, found: false });
    }
    const raw = await db.query<{ nonce: Buffer; data: Buffer }>('SELECT nonce, data FROM hold_pack_chunks WHERE hold_id = $1', [hold.id]);
    for (const r of raw.rows) expect(r.data.includes(Buffer.from(MARKER.slice(0, 12)))).toBe(false);

    if (backend.name === 'postgres') {
      const dump = await pgDump((await backend.options()).url!);
      if (dump === undefined) {
        console.warn('pg_dump is not installed: the dump check is skipped');
      } else {
        expect(dump).toContain('hold_pack_chunks');
        expect(dump.includes(MARKER)).toBe(false);
        expect(dump.includes(Buffer.from(MARKER).toString('hex'))).toBe(false);
      }
    }
  });

  it('refuses a pack whose chunks were moved, swapped between holds or cut short', async () => {
    const one = await store.create(newHold(alice), markedPack());
    const two = await store.create(newHold(alice), markedPack());
    const corrupt = (id: string) => expect(collect(store.readPack(id === one.id ? one : two))).rejects.toMatchObject({ code: 'HOLD_PACK_CORRUPT' });

    // Chunk 1 of hold two copied over chunk 1 of hold one.
    await db.query(
      `UPDATE hold_pack_chunks c SET nonce = o.nonce, data = o.data FROM hold_pack_chunks o
       WHERE c.hold_id = $1 AND c.seq = 1 AND o.hold_id = $2 AND o.seq = 1`,
      [one.id, two.id],
    );
    await corrupt(one.id);

    // Chunks 0 and 1 of hold two swapped.
    const swap = async () => {
      // Through a free position: the primary key is checked row by row.
      await db.query(`UPDATE hold_pack_chunks SET seq = 1000 WHERE hold_id = $1 AND seq = 0`, [two.id]);
      await db.query(`UPDATE hold_pack_chunks SET seq = 0 WHERE hold_id = $1 AND seq = 1`, [two.id]);
      await db.query(`UPDATE hold_pack_chunks SET seq = 1 WHERE hold_id = $1 AND seq = 1000`, [two.id]);
    };
    await swap();
    await corrupt(two.id);
    await swap();
    expect((await collect(store.readPack(two))).toString()).toContain(MARKER);

    // The last chunk gone: the one before it is not marked last.
    await db.query(`DELETE FROM hold_pack_chunks WHERE hold_id = $1 AND seq = $2`, [two.id, two.pack!.chunks - 1]);
    await expect(collect(store.readPack({ ...two, pack: { ...two.pack!, chunks: two.pack!.chunks - 1 } }))).rejects.toMatchObject({ code: 'HOLD_PACK_CORRUPT' });
    await corrupt(two.id);
  });

  it('refuses to read a pack with another key, naming both key ids', async () => {
    const hold = await store.create(newHold(alice), markedPack());
    const other = testStore(db, { key: testKey() }).store;
    await expect(collect(other.readPack(hold))).rejects.toMatchObject({ code: 'HOLD_KEY_MISMATCH', message: expect.stringContaining('PUSHGATE_HOLD_KEY') });
  });
});
