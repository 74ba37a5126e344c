/**
 * The pack format (gitformat-pack(5), "pack-*.pack files have the following format"):
 *
 *   header:  4-byte signature "PACK", 4-byte version (2 or 3), 4-byte object count (network order)
 *   entries: each an object entry header, then (for deltas) the base reference, then zlib data
 *   trailer: SHA-1 of everything before it
 *
 * Object entry header: "n-byte type and length (3-bit type, (n-1)*7+4-bit length)": the first
 * byte holds a continuation bit, the 3-bit type and the low 4 bits of the inflated size; each
 * following byte while the continuation bit is set adds 7 more bits, little-endian.
 *
 * Types: 1 commit, 2 tree, 3 blob, 4 tag, 6 OBJ_OFS_DELTA, 7 OBJ_REF_DELTA (5 is reserved).
 * OBJ_OFS_DELTA is followed by the base's distance back from this entry's start, big-endian base
 * 128 where each continuation adds one ("offset encoding" in gitformat-pack(5));
 * OBJ_REF_DELTA by the base's 20-byte object name.
 */
import { OID_BYTES, oidFromBytes, type Oid } from '@pushgate/core';
import { PackError } from './errors';

/** The four object types. */
export type ObjectType = 'commit' | 'tree' | 'blob' | 'tag';

/** Pack type number of each object type. */
export const TYPE_NUMBERS: Readonly<Record<ObjectType, number>> = { commit: 1, tree: 2, blob: 3, tag: 4 };

/** Object type of each pack type number (1–4). */
export const TYPE_NAMES: readonly (ObjectType | undefined)[] = [undefined, 'commit', 'tree', 'blob', 'tag'];

/** Pack type number of a delta whose base is named by its offset back from the delta. */
export const OBJ_OFS_DELTA = 6;
/** Pack type number of a delta whose base is named by its object id. */
export const OBJ_REF_DELTA = 7;

/** Bytes of the pack header. */
export const PACK_HEADER_BYTES = 12;
/** Bytes of the trailing checksum (a SHA-1 of everything before it). */
export const PACK_TRAILER_BYTES = 20;

/** The parsed 12-byte pack header. */
export interface PackHeader {
  readonly version: 2 | 3;
  readonly objectCount: number;
}

/** Parses the pack header at the start of `buf` (which must hold at least 12 bytes). */
export function parsePackHeader(buf: Uint8Array): PackHeader {
  if (buf.length < PACK_HEADER_BYTES) {
    throw new PackError('PACK_TRUNCATED', `pack is ${buf.length} bytes, shorter than its 12-byte header`, { offset: 0 });
  }
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.length);
  if (b.toString('latin1', 0, 4) !== 'PACK') {
    throw new PackError('PACK_BAD_SIGNATURE', 'pack does not start with "PACK"', {
      expected: 'PACK',
      actual: b.subarray(0, 4).toString('hex'),
    });
  }
  const version = b.readUInt32BE(4);
  if (version !== 2 && version !== 3) {
    throw new PackError('PACK_UNSUPPORTED_VERSION', `pack version ${version} is not 2 or 3`, { actual: version });
  }
  return { version, objectCount: b.readUInt32BE(8) };
}

/** Encodes a pack header. */
export function encodePackHeader(objectCount: number, version: 2 | 3 = 2): Buffer {
  const b = Buffer.alloc(PACK_HEADER_BYTES);
  b.write('PACK', 0, 'latin1');
  b.writeUInt32BE(version, 4);
  b.writeUInt32BE(objectCount, 8);
  return b;
}

/** An entry header: what precedes an entry's zlib data. */
export type EntryHeader =
  | { readonly kind: 'base'; readonly type: ObjectType; readonly size: number; readonly headerBytes: number }
  | {
      readonly kind: 'ofs-delta';
      readonly size: number;
      readonly headerBytes: number;
      /** Absolute pack offset of the base entry. */
      readonly baseOffset: number;
    }
  | { readonly kind: 'ref-delta'; readonly size: number; readonly headerBytes: number; readonly baseOid: Oid };

/** Sizes beyond 2^53 cannot be represented; any size this large is hostile anyway. */
const MAX_SIZE_SHIFT = 53;

/** The fields of an entry header, filled in place by readEntryHeader (one instance per scan). */
export interface EntryHeaderFields {
  /** Pack type number: 1-4 objects, 6 OBJ_OFS_DELTA, 7 OBJ_REF_DELTA. */
  typeNum: number;
  /** Inflated size of the entry's data. */
  size: number;
  /** Bytes of the header, base reference included; a REF_DELTA's base id is its last 20. */
  headerBytes: number;
  /** For OBJ_OFS_DELTA, the absolute pack offset of the base entry; otherwise -1. */
  baseOffset: number;
}

