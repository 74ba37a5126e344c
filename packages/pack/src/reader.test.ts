import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { DEFAULT_LIMITS, type Oid } from '@pushgate/core';
import { PackCache, PackIndex, PackReader, encodeDelta, encodePack, hashObject, indexPack, objectId, type ObjectType, type PackEntrySpec, type PackReaderOptions, type RawObject } from './index';
import { git as gitIn, gitBytes, makeRepo, packFiles, prng, tempDir, writeHistory } from './test-fixtures';

// Real repositories packed by git: every object and every header PackReader returns must match
// `git cat-file`, whatever the window and cache budgets and the order of reads.
let dir: string;
const git = (...args: string[]) => execFileSync('git', args, { cwd: dir, encoding: 'latin1', maxBuffer: 1 << 28 });

interface Listed {
  readonly oid: Oid;
  readonly type: string;
  readonly size: number;
  readonly delta: boolean;
}

function listing(run: (...args: string[]) => string): Listed[] {
  return run('cat-file', '--batch-all-objects', '--batch-check=%(objectname) %(objecttype) %(objectsize) %(deltabase)')
    .trim()
    .split('\n')
    .map((line) => {
      const [oid, type, size, base] = line.split(' ');
      return { oid: oid as Oid, type, size: Number(size), delta: !/^0+$/.test(base) };
    });
}

