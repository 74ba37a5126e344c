/**
 * Pack index version 2 (gitformat-pack(5), "Version 2 pack-*.idx files support packs larger
 * than 4 GiB"):
 *
 *   magic \377tOc, version 2 (4 bytes each)
 *   fan-out table: 256 x 4-byte counts of objects whose first id byte is <= i
 *   N x 20-byte object names, sorted
 *   N x 4-byte CRC32 of each object's packed data (header included)
 *   N x 4-byte offsets; with the MSB set, the low 31 bits index the 8-byte offset table
 *   M x 8-byte offsets (only for offsets >= 2^31)
 *   20-byte pack checksum, 20-byte checksum of all of the above
 */
import { createHash } from 'node:crypto';
import { OID_BYTES, oidFromBytes, type Oid } from '@pushgate/core';
import { PackError } from './errors';

const IDX_MAGIC = 0xff744f63;
const FANOUT_BYTES = 256 * 4;
const HEADER_BYTES = 8;

/** Value of each ASCII hex digit (either case), -1 for anything else. */
const HEX_VALUES = (() => {
  const t = new Int8Array(128).fill(-1);
  for (let i = 0; i < 10; i++) t[0x30 + i] = i;
  for (let i = 0; i < 6; i++) t[0x41 + i] = t[0x61 + i] = 10 + i;
  return t;
})();

/** The 32-bit word written as 8 hex digits at `at` of `s`, or -1 when they are not hex. */
function hexWord(s: string, at: number): number {
  let v = 0;
  for (let k = at; k < at + 8; k++) {
    const c = s.charCodeAt(k);
    const d = c < 128 ? HEX_VALUES[c] : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

/** The big-endian 32-bit word at `at` of `b`. */
function byteWord(b: Uint8Array, at: number): number {
  return b[at] * 0x1000000 + ((b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]);
}

/** A parsed v2 pack index held in memory (28 bytes and a little per object). */
export class PackIndex {
  readonly count: number;
  readonly packChecksum: Buffer;
  private readonly buf: Buffer;
  private readonly view: DataView;
  private readonly oidsAt: number;
  private readonly crcAt: number;
  private readonly offAt: number;
  private readonly bigAt: number;

  private constructor(buf: Buffer) {
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.count = buf.readUInt32BE(HEADER_BYTES + 255 * 4);
    this.oidsAt = HEADER_BYTES + FANOUT_BYTES;
    this.crcAt = this.oidsAt + this.count * OID_BYTES;
    this.offAt = this.crcAt + this.count * 4;
    this.bigAt = this.offAt + this.count * 4;
    this.packChecksum = buf.subarray(buf.length - 40, buf.length - 20);
  }

  /** Parses and checks an index file's bytes (magic, version, fan-out order, sizes, checksum). */
  static parse(buf: Buffer, verifyChecksum = true): PackIndex {
    if (buf.length < HEADER_BYTES + FANOUT_BYTES + 40 || buf.readUInt32BE(0) !== IDX_MAGIC || buf.readUInt32BE(4) !== 2) {
      throw new PackError('PACK_BAD_INDEX', 'not a version 2 pack index');
    }
    let prev = 0;
    for (let i = 0; i < 256; i++) {
      const n = buf.readUInt32BE(HEADER_BYTES + i * 4);
      if (n < prev) throw new PackError('PACK_BAD_INDEX', 'pack index fan-out table is not monotonic');
      prev = n;
    }
    const idx = new PackIndex(buf);
    const minBytes = idx.bigAt + 40;
    if (buf.length < minBytes || (buf.length - minBytes) % 8 !== 0) {
      throw new PackError('PACK_BAD_INDEX', `pack index has ${buf.length} bytes, ${idx.count} objects need ${minBytes}`);
    }
    if (verifyChecksum) {
      const sum = createHash('sha1').update(buf.subarray(0, buf.length - 20)).digest();
      if (!sum.equals(buf.subarray(buf.length - 20))) throw new PackError('PACK_BAD_INDEX', 'pack index checksum mismatch');
    }
    return idx;
  }

  /**
   * Position of `oid` (hex, or 20 bytes at `at` of a buffer) in the sorted name table, or -1.
   * Ids are compared as five big-endian 32-bit words read straight from the index, so a lookup
   * allocates nothing (it runs for every object a change set reads, in every pack asked).
   */
  find(oid: Oid | Uint8Array, at = 0): number {
    if (typeof oid === 'string') {
      if (oid.length !== 40) return -1;
      const w0 = hexWord(oid, 0);
      const w1 = hexWord(oid, 8);
      const w2 = hexWord(oid, 16);
      const w3 = hexWord(oid, 24);
      const w4 = hexWord(oid, 32);
      if (w0 < 0 || w1 < 0 || w2 < 0 || w3 < 0 || w4 < 0) return -1;
      return this.search(w0, w1, w2, w3, w4);
    }
    if (at + OID_BYTES > oid.length) return -1;
    return this.search(byteWord(oid, at), byteWord(oid, at + 4), byteWord(oid, at + 8), byteWord(oid, at + 12), byteWord(oid, at + 16));
  }

  private search(w0: number, w1: number, w2: number, w3: number, w4: number): number {
    const view = this.view;
    const first = w0 >>> 24;
    let lo = first === 0 ? 0 : view.getUint32(HEADER_BYTES + (first - 1) * 4);
    let hi = view.getUint32(HEADER_BYTES + first * 4);
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const at = this.oidsAt + mid * OID_BYTES;
      let cmp = w0 - view.getUint32(at);
      if (cmp === 0) cmp = w1 - view.getUint32(at + 4);
      if (cmp === 0) cmp = w2 - view.getUint32(at + 8);
      if (cmp === 0) cmp = w3 - view.getUint32(at + 12);
      if (cmp === 0) cmp = w4 - view.getUint32(at + 16);
      if (cmp === 0) return mid;
      if (cmp < 0) hi = mid;
      else lo = mid + 1;
    }
    return -1;
  }

  /** Pack offset of `oid` (hex, or 20 bytes at `at`), or undefined. */
  offsetOf(oid: Oid | Uint8Array, at = 0): number | undefined {
    const i = this.find(oid, at);
    return i < 0 ? undefined : this.offsetAt(i);
  }

  /** The object name at position `i`. */
  oidAt(i: number): Oid {
    return oidFromBytes(this.buf, this.oidsAt + i * OID_BYTES);
  }

  /** The pack offset of the object at position `i`. */
  offsetAt(i: number): number {
    const off = this.buf.readUInt32BE(this.offAt + i * 4);
    if (!(off & 0x80000000)) return off;
    const big = this.bigAt + (off & 0x7fffffff) * 8;
    if (big + 8 > this.buf.length - 40) throw new PackError('PACK_BAD_INDEX', 'pack index large offset out of range');
    return Number(this.buf.readBigUInt64BE(big));
  }

  /** The CRC32 of the packed entry at position `i`. */
  crcAt32(i: number): number {
    return this.buf.readUInt32BE(this.crcAt + i * 4);
  }

  /** All pack offsets, ascending (to find where each entry ends). */
  sortedOffsets(): Float64Array {
    const out = new Float64Array(this.count);
    for (let i = 0; i < this.count; i++) out[i] = this.offsetAt(i);
    return out.sort();
  }
}
