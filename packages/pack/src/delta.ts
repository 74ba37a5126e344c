/**
 * Git delta data (gitformat-pack(5), "Deltified representation"): the base size and the result
 * size as little-endian base-128 varints, then instructions:
 *
 *   1xxxxxxx  copy: bits 0-3 say which of 4 offset bytes follow, bits 4-6 which of 3 size bytes
 *             follow (little-endian); a size of 0 means 0x10000
 *   0xxxxxxx  insert: the next xxxxxxx (1-127) bytes literally
 *   00000000  reserved; an error
 */
import { PackError } from './errors';

/**
 * Moves up to this many bytes are done in a loop: Buffer#copy allocates a view per call, which
 * for the short inserts and copies most deltas are made of costs more than the bytes.
 */
const SHORT_MOVE = 48;

/** Where a delta is, for error messages. */
function where(offset: number): string {
  return offset >= 0 ? ` (delta at offset ${offset})` : '';
}

/** Base and result sizes stated at the start of a delta. */
export interface DeltaSizes {
  readonly baseSize: number;
  readonly resultSize: number;
  /** Bytes the two varints took. */
  readonly headerBytes: number;
}

/** Reads the two sizes at the start of a delta. */
export function readDeltaSizes(delta: Uint8Array): DeltaSizes {
  const baseSize = readVarint(delta, 0, 'base');
  const resultSize = readVarint(delta, varintEnd, 'result');
  return { baseSize, resultSize, headerBytes: varintEnd };
}

/** Where the varint readVarint last read ended (a second result without allocating a pair). */
let varintEnd = 0;

/** The little-endian base-128 varint at `pos` of `delta`; sets varintEnd. */
function readVarint(delta: Uint8Array, pos: number, what: string): number {
  let value = 0;
  let shift = 0;
  let c: number;
  do {
    if (pos >= delta.length) throw new PackError('PACK_DELTA_BAD_INSTRUCTION', `delta ends inside its ${what} size`);
    if (shift > 49) throw new PackError('PACK_DELTA_BAD_INSTRUCTION', `delta ${what} size does not fit in 53 bits`);
    c = delta[pos++];
    value += (c & 0x7f) * 2 ** shift;
    shift += 7;
  } while (c & 0x80);
  varintEnd = pos;
  return value;
}

/**
 * Applies `delta` to `base`. Every copy is checked against the base, every write against the
 * stated result size, which must not exceed `maxResultBytes`. `offset` is for error messages.
 * The result is written into `into(resultSize)` when given (a buffer of at least that many bytes,
 * not overlapping `base`; the result is its first resultSize bytes), else into a new Buffer.
 */
