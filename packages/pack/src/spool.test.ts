import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { DEFAULT_LIMITS, LimitError } from '@pushgate/core';
import { spoolPack } from './index';
import { tempDir } from './test-fixtures';

let work: string;
let n = 0;
beforeAll(() => {
  work = tempDir('pack-spool');
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function* chunked(bytes: Buffer, sizes: number[]): AsyncGenerator<Uint8Array> {
  let at = 0;
  for (let i = 0; at < bytes.length; i++) {
    const size = Math.max(1, sizes[i % sizes.length]);
    yield bytes.subarray(at, at + size);
    at += size;
  }
}

describe('spoolPack', () => {
  it('writes exactly what arrives, with the checksum of all but the last 20 bytes, however it is split', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 0, maxLength: 3000 }), fc.array(fc.integer({ min: 1, max: 70 }), { minLength: 1, maxLength: 8 }), async (data, sizes) => {
        const bytes = Buffer.from(data);
        const path = join(work, `s${n++}.pack`);
        const spooled = await spoolPack(chunked(bytes, sizes), path, { limits: DEFAULT_LIMITS });
        expect(spooled.bytes).toBe(bytes.length);
        expect(readFileSync(path).equals(bytes)).toBe(true);
        const expected = bytes.length >= 20 ? createHash('sha1').update(bytes.subarray(0, bytes.length - 20)).digest('hex') : undefined;
        expect(spooled.checksum).toBe(expected);
        rmSync(path);
      }),
      { numRuns: 150 },
    );
  });

  it('handles a large push in large chunks with a bounded buffer', async () => {
    const bytes = randomBytes(5 * 1024 * 1024 + 7);
    const path = join(work, 'large.pack');
    const events: number[] = [];
    const spooled = await spoolPack(chunked(bytes, [65536, 3, 1 << 20]), path, {
      limits: DEFAULT_LIMITS,
      onProgress: (e) => events.push(e.done),
    });
    expect(spooled.bytes).toBe(bytes.length);
    expect(readFileSync(path).equals(bytes)).toBe(true);
    expect(events[events.length - 1]).toBe(bytes.length);
  });

  it('refuses with LIMIT_PACK_BYTES as soon as the limit is passed, stops reading and removes the file', async () => {
    const path = join(work, 'over.pack');
    let pulled = 0;
    let closed = false;
    async function* endless(): AsyncGenerator<Uint8Array> {
      try {
        for (;;) {
          pulled++;
          yield Buffer.alloc(1000, 1);
        }
      } finally {
        closed = true;
      }
    }
    const e = await spoolPack(endless(), path, { limits: { maxPackBytes: 10_500 } }).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(LimitError);
    expect((e as LimitError).code).toBe('LIMIT_PACK_BYTES');
    expect((e as LimitError).data).toEqual({ limit: 'maxPackBytes', max: 10_500, actual: 11_000 });
    expect(pulled).toBe(11);
    expect(closed).toBe(true);
    expect(existsSync(path)).toBe(false);
  });

  it('removes the partial file when the source fails, and never overwrites an existing file', async () => {
    const path = join(work, 'broken.pack');
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield Buffer.alloc(10);
      throw new Error('connection reset');
    }
    await expect(spoolPack(failing(), path, { limits: DEFAULT_LIMITS })).rejects.toThrow('connection reset');
    expect(existsSync(path)).toBe(false);
    const taken = join(work, 'taken.pack');
    writeFileSync(taken, 'keep me');
    await expect(spoolPack(chunked(Buffer.alloc(5), [5]), taken, { limits: DEFAULT_LIMITS })).rejects.toMatchObject({ code: 'EEXIST' });
    expect(readFileSync(taken, 'utf8')).toBe('keep me');
  });
});
