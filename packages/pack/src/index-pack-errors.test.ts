import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { DEFAULT_LIMITS, LimitError, type Limits, type Oid } from '@pushgate/core';
import {
  PackError,
  encodeDelta,
  encodeEntryHeader,
  encodePack,
  fixTrailer,
  indexPack,
  objectId,
  type IndexPackOptions,
  type PackEntrySpec,
  type RawObject,
} from './index';
import { tempDir } from './test-fixtures';

let work: string;
let n = 0;
beforeAll(() => {
  work = tempDir('pack-errors');
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const BASE = 'line one\nline two\nline three\n';
const base: PackEntrySpec = { kind: 'object', type: 'blob', data: BASE };
/** A delta turning BASE into "line two\nline three\nline four\n". */
const goodDelta = encodeDelta(BASE.length, 30, [
  { op: 'copy', offset: 9, size: 20 },
  { op: 'insert', data: 'line four\n' },
]);

/** Indexes `bytes` and returns the error it throws (failing when it does not throw). */
async function refusal(bytes: Buffer, opts: Partial<IndexPackOptions> = {}): Promise<PackError | LimitError> {
  const path = join(work, `p${n++}.pack`);
  writeFileSync(path, bytes);
  try {
    await indexPack(path, { limits: DEFAULT_LIMITS, readBytes: 64, ...opts });
  } catch (e) {
    expect(e instanceof PackError || e instanceof LimitError).toBe(true);
    // A refused pack leaves no index behind.
    expect(existsSync(path.replace(/\.pack$/, '.idx'))).toBe(false);
    return e as PackError | LimitError;
  }
  throw new Error('the pack was accepted');
}

const tight = (over: Partial<Limits>): Limits => ({ ...DEFAULT_LIMITS, ...over });

describe('indexPack refuses malformed packs, each with its own code', () => {
  it('accepts the well-formed pack these cases start from', async () => {
    const path = join(work, 'good.pack');
    writeFileSync(path, encodePack([base, { kind: 'ofs-delta', base: 0, delta: goodDelta }]));
    const result = await indexPack(path, { limits: DEFAULT_LIMITS });
    expect(result.objectCount).toBe(2);
    expect(result.maxDeltaDepth).toBe(1);
  });

  it('PACK_TRUNCATED: shorter than a header, cut inside an entry, trailer missing or cut', async () => {
    const good = encodePack([base, { kind: 'ofs-delta', base: 0, delta: goodDelta }]);
    expect((await refusal(good.subarray(0, 7))).code).toBe('PACK_TRUNCATED');
    const cut = await refusal(good.subarray(0, 20));
    expect(cut.code).toBe('PACK_TRUNCATED');
    expect(cut.data).toMatchObject({ offset: 12 });
    const noTrailer = await refusal(good.subarray(0, good.length - 20));
    expect(noTrailer.code).toBe('PACK_TRUNCATED');
    expect(noTrailer.message).toMatch(/trailer/);
    const halfTrailer = await refusal(good.subarray(0, good.length - 9));
    expect(halfTrailer.code).toBe('PACK_TRUNCATED');
    expect(halfTrailer.message).toMatch(/11 bytes into its 20-byte checksum trailer/);
  });

  it('PACK_BAD_SIGNATURE and PACK_UNSUPPORTED_VERSION', async () => {
    const good = encodePack([base]);
    const sig = Buffer.from(good);
    sig.write('KCAP', 0, 'latin1');
    expect((await refusal(fixTrailer(sig))).code).toBe('PACK_BAD_SIGNATURE');
    const v4 = Buffer.from(good);
    v4.writeUInt32BE(4, 4);
    const e = await refusal(fixTrailer(v4));
    expect(e.code).toBe('PACK_UNSUPPORTED_VERSION');
    expect(e.data).toMatchObject({ actual: 4 });
  });

  it('PACK_BAD_TRAILER: a checksum that does not match', async () => {
    const bad = Buffer.from(encodePack([base]));
    bad[bad.length - 1] ^= 1;
    const e = await refusal(bad);
    expect(e.code).toBe('PACK_BAD_TRAILER');
    expect(e.data).toMatchObject({ offset: bad.length - 20 });
  });

  it('PACK_TRAILING_GARBAGE: bytes after a correct trailer', async () => {
    const good = encodePack([base]);
    const e = await refusal(Buffer.concat([good, Buffer.from('extra')]));
    expect(e.code).toBe('PACK_TRAILING_GARBAGE');
    expect(e.data).toMatchObject({ offset: good.length, actual: 5 });
  });

  it('PACK_OBJECT_COUNT_MISMATCH: fewer or more entries than the header says', async () => {
    const fewer = await refusal(encodePack([base], { objectCount: 3 }));
    expect(fewer.code).toBe('PACK_OBJECT_COUNT_MISMATCH');
    expect(fewer.data).toMatchObject({ expected: 3, actual: 1 });
    const more = await refusal(encodePack([base, { kind: 'object', type: 'blob', data: 'second' }], { objectCount: 1 }));
    expect(more.code).toBe('PACK_OBJECT_COUNT_MISMATCH');
    expect(more.data).toMatchObject({ expected: 1 });
  });

  it('PACK_BAD_ENTRY_TYPE and PACK_BAD_ENTRY_HEADER', async () => {
    for (const typeNum of [0, 5]) {
      const e = await refusal(encodePack([base, { kind: 'raw', bytes: Buffer.concat([encodeEntryHeader(typeNum, 3), deflateSync('abc')]) }]));
      expect(e.code).toBe('PACK_BAD_ENTRY_TYPE');
      expect(e.data).toMatchObject({ actual: typeNum });
    }
    const huge = Buffer.from([0xb0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
    expect((await refusal(encodePack([{ kind: 'raw', bytes: Buffer.concat([huge, deflateSync('')]) }]))).code).toBe(
      'PACK_BAD_ENTRY_HEADER',
    );
  });

  it('PACK_ZLIB_CORRUPT: data that is not a zlib stream, or fails its checksum', async () => {
    expect((await refusal(encodePack([{ ...base, zlib: Buffer.from('not zlib at all, no') }]))).code).toBe('PACK_ZLIB_CORRUPT');
    const z = Buffer.from(deflateSync(BASE));
    z[z.length - 1] ^= 0xff;
    const e = await refusal(encodePack([{ ...base, zlib: z }]));
    expect(e.code).toBe('PACK_ZLIB_CORRUPT');
    expect(e.data).toMatchObject({ offset: 12 });
  });

  it('PACK_SIZE_MISMATCH: inflating to more or fewer bytes than declared', async () => {
    const less = await refusal(encodePack([{ ...base, declaredSize: BASE.length + 5 }]));
    expect(less.code).toBe('PACK_SIZE_MISMATCH');
    expect(less.data).toMatchObject({ expected: BASE.length + 5, actual: BASE.length });
    expect((await refusal(encodePack([{ ...base, declaredSize: 4 }]))).code).toBe('PACK_SIZE_MISMATCH');
  });

  it('stops a deflate bomb at its declared size without inflating it', async () => {
    const bomb = deflateSync(Buffer.alloc(64 * 1024 * 1024), { level: 9 });
    const before = process.memoryUsage().arrayBuffers;
    const started = performance.now();
    const e = await refusal(encodePack([{ kind: 'object', type: 'blob', data: 'x', declaredSize: 100, zlib: bomb }]), { readBytes: 1 << 20 });
    expect(e.code).toBe('PACK_SIZE_MISMATCH');
    expect(performance.now() - started).toBeLessThan(1000);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 * 1024 * 1024);
  });

  it('LIMIT_OBJECT_COUNT: a header claiming too many objects, before scanning any', async () => {
    const e = await refusal(encodePack([base], { objectCount: 1001 }), { limits: tight({ maxObjects: 1000 }) });
    expect(e.code).toBe('LIMIT_OBJECT_COUNT');
    expect(e.data).toMatchObject({ max: 1000, actual: 1001 });
  });

  it('LIMIT_OBJECT_SIZE: a declared size or a delta result over the limit', async () => {
    const big = await refusal(encodePack([{ kind: 'object', type: 'blob', data: 'x', declaredSize: 2 ** 40 }]));
    expect(big.code).toBe('LIMIT_OBJECT_SIZE');
    expect(big.data).toMatchObject({ actual: 2 ** 40 });
    const limits = tight({ maxObjectBytes: 1000 });
    const grows = encodeDelta(BASE.length, 5000, [{ op: 'insert', data: 'y' }]);
    const e = await refusal(encodePack([base, { kind: 'ofs-delta', base: 0, delta: grows }]), { limits });
    expect(e.code).toBe('LIMIT_OBJECT_SIZE');
    expect(e.data).toMatchObject({ max: 1000, actual: 5000 });
  });

  it('LIMIT_DELTA_DEPTH: a chain deeper than allowed', async () => {
    const entries: PackEntrySpec[] = [{ kind: 'object', type: 'blob', data: 'v0' }];
    for (let i = 1; i <= 6; i++) {
      entries.push({ kind: 'ofs-delta', base: i - 1, delta: encodeDelta(2, 2, [{ op: 'insert', data: `v${i}` }]) });
    }
    const pack = encodePack(entries);
    const e = await refusal(pack, { limits: tight({ maxDeltaDepth: 5 }) });
    expect(e.code).toBe('LIMIT_DELTA_DEPTH');
    expect(e.data).toMatchObject({ max: 5, actual: 6 });
    const path = join(work, 'deep-ok.pack');
    writeFileSync(path, pack);
    expect((await indexPack(path, { limits: tight({ maxDeltaDepth: 6 }) })).maxDeltaDepth).toBe(6);
  });

  it('PACK_DELTA_OUT_OF_RANGE: a copy outside the base', async () => {
    const delta = encodeDelta(BASE.length, 10, [{ op: 'copy', offset: BASE.length - 5, size: 10 }]);
    const e = await refusal(encodePack([base, { kind: 'ofs-delta', base: 0, delta }]));
    expect(e.code).toBe('PACK_DELTA_OUT_OF_RANGE');
    expect(e.data).toMatchObject({ copyOffset: BASE.length - 5, copySize: 10 });
  });

  it('PACK_DELTA_BAD_INSTRUCTION: the reserved instruction 0', async () => {
    const delta = Buffer.concat([encodeDelta(BASE.length, 1, []), Buffer.from([0])]);
    expect((await refusal(encodePack([base, { kind: 'ofs-delta', base: 0, delta }]))).code).toBe('PACK_DELTA_BAD_INSTRUCTION');
  });

  it('PACK_DELTA_SIZE_MISMATCH: a delta for a base of another size, or producing another size', async () => {
    const wrongBase = encodeDelta(BASE.length + 1, 3, [{ op: 'insert', data: 'abc' }]);
    const e = await refusal(encodePack([base, { kind: 'ofs-delta', base: 0, delta: wrongBase }]));
    expect(e.code).toBe('PACK_DELTA_SIZE_MISMATCH');
    expect(e.data).toMatchObject({ expected: BASE.length + 1, actual: BASE.length });
    const short = encodeDelta(BASE.length, 10, [{ op: 'insert', data: 'abc' }]);
    expect((await refusal(encodePack([base, { kind: 'ofs-delta', base: 0, delta: short }]))).code).toBe('PACK_DELTA_SIZE_MISMATCH');
  });

  it('PACK_DELTA_BAD_OFFSET: an OFS base that is not an entry start, or before the pack', async () => {
    const midEntry = await refusal(encodePack([base, { kind: 'ofs-delta', base: 0, delta: goodDelta, distance: 3 }]));
    expect(midEntry.code).toBe('PACK_DELTA_BAD_OFFSET');
    expect(midEntry.data).toMatchObject({ baseOffset: encodePack([base]).length - 20 - 3 });
    const before = await refusal(encodePack([base, { kind: 'ofs-delta', base: 0, delta: goodDelta, distance: 1000 }]));
    expect(before.code).toBe('PACK_DELTA_BAD_OFFSET');
  });

  it('PACK_DELTA_BASE_MISSING: a REF base in neither the pack nor the repository', async () => {
    const absent = objectId('blob', 'not anywhere');
    const pack = encodePack([base, { kind: 'ref-delta', base: absent, delta: goodDelta }]);
    const e = await refusal(pack);
    expect(e.code).toBe('PACK_DELTA_BASE_MISSING');
    expect(e.data).toMatchObject({ base: absent, offset: encodePack([base]).length - 20 });
    const external = (oid: Oid): RawObject | undefined => (oid === objectId('blob', 'other') ? { type: 'blob', data: Buffer.from('other') } : undefined);
    expect((await refusal(pack, { external })).code).toBe('PACK_DELTA_BASE_MISSING');
  });

  it('resolves a REF base from outside (a thin pack) and a chain hanging off it', async () => {
    const outside = Buffer.from(BASE);
    const oid = objectId('blob', outside);
    const path = join(work, 'thin-ok.pack');
    writeFileSync(
      path,
      encodePack([
        { kind: 'ref-delta', base: oid, delta: goodDelta },
        { kind: 'ofs-delta', base: 0, delta: encodeDelta(30, 3, [{ op: 'copy', offset: 0, size: 3 }]) },
        { kind: 'ref-delta', base: objectId('blob', 'lin'), delta: encodeDelta(3, 1, [{ op: 'copy', offset: 0, size: 1 }]) },
      ]),
    );
    const seen: string[] = [];
    const result = await indexPack(path, {
      limits: DEFAULT_LIMITS,
      external: (o) => (o === oid ? { type: 'blob', data: outside } : undefined),
      onObject: (o) => seen.push(o.data.toString()),
    });
    expect(result.externalBases).toEqual([oid]);
    expect(result.maxDeltaDepth).toBe(3);
    expect(seen).toEqual(['line two\nline three\nline four\n', 'lin', 'l']);
  });

  it('PACK_DELTA_CYCLE: REF deltas that can only be made from each other', async () => {
    // Each delta is all inserts, so each result is known, but each names the other's result
    // as its base and neither result exists anywhere else.
    const a = 'content of a\n';
    const b = 'content of b\n';
    const pack = encodePack([
      { kind: 'ref-delta', base: objectId('blob', b), delta: encodeDelta(b.length, a.length, [{ op: 'insert', data: a }]) },
      { kind: 'ref-delta', base: objectId('blob', a), delta: encodeDelta(a.length, b.length, [{ op: 'insert', data: b }]) },
    ]);
    const e = await refusal(pack);
    expect(e.code).toBe('PACK_DELTA_CYCLE');
    const self = 'I am my own base\n';
    const selfish = encodePack([
      { kind: 'ref-delta', base: objectId('blob', self), delta: encodeDelta(self.length, self.length, [{ op: 'insert', data: self }]) },
    ]);
    expect((await refusal(selfish)).code).toBe('PACK_DELTA_CYCLE');
  });
});
