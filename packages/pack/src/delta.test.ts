import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { applyDelta, deltaSeams } from './delta';

// deltaSeams' promise: a run of the result of at most reach+1 bytes lies within one of its
// windows, or is a run of the base (inside one copy, or several copies contiguous in the base).
// Checked here against deltas encoded independently of build.ts, with copies whose offsets and
// sizes take every byte width git allows (zero bytes included or left out).

type Op =
  | { readonly op: 'copy'; readonly offset: number; readonly size: number; /** Bits 0-6: a zero byte of the offset (0-3) or size (4-6) written anyway. */ readonly explicit?: number }
  | { readonly op: 'insert'; readonly data: Uint8Array };

function varint(out: number[], value: number): void {
  let v = value;
  while (v >= 0x80) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
}

/** gitformat-pack(5), "Deltified representation". */
function encode(baseSize: number, ops: readonly Op[]): Buffer {
  const out: number[] = [];
  varint(out, baseSize);
  varint(out, ops.reduce((n, o) => n + (o.op === 'copy' ? o.size : o.data.length), 0));
  for (const o of ops) {
    if (o.op === 'insert') {
      if (o.data.length < 1 || o.data.length > 127) throw new RangeError('an insert holds 1 to 127 bytes');
      out.push(o.data.length, ...o.data);
      continue;
    }
    const explicit = o.explicit ?? 0;
    let cmd = 0x80;
    const args: number[] = [];
    for (let b = 0; b < 4; b++) {
      const byte = Math.floor(o.offset / 2 ** (8 * b)) & 0xff;
      if (byte !== 0 || explicit & (1 << b)) {
        cmd |= 1 << b;
        args.push(byte);
      }
    }
    if (o.size < 1 || o.size > 0xffffff) throw new RangeError('a copy holds 1 to 0xffffff bytes');
    const size = o.size === 0x10000 ? 0 : o.size;
    for (let b = 0; b < 3; b++) {
      const byte = (size >> (8 * b)) & 0xff;
      if (byte !== 0 || explicit & (0x10 << b)) {
        cmd |= 0x10 << b;
        args.push(byte);
      }
    }
    out.push(cmd, ...args);
  }
  return Buffer.from(out);
}

/** Per result byte, the base offset it was copied from, or -1 when inserted. */
function sources(ops: readonly Op[]): Int32Array {
  const size = ops.reduce((n, o) => n + (o.op === 'copy' ? o.size : o.data.length), 0);
  const src = new Int32Array(size);
  let at = 0;
  for (const o of ops) {
    if (o.op === 'copy') for (let i = 0; i < o.size; i++) src[at++] = o.offset + i;
    else for (let i = 0; i < o.data.length; i++) src[at++] = -1;
  }
  return src;
}

function expectWellFormed(windows: readonly number[], resultSize: number): void {
  expect(windows.length % 2).toBe(0);
  for (let k = 0; k < windows.length; k += 2) {
    expect(windows[k]).toBeGreaterThanOrEqual(0);
    expect(windows[k]).toBeLessThan(windows[k + 1]);
    expect(windows[k + 1]).toBeLessThanOrEqual(resultSize);
    // Ascending, apart (touching windows would have been merged).
    if (k > 0) expect(windows[k]).toBeGreaterThan(windows[k - 1]);
  }
}

const inWindow = (windows: readonly number[], start: number, end: number): boolean => {
  for (let k = 0; k < windows.length; k += 2) if (windows[k] <= start && end <= windows[k + 1]) return true;
  return false;
};

/** A small alphabet, so that runs of the result also occur elsewhere in the base by chance. */
const byteOf = fc.constantFrom(0x61, 0x62, 0x63);

/** One instruction, its numbers fitted to the base once it is known. */
const rawOp = fc.oneof(
  fc.record({ kind: fc.constant('copy' as const), at: fc.nat(), len: fc.nat(), explicit: fc.nat(0x7f) }),
  fc.record({ kind: fc.constant('next' as const), len: fc.nat(), explicit: fc.nat(0x7f) }),
  fc.record({ kind: fc.constant('insert' as const), data: fc.array(byteOf, { minLength: 1, maxLength: 127 }) }),
);

const deltaCase = fc
  .record({
    base: fc.array(byteOf, { minLength: 1, maxLength: 300 }),
    raw: fc.array(rawOp, { maxLength: 20 }),
    reach: fc.integer({ min: 0, max: 8 }),
  })
  .map(({ base, raw, reach }) => {
    const ops: Op[] = [];
    let copiedTo = -1;
    for (const r of raw) {
      if (r.kind === 'insert') {
        ops.push({ op: 'insert', data: Uint8Array.from(r.data) });
        copiedTo = -1;
        continue;
      }
      // 'next' continues the previous copy in the base (a copy split in two), when there is room.
      const offset = r.kind === 'next' && copiedTo >= 0 && copiedTo < base.length ? copiedTo : r.kind === 'copy' ? r.at % base.length : -1;
      if (offset < 0) continue;
      const size = 1 + (r.len % (base.length - offset));
      ops.push({ op: 'copy', offset, size, explicit: r.explicit });
      copiedTo = offset + size;
    }
    return { base: Uint8Array.from(base), ops, reach };
  });

