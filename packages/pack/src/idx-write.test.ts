import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { OID_BYTES, type Oid } from '@pushgate/core';
import { PackIndex, sortIds, writePackIndex } from './index';
import { git, tempDir } from './test-fixtures';

let work: string;
let n = 0;
beforeAll(() => {
  work = tempDir('pack-idx');
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const id = (i: number) => createHash('sha1').update(`object ${i}`).digest();

describe('writePackIndex', () => {
  it('writes 64-bit offsets for offsets from 2^31 up, as git reads them', async () => {
    const offsets = [12, 2 ** 31 - 1, 2 ** 31, 2 ** 32 + 5, 5 * 2 ** 40, 77];
    const oids = Buffer.concat(offsets.map((_, i) => id(i)));
    const crcs = offsets.map((_, i) => (0xdeadbeef + i) >>> 0);
    const packChecksum = createHash('sha1').update('pack').digest();
    const path = join(work, 'large.idx');
    const written = await writePackIndex({ count: offsets.length, oids, offsets, crcs }, packChecksum, path);
    const bytes = readFileSync(path);
    expect(written.bytes).toBe(bytes.length);
    // Header, fan-out, then 28 bytes an object, 8 per large offset, two checksums.
    expect(bytes.length).toBe(8 + 1024 + offsets.length * 28 + 3 * 8 + 40);
    expect(written.checksum).toBe(bytes.subarray(bytes.length - 20).toString('hex'));

    const idx = PackIndex.parse(bytes);
    expect(idx.packChecksum.equals(packChecksum)).toBe(true);
    offsets.forEach((off, i) => {
      const at = idx.find(id(i));
      expect(idx.offsetAt(at)).toBe(off);
      expect(idx.crcAt32(at)).toBe(crcs[i]);
    });

    const lines = git(work, ['show-index'], bytes).trim().split('\n');
    const expected = offsets.map((off, i) => `${off} ${id(i).toString('hex')} (${crcs[i].toString(16).padStart(8, '0')})`);
    expect(lines.sort()).toEqual(expected.sort());
  });

  it('indexes any set of entries so that every one is found again', async () => {
    await fc.assert(
      fc.asyncProperty(
        // Ids from a small alphabet share long prefixes (and repeat), exercising the full comparison.
        fc.array(fc.tuple(fc.uint8Array({ minLength: 20, maxLength: 20, min: 0, max: 2 }), fc.integer({ min: 12, max: 2 ** 33 }), fc.nat()), {
          maxLength: 60,
        }),
        async (rows) => {
          const oids = Buffer.concat(rows.map(([o]) => Buffer.from(o)));
          const path = join(work, `p${n++}.idx`);
          const sum = Buffer.alloc(20, 7);
          const written = await writePackIndex(
            { count: rows.length, oids, offsets: rows.map(([, off]) => off), crcs: rows.map(([, , c]) => c >>> 0) },
            sum,
            path,
          );
          const idx = PackIndex.parse(readFileSync(path));
          expect(idx.count).toBe(rows.length);
          const distinct = new Set(rows.map(([o]) => Buffer.from(o).toString('hex')));
          expect(written.duplicates).toBe(rows.length - distinct.size);
          for (let i = 1; i < idx.count; i++) expect(idx.oidAt(i - 1) <= idx.oidAt(i)).toBe(true);
          for (const [o] of rows) {
            const at = idx.find(o);
            expect(at).toBeGreaterThanOrEqual(0);
            // With duplicates, the entry found is one of that id's.
            expect(rows.some(([p, poff]) => Buffer.from(p).equals(Buffer.from(o)) && poff === idx.offsetAt(at))).toBe(true);
          }
          rmSync(path);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('sorts crafted ids that share long prefixes (one large bucket) like a reference sort', async () => {
    const rows: { oid: Buffer; offset: number }[] = [];
    for (let i = 0; i < 500; i++) {
      const oid = Buffer.alloc(OID_BYTES, 0x5a);
      // All share bytes 0-1; many share bytes 2-5; some are exact duplicates.
      oid.writeUInt16BE(i % 7, 2);
      oid.writeUInt32BE(((i * 2654435761) >>> 0) % 13, 8 + (i % 3));
      rows.push({ oid, offset: 1000 + ((i * 7919) % 100_000) });
    }
    const order = await sortIds(Buffer.concat(rows.map((r) => r.oid)), rows.length, rows.map((r) => r.offset));
    const expected = rows
      .map((r, i) => ({ ...r, i }))
      .sort((a, b) => Buffer.compare(a.oid, b.oid) || a.offset - b.offset)
      .map((r) => r.i);
    expect([...order]).toEqual(expected);
  });

  it('sorts ids that share their first bytes', async () => {
    const base = Buffer.alloc(OID_BYTES, 0xab);
    const ids = [5, 1, 3].map((last) => {
      const b = Buffer.from(base);
      b[19] = last;
      return b;
    });
    const path = join(work, 'prefix.idx');
    await writePackIndex({ count: 3, oids: Buffer.concat(ids), offsets: [100, 200, 300], crcs: [0, 0, 0] }, Buffer.alloc(20), path);
    const idx = PackIndex.parse(readFileSync(path));
    expect([0, 1, 2].map((i) => idx.oidAt(i))).toEqual([1, 3, 5].map((last) => `${'ab'.repeat(19)}0${last}` as Oid));
    expect([0, 1, 2].map((i) => idx.offsetAt(i))).toEqual([200, 300, 100]);
  });
});