/**
 * Reads the entry header at `pos` of `buf` (pack offset `packOffset`) into `out` without
 * allocating. Returns false when `buf` ends before the header does.
 */
export function readEntryHeader(buf: Uint8Array, pos: number, packOffset: number, out: EntryHeaderFields): boolean {
  let p = pos;
  const end = buf.length;
  if (p >= end) return false;
  let c = buf[p++];
  const typeNum = (c >> 4) & 7;
  let size = c & 15;
  let shift = 4;
  while (c & 0x80) {
    if (p >= end) return false;
    c = buf[p++];
    if (shift >= MAX_SIZE_SHIFT) {
      throw new PackError('PACK_BAD_ENTRY_HEADER', `entry size at offset ${packOffset} does not fit in 53 bits`, {
        offset: packOffset,
      });
    }
    size += (c & 0x7f) * 2 ** shift;
    shift += 7;
  }
  out.typeNum = typeNum;
  out.size = size;
  out.baseOffset = -1;
  if (typeNum >= 1 && typeNum <= 4) {
    out.headerBytes = p - pos;
    return true;
  }
  if (typeNum === OBJ_OFS_DELTA) {
    if (p >= end) return false;
    c = buf[p++];
    let distance = c & 0x7f;
    while (c & 0x80) {
      if (p >= end) return false;
      c = buf[p++];
      distance = (distance + 1) * 128 + (c & 0x7f);
      if (distance > Number.MAX_SAFE_INTEGER / 256) {
        throw new PackError('PACK_DELTA_BAD_OFFSET', `delta base offset at ${packOffset} overflows`, { offset: packOffset });
      }
    }
    const baseOffset = packOffset - distance;
    if (distance === 0 || baseOffset < PACK_HEADER_BYTES) {
      throw new PackError(
        'PACK_DELTA_BAD_OFFSET',
        `delta at offset ${packOffset} points ${distance} bytes back, outside the pack`,
        { offset: packOffset, distance },
      );
    }
    out.baseOffset = baseOffset;
    out.headerBytes = p - pos;
    return true;
  }
  if (typeNum === OBJ_REF_DELTA) {
    if (p + OID_BYTES > end) return false;
    out.headerBytes = p + OID_BYTES - pos;
    return true;
  }
  throw new PackError('PACK_BAD_ENTRY_TYPE', `entry at offset ${packOffset} has type ${typeNum}`, {
    offset: packOffset,
    actual: typeNum,
  });
}

/**
 * Parses the entry header at `pos` of `buf`, where `pos` is pack offset `packOffset`.
 * Returns undefined when `buf` ends before the header does (the caller reads more and retries).
 */
export function parseEntryHeader(buf: Uint8Array, pos: number, packOffset: number): EntryHeader | undefined {
  const f: EntryHeaderFields = { typeNum: 0, size: 0, headerBytes: 0, baseOffset: -1 };
  if (!readEntryHeader(buf, pos, packOffset, f)) return undefined;
  if (f.typeNum === OBJ_OFS_DELTA) return { kind: 'ofs-delta', size: f.size, headerBytes: f.headerBytes, baseOffset: f.baseOffset };
  if (f.typeNum === OBJ_REF_DELTA) {
    return { kind: 'ref-delta', size: f.size, headerBytes: f.headerBytes, baseOid: oidFromBytes(buf, pos + f.headerBytes - OID_BYTES) };
  }
  return { kind: 'base', type: TYPE_NAMES[f.typeNum]!, size: f.size, headerBytes: f.headerBytes };
}

/** Encodes an entry header for a non-delta object (or the type/size part of any entry). */
export function encodeEntryHeader(typeNum: number, size: number): Buffer {
  const bytes: number[] = [];
  let c = ((typeNum & 7) << 4) | (size & 15);
  let rest = Math.floor(size / 16);
  while (rest > 0) {
    bytes.push(c | 0x80);
    c = rest & 0x7f;
    rest = Math.floor(rest / 128);
  }
  bytes.push(c);
  return Buffer.from(bytes);
}

/** Encodes an OBJ_OFS_DELTA distance (the inverse of the decoding in parseEntryHeader). */
export function encodeOfsDistance(distance: number): Buffer {
  const bytes = [distance & 0x7f];
  let d = Math.floor(distance / 128);
  while (d > 0) {
    d -= 1;
    bytes.unshift(0x80 | (d & 0x7f));
    d = Math.floor(d / 128);
  }
  return Buffer.from(bytes);
}