export function applyDelta(base: Uint8Array, delta: Uint8Array, maxResultBytes: number, offset = -1, into?: (resultSize: number) => Buffer): Buffer {

  const baseSize = readVarint(delta, 0, 'base');
  const resultSize = readVarint(delta, varintEnd, 'result');
  const headerBytes = varintEnd;
  if (baseSize !== base.length) {
    throw new PackError('PACK_DELTA_SIZE_MISMATCH', `delta expects a ${baseSize}-byte base, the base has ${base.length}${where(offset)}`, {
      offset,
      expected: baseSize,
      actual: base.length,
    });
  }
  if (resultSize > maxResultBytes) {
    throw new PackError('PACK_DELTA_SIZE_MISMATCH', `delta result of ${resultSize} bytes exceeds ${maxResultBytes}${where(offset)}`, {
      offset,
      actual: resultSize,
      max: maxResultBytes,
    });
  }
  const out = into ? into(resultSize) : Buffer.allocUnsafe(resultSize);
  const src = Buffer.isBuffer(base) ? base : Buffer.from(base.buffer, base.byteOffset, base.length);
  const ins = Buffer.isBuffer(delta) ? delta : Buffer.from(delta.buffer, delta.byteOffset, delta.length);
  let pos = headerBytes;
  let outPos = 0;
  const end = delta.length;
  while (pos < end) {
    const op = ins[pos++];
    if (op & 0x80) {
      let cpOff = 0;
      let cpSize = 0;
      if (op & 0x01) cpOff = ins[pos++];
      if (op & 0x02) cpOff |= ins[pos++] << 8;
      if (op & 0x04) cpOff |= ins[pos++] << 16;
      if (op & 0x08) cpOff = (cpOff | (ins[pos++] << 24)) >>> 0;
      if (op & 0x10) cpSize = ins[pos++];
      if (op & 0x20) cpSize |= ins[pos++] << 8;
      if (op & 0x40) cpSize |= ins[pos++] << 16;
      if (pos > end) throw new PackError('PACK_DELTA_BAD_INSTRUCTION', `delta ends inside a copy instruction${where(offset)}`, { offset });
      if (cpSize === 0) cpSize = 0x10000;
      if (cpOff + cpSize > src.length || outPos + cpSize > resultSize) {
        throw new PackError(
          'PACK_DELTA_OUT_OF_RANGE',
          `delta copies ${cpSize} bytes from ${cpOff}, outside the ${src.length}-byte base or the ${resultSize}-byte result${where(offset)}`,
          { offset, copyOffset: cpOff, copySize: cpSize, baseSize: src.length, resultSize },
        );
      }
      if (cpSize <= SHORT_MOVE) {
        for (let k = 0; k < cpSize; k++) out[outPos + k] = src[cpOff + k];
      } else {
        src.copy(out, outPos, cpOff, cpOff + cpSize);
      }
      outPos += cpSize;
    } else if (op !== 0) {
      if (pos + op > end || outPos + op > resultSize) {
        throw new PackError('PACK_DELTA_OUT_OF_RANGE', `delta inserts ${op} bytes past the end of the delta or the result${where(offset)}`, {
          offset,
        });
      }
      if (op <= SHORT_MOVE) {
        for (let k = 0; k < op; k++) out[outPos + k] = ins[pos + k];
      } else {
        ins.copy(out, outPos, pos, pos + op);
      }
      pos += op;
      outPos += op;
    } else {
      throw new PackError('PACK_DELTA_BAD_INSTRUCTION', `delta uses the reserved instruction 0${where(offset)}`, { offset });
    }
  }
  if (outPos !== resultSize) {
    throw new PackError('PACK_DELTA_SIZE_MISMATCH', `delta produced ${outPos} bytes, it states ${resultSize}${where(offset)}`, {
      offset,
      expected: resultSize,
      actual: outPos,
    });
  }
  return out.length === resultSize ? out : out.subarray(0, resultSize);
}

/**
 * The places where `delta`'s result is not a plain copy of its base, each widened by `reach` bytes
 * on both sides, merged and clipped to the result: `[start0, end0, start1, end1, …]`, ascending.
 *
 * A seam is every inserted run, and every boundary between two copies that are not contiguous in
 * the base (contiguous copies are one run of the base). So any run of the result of at most
 * `reach + 1` bytes either lies within one seam window or is a run of the base: what a search for
 * short strings (a keyword prefilter) must look at in a delta's result when it knows the base.
 * For a delta `applyDelta` accepted (it is not checked again here).
 */
export function deltaSeams(delta: Uint8Array, reach: number): number[] {
  readVarint(delta, 0, 'base');
  const resultSize = readVarint(delta, varintEnd, 'result');
  const seams: number[] = [];
  const add = (start: number, end: number): void => {
    const s = Math.max(0, start);
    const e = Math.min(resultSize, end);
    if (e <= s) return;
    const last = seams.length - 1;
    if (last > 0 && s <= seams[last]) seams[last] = Math.max(seams[last], e);
    else seams.push(s, e);
  };
  let pos = varintEnd;
  let outPos = 0;
  /** Where in the base the previous copy ended; -1 after an insert (or at the start). */
  let copiedTo = -1;
  const end = delta.length;
  while (pos < end) {
    const op = delta[pos++];
    if (op & 0x80) {
      let cpOff = 0;
      let cpSize = 0;
      if (op & 0x01) cpOff = delta[pos++];
      if (op & 0x02) cpOff |= delta[pos++] << 8;
      if (op & 0x04) cpOff |= delta[pos++] << 16;
      if (op & 0x08) cpOff = (cpOff | (delta[pos++] << 24)) >>> 0;
      if (op & 0x10) cpSize = delta[pos++];
      if (op & 0x20) cpSize |= delta[pos++] << 8;
      if (op & 0x40) cpSize |= delta[pos++] << 16;
      if (cpSize === 0) cpSize = 0x10000;
      if (outPos > 0 && cpOff !== copiedTo) add(outPos - reach, outPos + reach);
      copiedTo = cpOff + cpSize;
      outPos += cpSize;
    } else if (op !== 0) {
      add(outPos - reach, outPos + op + reach);
      pos += op;
      outPos += op;
      copiedTo = -1;
    } else {
      throw new PackError('PACK_DELTA_BAD_INSTRUCTION', 'delta uses the reserved instruction 0');
    }
  }
  return seams;
}
