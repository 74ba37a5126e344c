/**
 * zlib streams (RFC 1950) written by hand, so the bytes are the same on every machine: Node's
 * deflate is a zlib fork whose output may differ between builds and CPUs, and a corpus of hostile
 * packs must be reproducible byte for byte.
 *
 * - storedZlib: stored (uncompressed) deflate blocks (RFC 1951 §3.2.4) — any inflater reads them.
 * - repeatZlib: one fixed-Huffman block (§3.2.6) of a literal then length-258/distance-1 matches:
 *   13 bits per 258 output bytes, a deflate "bomb" that is tiny compared with what it inflates to.
 * - storedGzip: the same stored blocks in a gzip member (RFC 1952), as an HTTP body with
 *   `Content-Encoding: gzip`, with an optional wrong CRC for corrupt-body tests.
 */
import { crc32 } from 'node:zlib';

/** zlib header: deflate, 32 KiB window, no dictionary; (0x78 * 256 + 0x01) is a multiple of 31. */
const ZLIB_HEADER = [0x78, 0x01];
const ADLER_MOD = 65521;
const STORED_MAX = 0xffff;

/** Adler-32 of `data`. */
export function adler32(data: Uint8Array): number {
  let a = 1;
  let b = 0;
  for (let i = 0; i < data.length; i++) {
    a = (a + data[i]) % ADLER_MOD;
    b = (b + a) % ADLER_MOD;
  }
  return ((b << 16) | a) >>> 0;
}

/** Adler-32 of `count` copies of `byte`, in closed form (A_n = 1 + n·c, B_n = n + c·n(n+1)/2). */
function adler32Repeat(byte: number, count: number): number {
  const n = BigInt(count);
  const c = BigInt(byte);
  const m = BigInt(ADLER_MOD);
  const a = (1n + n * c) % m;
  const b = (n + (c * n * (n + 1n)) / 2n) % m;
  return Number((b << 16n) | a) >>> 0;
}

function trailer(adler: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(adler, 0);
  return out;
}

/** A zlib stream of `data` in stored blocks: valid for every inflater, byte-identical everywhere. */
export function storedZlib(data: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(ZLIB_HEADER), storedDeflate(data), trailer(adler32(data))]);
}

/** Options of storedGzip. */
export interface StoredGzipOptions {
  /** The CRC-32 written in the trailer instead of the right one. */
  readonly crc?: number;
}

/** A gzip member (no name, no time, OS unknown) holding `data` in stored deflate blocks. */
export function storedGzip(data: Uint8Array, options: StoredGzipOptions = {}): Buffer {
  // ID1 ID2, CM=8 (deflate), FLG=0, MTIME=0, XFL=0, OS=255 (unknown): no field that varies.
  const header = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
  const tail = Buffer.alloc(8);
  tail.writeUInt32LE((options.crc ?? crc32(data)) >>> 0, 0);
  tail.writeUInt32LE(data.length % 2 ** 32, 4);
  return Buffer.concat([header, storedDeflate(data), tail]);
}

/** Raw deflate (no zlib or gzip wrapper) of `data` in stored blocks of at most 65535 bytes. */
function storedDeflate(data: Uint8Array): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  do {
    const len = Math.min(STORED_MAX, data.length - at);
    const final = at + len >= data.length;
    const head = Buffer.alloc(5);
    head[0] = final ? 1 : 0;
    head.writeUInt16LE(len, 1);
    head.writeUInt16LE(~len & 0xffff, 3);
    parts.push(head, Buffer.from(data.subarray(at, at + len)));
    at += len;
  } while (at < data.length);
  return Buffer.concat(parts);
}

/** Packs bits LSB-first into bytes (deflate's bit order); Huffman codes go in most significant bit first. */
class BitWriter {
  private readonly bytes: number[] = [];
  private current = 0;
  private filled = 0;

  /** `count` bits of `value`, least significant first (header fields, extra bits). */
  bits(value: number, count: number): void {
    for (let i = 0; i < count; i++) this.bit((value >>> i) & 1);
  }

  /** A Huffman code of `length` bits, most significant first. */
  code(code: number, length: number): void {
    for (let i = length - 1; i >= 0; i--) this.bit((code >>> i) & 1);
  }

  private bit(b: number): void {
    this.current |= b << this.filled;
    if (++this.filled === 8) {
      this.bytes.push(this.current);
      this.current = 0;
      this.filled = 0;
    }
  }

  /** The bytes written, the last one padded with zero bits. */
  finish(): Buffer {
    if (this.filled > 0) this.bytes.push(this.current);
    return Buffer.from(this.bytes);
  }
}

/** Fixed-Huffman code of a literal byte (RFC 1951 §3.2.6): 0–143 in 8 bits, 144–255 in 9. */
function literal(w: BitWriter, byte: number): void {
  if (byte < 144) w.code(0x30 + byte, 8);
  else w.code(0x190 + (byte - 144), 9);
}

/**
 * A zlib stream that inflates to `count` copies of `byte`: one literal, then matches of 258 bytes
 * at distance 1, then literals for the rest. About 13 bits per 258 bytes (a 256 MiB run is 1.7 MB).
 */
export function repeatZlib(byte: number, count: number): Buffer {
  const w = new BitWriter();
  w.bits(1, 1); // BFINAL
  w.bits(1, 2); // BTYPE 01: fixed Huffman codes
  let left = count;
  if (left > 0) {
    literal(w, byte);
    left--;
  }
  while (left >= 258) {
    w.code(0xc5, 8); // length symbol 285 (length 258, no extra bits): 11000101
    w.code(0, 5); // distance code 0 (distance 1)
    left -= 258;
  }
  for (; left > 0; left--) literal(w, byte);
  w.code(0, 7); // end of block (symbol 256): 0000000
  return Buffer.concat([Buffer.from(ZLIB_HEADER), w.finish(), trailer(adler32Repeat(byte, count))]);
}