describe('deltaSeams', () => {
  it('every short run of the result is within a window or a run of the base the copies name', () => {
    fc.assert(
      fc.property(deltaCase, ({ base, ops, reach }) => {
        const delta = encode(base.length, ops);
        const result = applyDelta(base, delta, 1 << 20);
        const src = sources(ops);
        expect(result.length).toBe(src.length);
        const windows = deltaSeams(delta, reach);
        expectWellFormed(windows, result.length);
        for (let len = 1; len <= reach + 1; len++) {
          for (let a = 0; a + len <= result.length; a++) {
            if (inWindow(windows, a, a + len)) continue;
            // Not in a window: all copied, from consecutive offsets of the base.
            for (let p = a; p < a + len; p++) {
              expect(src[p]).toBeGreaterThanOrEqual(0);
              if (p > a) expect(src[p]).toBe(src[p - 1] + 1);
            }
            expect(Buffer.from(result.subarray(a, a + len)).equals(Buffer.from(base.subarray(src[a], src[a] + len)))).toBe(true);
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  const base = Buffer.from('the quick brown fox jumps over the lazy dog\n'.repeat(4));

  it('a copy of the whole base has no seam', () => {
    const delta = encode(base.length, [{ op: 'copy', offset: 0, size: base.length }]);
    expect(deltaSeams(delta, 8)).toEqual([]);
    expect(applyDelta(base, delta, 1 << 20)).toEqual(base);
  });

  it('a delta of inserts only is one window, the whole result', () => {
    const data = Buffer.from('x'.repeat(100));
    const delta = encode(base.length, [
      { op: 'insert', data },
      { op: 'insert', data: data.subarray(0, 30) },
    ]);
    expect(deltaSeams(delta, 0)).toEqual([0, 130]);
    expect(deltaSeams(delta, 8)).toEqual([0, 130]);
  });

  it('copies contiguous in the base have no seam between them, whatever their encoding', () => {
    const delta = encode(base.length, [
      { op: 'copy', offset: 0, size: 40, explicit: 0x7f },
      { op: 'copy', offset: 40, size: 50 },
      { op: 'copy', offset: 90, size: base.length - 90, explicit: 0x0f },
    ]);
    expect(deltaSeams(delta, 5)).toEqual([]);
  });

  it('copies apart in the base have a window of 2·reach bytes around their joint', () => {
    const delta = encode(base.length, [
      { op: 'copy', offset: 100, size: 40 },
      { op: 'copy', offset: 10, size: 50 },
    ]);
    expect(deltaSeams(delta, 6)).toEqual([34, 46]);
    expect(deltaSeams(delta, 0)).toEqual([]);
    // Clipped to the result.
    expect(deltaSeams(delta, 60)).toEqual([0, 90]);
    // A copy going back to where the previous one started is a joint too.
    const back = encode(base.length, [
      { op: 'copy', offset: 10, size: 20 },
      { op: 'copy', offset: 10, size: 20 },
    ]);
    expect(deltaSeams(back, 3)).toEqual([17, 23]);
  });

  it('an insert is widened by reach on both sides, and windows that meet are merged', () => {
    const delta = encode(base.length, [
      { op: 'copy', offset: 0, size: 20 },
      { op: 'insert', data: Buffer.from('abc') },
      { op: 'copy', offset: 20, size: 20 },
      { op: 'insert', data: Buffer.from('z') },
      { op: 'copy', offset: 60, size: 4 },
      { op: 'copy', offset: 64, size: 30 },
    ]);
    // Insert at 20..23 → 16..27; insert at 43..44 → 39..48 (its joint after, at 44, within).
    expect(deltaSeams(delta, 4)).toEqual([16, 27, 39, 48]);
    expect(deltaSeams(delta, 10)).toEqual([10, 54]);
  });

  it('reads copies of size 0 as 0x10000 and offsets of three and four bytes', () => {
    const big = Buffer.alloc(0x30000, 0x61);
    big.write('marker', 0x20005);
    const delta = encode(big.length, [
      { op: 'copy', offset: 0, size: 0x10000 },
      { op: 'copy', offset: 0x10000, size: 0x10000, explicit: 0x70 },
      { op: 'copy', offset: 0x20005, size: 6 },
    ]);
    // Size 0x10000 is written as no size byte (or as zero bytes): the first two copies are contiguous.
    expect(delta[6]).toBe(0x80);
    expect(deltaSeams(delta, 2)).toEqual([0x20000 - 2, 0x20000 + 2]);
    const result = applyDelta(big, delta, 1 << 20);
    expect(result.length).toBe(0x20006);
    expect(result.subarray(0x20000).toString()).toBe('marker');
    // A four-byte offset: deltaSeams reads the delta alone, whatever base it would apply to.
    const far = encode(0x05000000, [
      { op: 'copy', offset: 0x04030201, size: 10 },
      { op: 'copy', offset: 0x04030201 + 10, size: 0x123 },
      { op: 'copy', offset: 0x01000000, size: 0x10203, explicit: 0x7f },
    ]);
    expect(deltaSeams(far, 1)).toEqual([10 + 0x123 - 1, 10 + 0x123 + 1]);
  });
});
