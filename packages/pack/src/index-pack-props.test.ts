import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { DEFAULT_LIMITS, LimitError, type Limits, type Oid } from '@pushgate/core';
import { PackError, PackReader, encodePackHeader, fixTrailer, hashObject, indexPack, type RawObject } from './index';
import { git, gitBytes, makeRepo, packFiles, tempDir, writeHistory } from './test-fixtures';

// Whatever bytes arrive, indexing ends in a PackError or LimitError, or in success where every
// object the index lists really has that id.

const limits: Limits = { ...DEFAULT_LIMITS, maxObjectBytes: 1 << 20, maxObjects: 100_000 };
let work: string;
let repo: string;
let pack: Buffer;
let thin: Buffer;
let external: (oid: Oid) => RawObject | undefined;
let reader: PackReader;
let n = 0;

beforeAll(() => {
  work = tempDir('pack-props');
  repo = makeRepo('pack-props-repo', { seed: 11, commits: 25, files: 6 });
  git(repo, ['repack', '-adq']);
  const [p] = packFiles(repo);
  pack = readFileSync(p);
  reader = PackReader.open(p, p.replace(/\.pack$/, '.idx'), limits);
  external = (oid) => reader.read(oid);
  const tip = git(repo, ['rev-parse', 'main']).trim();
  writeHistory(repo, { seed: 12, commits: 3 });
  thin = gitBytes(repo, ['-c', 'pack.useBitmaps=false', 'pack-objects', '--thin', '--stdout', '--revs', '--delta-base-offset', '-q'], `main\n^${tip}\n`);
});
afterAll(() => {
  reader.close();
  rmSync(work, { recursive: true, force: true });
  rmSync(repo, { recursive: true, force: true });
});

/** Indexes `bytes`; rethrows anything but a PackError or LimitError; on success checks every listed id. */
async function indexChecked(bytes: Buffer, readBytes: number): Promise<'accepted' | string> {
  const path = join(work, `m${n++}.pack`);
  writeFileSync(path, bytes);
  try {
    const result = await indexPack(path, {
      limits,
      external,
      readBytes,
      onObject: (o) => {
        if (hashObject(o.type, o.data) !== o.oid) throw new Error(`object at ${o.offset} reported as ${o.oid}`);
      },
    });
    const readBack = PackReader.open(path, result.idxPath, { ...limits, external });
    for (let i = 0; i < readBack.index.count; i++) {
      const oid = readBack.index.oidAt(i);
      const obj = readBack.read(oid)!;
      if (hashObject(obj.type, obj.data) !== oid) throw new Error(`index lists ${oid} for other content`);
    }
    readBack.close();
    return 'accepted';
  } catch (e) {
    if (e instanceof PackError || e instanceof LimitError) return e.code;
    throw e;
  } finally {
    rmSync(path, { force: true });
    rmSync(path.replace(/\.pack$/, '.idx'), { force: true });
  }
}

/** A mutation of a pack. */
type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'duplicate'; at: number; length: number; to: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 40 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 200 }) }),
  fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 400 }), to: fc.nat() }),
);

function mutate(src: Buffer, m: Mutation): Buffer {
  const at = m.at % Math.max(1, src.length);
  switch (m.kind) {
    case 'flip': {
      const out = Buffer.from(src);
      out[at] ^= 1 << m.bit;
      return out;
    }
    case 'truncate':
      return src.subarray(0, at);
    case 'insert':
      return Buffer.concat([src.subarray(0, at), m.bytes, src.subarray(at)]);
    case 'delete':
      return Buffer.concat([src.subarray(0, at), src.subarray(at + m.length)]);
    case 'duplicate': {
      const to = m.to % Math.max(1, src.length);
      return Buffer.concat([src.subarray(0, to), src.subarray(at, at + m.length), src.subarray(to)]);
    }
  }
}

const readSizes = fc.constantFrom(64, 509, 4096, 1 << 22);

describe('indexPack on hostile bytes', () => {
  it('accepts the unmutated packs', async () => {
    expect(await indexChecked(pack, 1 << 22)).toBe('accepted');
    expect(await indexChecked(thin, 100)).toBe('accepted');
  });

  it('random bytes, with or without a pack header, only ever produce PackError or LimitError', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 600 }), fc.boolean(), fc.integer({ min: 0, max: 5 }), readSizes, async (body, header, count, readBytes) => {
        const bytes = header ? fixTrailer(Buffer.concat([encodePackHeader(count), body, Buffer.alloc(20)])) : Buffer.from(body);
        const outcome = await indexChecked(bytes, readBytes);
        if (outcome === 'accepted') expect(header).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('mutated real packs (full and thin, trailer fixed or not) never crash and never mislabel an object', async () => {
    const outcomes = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(fc.boolean(), fc.array(mutation, { minLength: 1, maxLength: 3 }), fc.boolean(), readSizes, async (useThin, ms, fix, readBytes) => {
        let bytes = useThin ? thin : pack;
        for (const m of ms) bytes = mutate(bytes, m);
        if (fix && bytes.length >= 32) bytes = fixTrailer(bytes);
        const outcome = await indexChecked(bytes, readBytes);
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      }),
      { numRuns: 400 },
    );
    // The mutations reach deep into the format, not just the trailer check.
    expect(outcomes.size).toBeGreaterThan(6);
  });
});