function shuffled<T>(xs: readonly T[], seed: number): T[] {
  const rnd = prng(seed);
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

const BUDGETS: readonly [string, Partial<PackReaderOptions>][] = [
  ['default budgets', {}],
  ['one window, no delta cache', { windowBytes: 0, cacheBytes: 0 }],
  ['four windows, a small delta cache', { windowBytes: 4 * 65536, cacheBytes: 64 * 1024 }],
];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pg-reader-'));
  git('init', '-q', '-b', 'main');
  git('config', 'user.email', 't@example.com');
  git('config', 'user.name', 'T');
  const rnd = prng(3);
  for (let i = 0; i < 30; i++) {
    const lines = Array.from({ length: 200 + i * 5 }, (_, j) => `line ${j} of version ${j % 7 === 0 ? i : 0}`);
    writeFileSync(join(dir, 'file.txt'), lines.join('\n'));
    writeFileSync(join(dir, `f${i % 4}.txt`), `content ${i}\n`.repeat(50));
    // Incompressible blobs: entries that straddle 64 KiB windows, and some longer than a window.
    const noise = Buffer.alloc(i % 10 === 9 ? 150_000 : 3000 + i * 700);
    for (let k = 0; k < noise.length; k++) noise[k] = Math.floor(rnd() * 256);
    writeFileSync(join(dir, `noise${i % 3}.bin`), noise);
    git('add', '.');
    git('commit', '-q', '-m', `commit ${i}`);
  }
  git('gc', '-q', '--aggressive');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function openPack(options: Partial<PackReaderOptions>): PackReader {
  const packDir = join(dir, '.git/objects/pack');
  const idx = readdirSync(packDir).find((f) => f.endsWith('.idx'))!;
  return PackReader.open(join(packDir, idx.replace(/idx$/, 'pack')), join(packDir, idx), { maxObjectBytes: 1 << 20, maxDeltaDepth: 50, ...options });
}

describe('PackReader', () => {
  it('the pack spans several windows, with deltas and entries longer than a window', () => {
    const objects = listing(git);
    expect(objects.filter((o) => o.delta).length).toBeGreaterThan(30);
    expect(objects.some((o) => o.size > 65536)).toBe(true);
    const packDir = join(dir, '.git/objects/pack');
    const pack = readdirSync(packDir).find((f) => f.endsWith('.pack'))!;
    expect(readFileSync(join(packDir, pack)).length).toBeGreaterThan(6 * 65536);
  });

  for (const [name, budget] of BUDGETS) {
    it(`reads every object of a git-written pack, deltas resolved, ids verified (${name})`, () => {
      const reader = openPack(budget);
      const objects = listing(git);
      expect(reader.index.count).toBe(objects.length);
      for (const o of shuffled(objects, 1)) {
        const obj = reader.read(o.oid)!;
        expect(obj.type).toBe(o.type);
        expect(hashObject(obj.type, obj.data)).toBe(o.oid);
      }
      // Again in index order, now that caches hold things.
      for (const o of objects) expect(hashObject(reader.read(o.oid)!.type, reader.read(o.oid)!.data)).toBe(o.oid);
      expect(reader.read('0'.repeat(40) as Oid)).toBeUndefined();
      reader.close();
    });

    it(`tells every object's type and size without reading it, before and after reads (${name})`, () => {
      const objects = listing(git);
      const fresh = openPack(budget);
      for (const o of shuffled(objects, 2)) expect(fresh.header(o.oid)).toEqual({ type: o.type, size: o.size });
      fresh.close();
      const warmed = openPack(budget);
      for (const o of shuffled(objects, 3).slice(0, 40)) warmed.read(o.oid);
      for (const o of shuffled(objects, 4)) expect(warmed.header(o.oid)).toEqual({ type: o.type, size: o.size });
      expect(warmed.header('f'.repeat(40) as Oid)).toBeUndefined();
      warmed.close();
    });
  }
});

describe('PackIndex.find', () => {
  it('finds ids given as hex in either case or as bytes anywhere in a buffer, and nothing else', () => {
    const reader = openPack({});
    const index: PackIndex = reader.index;
    const objects = listing(git);
    for (const [k, o] of objects.entries()) {
      const i = index.find(o.oid);
      expect(index.oidAt(i)).toBe(o.oid);
      expect(index.find(o.oid.toUpperCase() as Oid)).toBe(i);
      const bytes = Buffer.concat([Buffer.alloc(k % 7, 0xff), Buffer.from(o.oid, 'hex'), Buffer.alloc(3)]);
      expect(index.find(bytes, k % 7)).toBe(i);
      expect(index.offsetOf(bytes, k % 7)).toBe(index.offsetAt(i));
      // One bit off in the last byte is another id.
      const other = Buffer.from(o.oid, 'hex');
      other[19] ^= 1;
      if (!objects.some((x) => x.oid === other.toString('hex'))) expect(index.find(other)).toBe(-1);
    }
    for (const bad of ['', 'xyz', 'g'.repeat(40), `${objects[0].oid}0`, objects[0].oid.slice(1), ` ${objects[0].oid.slice(1)}`]) {
      expect(index.find(bad as Oid)).toBe(-1);
    }
    expect(index.find(Buffer.from(objects[0].oid, 'hex'), 5)).toBe(-1);
    reader.close();
  });
});

describe('PackReader over a thin pack', () => {
  let base: string;
  let full: string;
  let scratch: string;
  let baseReaders: PackReader[];

  beforeAll(() => {
    base = makeRepo('reader-thin-base', { seed: 11, commits: 60, bare: true });
    gitIn(base, ['repack', '-adq']);
    full = tempDir('reader-thin-full');
    gitIn(full, ['clone', '-q', '--bare', base, '.']);
    const baseTip = gitIn(full, ['rev-parse', 'main']).trim();
    writeHistory(full, { seed: 12, commits: 50 });
    const tip = gitIn(full, ['rev-parse', 'main']).trim();
    scratch = tempDir('reader-thin');
    const thin = gitBytes(full, ['-c', 'pack.useBitmaps=false', 'pack-objects', '--thin', '--stdout', '--revs', '-q'], `${tip}\n^${baseTip}\n`);
    writeFileSync(join(scratch, 'thin.pack'), thin);
    baseReaders = packFiles(base).map((p) => PackReader.open(p, p.replace(/\.pack$/, '.idx'), DEFAULT_LIMITS));
  });
  afterAll(() => {
    for (const r of baseReaders) r.close();
    for (const d of [base, full, scratch]) rmSync(d, { recursive: true, force: true });
  });

  const external = (oid: Oid): RawObject | undefined => {
    for (const r of baseReaders) {
      const o = r.read(oid);
      if (o) return o;
    }
    return undefined;
  };

  it('resolves and sizes objects whose chains end outside the pack, with or without an external header lookup', async () => {
    const packPath = join(scratch, 'thin.pack');
    const indexed = await indexPack(packPath, { limits: DEFAULT_LIMITS, external });
    expect(indexed.externalBases.length).toBeGreaterThan(0);
    const truth = new Map(listing((...args) => gitIn(full, args)).map((o) => [o.oid, o]));
    let externalHeaders = 0;
    const withHeader = PackReader.open(packPath, indexed.idxPath, {
      ...DEFAULT_LIMITS,
      external,
      externalHeader: (oid) => {
        externalHeaders++;
        for (const r of baseReaders) {
          const h = r.header(oid);
          if (h) return h;
        }
        return undefined;
      },
    });
    const withoutHeader = PackReader.open(packPath, indexed.idxPath, { ...DEFAULT_LIMITS, external });
    const noExternal = PackReader.open(packPath, indexed.idxPath, DEFAULT_LIMITS);
    const oids = Array.from({ length: withHeader.index.count }, (_, i) => withHeader.index.oidAt(i));
    let missing = 0;
    for (const oid of shuffled(oids, 5)) {
      const want = truth.get(oid)!;
      expect(withHeader.header(oid)).toEqual({ type: want.type, size: want.size });
      expect(withoutHeader.header(oid)).toEqual({ type: want.type, size: want.size });
      const obj = withoutHeader.read(oid)!;
      expect(hashObject(obj.type as ObjectType, obj.data)).toBe(oid);
      try {
        noExternal.read(oid);
      } catch (e) {
        expect((e as { code?: string }).code).toBe('PACK_DELTA_BASE_MISSING');
        missing++;
      }
    }
    expect(externalHeaders).toBeGreaterThan(0);
    expect(missing).toBeGreaterThan(0);
    for (const r of [withHeader, withoutHeader, noExternal]) r.close();
  });
});

describe('PackReader at window boundaries', () => {
  // Entries placed so that their headers start 1..31 bytes before a 64 KiB boundary (and their
  // zlib data after it): an OFS delta, a REF delta (its base id cut by the boundary) and a whole
  // object in turn. Fillers are stored (level 0) blobs, whose length is exact.
  let scratch: string;
  let packPath: string;
  let idxPath: string;
  const WINDOW = 65536;

  beforeAll(async () => {
    scratch = tempDir('reader-windows');
    const entries: PackEntrySpec[] = [];
    let offset = 12;
    // Lengths are measured one entry at a time, so an OFS delta states its distance itself.
    const add = (e: PackEntrySpec) => {
      const len = encodePack([e], { trailer: 'none' }).length - 12;
      entries.push(e);
      offset += len;
    };
    const baseText = 'the base object: '.repeat(40);
    add({ kind: 'object', type: 'blob', data: baseText });
    const filler = (n: number): PackEntrySpec => ({ kind: 'object', type: 'blob', data: Buffer.alloc(n, n & 0xff), zlib: deflateSync(Buffer.alloc(n, n & 0xff), { level: 0 }) });
    const fillTo = (target: number) => {
      while (target - offset > 40_000) add(filler(30_000));
      const gap = target - offset;
      for (let n = Math.max(0, gap - 40); n <= gap; n++) {
        const f = filler(n);
        if (encodePack([f], { trailer: 'none' }).length - 12 === gap) {
          add(f);
          return;
        }
      }
      throw new Error(`no filler is ${gap} bytes long`);
    };
    for (let k = 1; k <= 31; k++) {
      fillTo(k * WINDOW - k);
      const payload = `version ${k}\n`;
      const delta = encodeDelta(baseText.length, baseText.length + payload.length, [
        { op: 'copy', offset: 0, size: baseText.length },
        { op: 'insert', data: payload },
      ]);
      if (k % 3 === 0) add({ kind: 'ofs-delta', base: 0, delta, distance: offset - 12 });
      else if (k % 3 === 1) add({ kind: 'ref-delta', base: objectId('blob', baseText), delta });
      else add({ kind: 'object', type: 'tree', data: Buffer.concat([Buffer.from(`100644 f${k}\0`), Buffer.alloc(20, k)]) });
    }
    packPath = join(scratch, 'windows.pack');
    writeFileSync(packPath, encodePack(entries));
    idxPath = (await indexPack(packPath, { limits: DEFAULT_LIMITS })).idxPath;
  });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  for (const [name, budget] of BUDGETS) {
    it(`reads and sizes entries whose headers cross a window boundary (${name})`, () => {
      const reader = PackReader.open(packPath, idxPath, { ...DEFAULT_LIMITS, ...budget });
      const offsets = Array.from({ length: reader.index.count }, (_, i) => reader.index.offsetAt(i));
      for (let k = 1; k <= 31; k++) expect(offsets).toContain(k * WINDOW - k);
      for (let i = 0; i < reader.index.count; i++) {
        const oid = reader.index.oidAt(i);
        const h = reader.header(oid)!;
        const obj = reader.read(oid)!;
        expect(hashObject(obj.type, obj.data)).toBe(oid);
        expect(h).toEqual({ type: obj.type, size: obj.data.length });
      }
      reader.close();
    });
  }
});

describe('PackReaders sharing a PackCache', () => {
  let repo: string;
  beforeAll(() => {
    repo = makeRepo('reader-shared', { seed: 21, commits: 40, bare: true });
    gitIn(repo, ['repack', '-adq']);
    writeHistory(repo, { seed: 22, commits: 40 });
    gitIn(repo, ['repack', '-dq']);
  });
  afterAll(() => rmSync(repo, { recursive: true, force: true }));

  it('read every object of several packs right, interleaved, within one small budget, and after one of them closes', () => {
    const packs = packFiles(repo);
    expect(packs.length).toBeGreaterThan(1);
    const cache = new PackCache({ windowBytes: 0, objectBytes: 64 * 1024 });
    const readers = packs.map((p) => PackReader.open(p, p.replace(/\.pack$/, '.idx'), { ...DEFAULT_LIMITS, cache }));
    const all = readers.flatMap((r) => Array.from({ length: r.index.count }, (_, i) => ({ r, oid: r.index.oidAt(i) })));
    // Every pack has an entry at offset 12 (right after the header): one after the other, each must be its own.
    for (const r of readers) {
      const first = Array.from({ length: r.index.count }, (_, i) => i).find((i) => r.index.offsetAt(i) === 12)!;
      const obj = r.readAt(12);
      expect(hashObject(obj.type, obj.data)).toBe(r.index.oidAt(first));
      expect(r.headerAt(12)).toEqual({ type: obj.type, size: obj.data.length });
    }
    for (const { r, oid } of shuffled(all, 9)) {
      const obj = r.read(oid)!;
      expect(hashObject(obj.type, obj.data)).toBe(oid);
      expect(r.header(oid)).toEqual({ type: obj.type, size: obj.data.length });
    }
    readers[0].close();
    for (const { r, oid } of shuffled(all, 10).filter((x) => x.r !== readers[0])) {
      const obj = r.read(oid)!;
      expect(hashObject(obj.type, obj.data)).toBe(oid);
    }
    for (const r of readers.slice(1)) r.close();
    cache.close();
  });
});
