import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createWriteStream, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { deflateSync } from 'node:zlib';
import { DEFAULT_LIMITS } from '@pushgate/core';
import { OBJ_OFS_DELTA, encodeDelta, encodeEntryHeader, encodeOfsDistance, encodePackHeader, indexPack } from './index';
import { tempDir } from './test-fixtures';

// Indexing holds the object being worked on and its chain, not the pack: a pack with a 48 MiB
// blob, a delta of it, and ten 6 MiB blobs must not grow memory by anything like their sum.

const MiB = 1024 * 1024;
let work: string;
let packPath: string;
let inflatedTotal = 0;

/** Text-like content that deflates quickly: numbered lines. */
function content(bytes: number, seed: number): Buffer {
  const line = Buffer.from(`${seed} the quick brown fox jumps over the lazy dog ${'x'.repeat(seed % 17)}\n`);
  const out = Buffer.allocUnsafe(bytes);
  for (let at = 0; at < bytes; at += line.length) line.copy(out, at, 0, Math.min(line.length, bytes - at));
  return out;
}

beforeAll(async () => {
  work = tempDir('pack-memory');
  packPath = join(work, 'big.pack');
  const big = content(48 * MiB, 1);
  const blobs = Array.from({ length: 10 }, (_, i) => content(6 * MiB, i + 2));
  const delta = encodeDelta(big.length, big.length + 3, [
    { op: 'copy', offset: 0, size: 0x10000 },
    ...Array.from({ length: Math.ceil((big.length - 0x10000) / 0xff0000) }, (_, i) => {
      const offset = 0x10000 + i * 0xff0000;
      return { op: 'copy' as const, offset, size: Math.min(0xff0000, big.length - offset) };
    }),
    { op: 'insert', data: 'end' },
  ]);
  inflatedTotal = big.length * 2 + blobs.length * 6 * MiB;
  // Written entry by entry so the test itself does not hold the pack either.
  const out = createWriteStream(packPath);
  const hash = createHash('sha1');
  const put = (b: Buffer) => {
    hash.update(b);
    out.write(b);
  };
  put(encodePackHeader(2 + blobs.length));
  const bigEntry = Buffer.concat([encodeEntryHeader(3, big.length), deflateSync(big, { level: 1 })]);
  put(bigEntry);
  put(Buffer.concat([encodeEntryHeader(OBJ_OFS_DELTA, delta.length), encodeOfsDistance(bigEntry.length), deflateSync(delta)]));
  for (const b of blobs) put(Buffer.concat([encodeEntryHeader(3, b.length), deflateSync(b, { level: 1 })]));
  out.write(hash.digest());
  await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('indexPack memory', () => {
  it('holds the chain being worked on, not every object', async () => {
    const sample = () => {
      const m = process.memoryUsage();
      return m.arrayBuffers + m.heapUsed;
    };
    // Collect the fixture's garbage first, so the baseline is what is really live.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    // Backing stores of collected buffers are released after the collection: collect, let that
    // happen, collect again.
    gc();
    await new Promise((resolve) => setTimeout(resolve, 50));
    gc();
    const baseline = sample();
    let peak = baseline;
    let objects = 0;
    const result = await indexPack(packPath, {
      limits: DEFAULT_LIMITS,
      onObject: () => {
        objects++;
        peak = Math.max(peak, sample());
      },
      onProgress: () => {
        peak = Math.max(peak, sample());
      },
    });
    expect(objects).toBe(12);
    expect(result.maxDeltaDepth).toBe(1);
    const growth = peak - baseline;
    // The largest moment is the 48 MiB base and its 48 MiB result, plus the read window and
    // garbage not yet collected; the objects together are 156 MiB.
    expect(growth).toBeLessThan(inflatedTotal * 0.85);
    expect(growth).toBeLessThan(132 * MiB);
  });
});
