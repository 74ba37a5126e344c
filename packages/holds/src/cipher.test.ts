/**
 * Chunk encryption: a chunk opens only as itself — in its hold, at its position, with its
 * last-chunk marker, under its key — so altered, reordered, swapped or truncated packs fail.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { chunked, openChunk, sealChunk } from './cipher';
import { collect, testKey } from './store.test-support';

const key = testKey();

async function* pieces(parts: readonly Uint8Array[]): AsyncGenerator<Uint8Array> {
  yield* parts;
}

describe('sealChunk / openChunk', () => {
  const plaintext = Buffer.from('PACK and then some bytes');
  const sealed = sealChunk(key, 'h7k2m9q4x8c3', 3, false, plaintext);

  it('round-trips, with a fresh nonce every time and no plaintext in the ciphertext', () => {
    expect(openChunk(key, 'h7k2m9q4x8c3', 3, false, sealed)).toEqual(plaintext);
    expect(sealed.nonce).toHaveLength(12);
    expect(sealed.data).toHaveLength(plaintext.length + 16);
    expect(sealed.data.includes(Buffer.from('PACK'))).toBe(false);
    expect(sealChunk(key, 'h7k2m9q4x8c3', 3, false, plaintext).nonce).not.toEqual(sealed.nonce);
  });

  it.each([
    ['another hold', () => openChunk(key, 'zzzzzzzzzzzz', 3, false, sealed)],
    ['another position', () => openChunk(key, 'h7k2m9q4x8c3', 2, false, sealed)],
    ['taken for the last chunk (truncation)', () => openChunk(key, 'h7k2m9q4x8c3', 3, true, sealed)],
    ['another key', () => openChunk(testKey(), 'h7k2m9q4x8c3', 3, false, sealed)],
    ['a flipped bit', () => openChunk(key, 'h7k2m9q4x8c3', 3, false, { nonce: sealed.nonce, data: Buffer.from(sealed.data.map((b, i) => (i === 0 ? b ^ 1 : b))) })],
    ['another nonce', () => openChunk(key, 'h7k2m9q4x8c3', 3, false, { nonce: Buffer.alloc(12), data: sealed.data })],
    ['a cut tag', () => openChunk(key, 'h7k2m9q4x8c3', 3, false, { nonce: sealed.nonce, data: sealed.data.subarray(0, 10) })],
  ])('refuses it in %s with HOLD_PACK_CORRUPT', (_name, open) => {
    expect(open).toThrow(expect.objectContaining({ code: 'HOLD_PACK_CORRUPT' }));
  });
});

describe('chunked', () => {
  it('cuts at the chunk size whatever the pieces, marks only the last, and yields one empty chunk for nothing', async () => {
    const parts = [Buffer.from('abc'), Buffer.from('defgh'), Buffer.alloc(0), Buffer.from('ij')];
    const chunks = [];
    for await (const c of chunked(pieces(parts), 4)) chunks.push({ text: c.plaintext.toString(), last: c.last });
    expect(chunks).toEqual([
      { text: 'abcd', last: false },
      { text: 'efgh', last: false },
      { text: 'ij', last: true },
    ]);
    const exact = [];
    for await (const c of chunked(pieces([Buffer.from('abcdefgh')]), 4)) exact.push({ text: c.plaintext.toString(), last: c.last });
    expect(exact).toEqual([
      { text: 'abcd', last: false },
      { text: 'efgh', last: true },
    ]);
    const none = [];
    for await (const c of chunked(pieces([]), 4)) none.push(c);
    expect(none).toEqual([{ plaintext: Buffer.alloc(0), last: true }]);
  });

  it('keeps every byte in order for any pieces and size', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 50 }), { maxLength: 20 }), fc.integer({ min: 1, max: 64 }), async (parts, size) => {
        const chunks = [];
        for await (const c of chunked(pieces(parts), size)) chunks.push(c);
        expect(Buffer.concat(chunks.map((c) => c.plaintext))).toEqual(Buffer.concat(parts));
        expect(chunks.filter((c) => c.last)).toHaveLength(1);
        expect(chunks[chunks.length - 1]!.last).toBe(true);
        expect(chunks.slice(0, -1).every((c) => c.plaintext.length === size)).toBe(true);
        expect(await collect(pieces(chunks.map((c) => c.plaintext)))).toEqual(Buffer.concat(parts));
      }),
    );
  });
});
