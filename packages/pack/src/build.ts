/**
 * Builds packs from readable descriptions (gitformat-pack(5)): whole objects, OFS and REF
 * deltas made of copy/insert instructions, and deliberately broken entries. Used to test the
 * indexer against hostile input, and by other packages' tests that need a pack git would not
 * write.
 */
import { createHash } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import { OID_BYTES, oidToBytes, type Oid } from '@pushgate/core';
import {
  OBJ_OFS_DELTA,
  OBJ_REF_DELTA,
  PACK_HEADER_BYTES,
  TYPE_NUMBERS,
  encodeEntryHeader,
  encodeOfsDistance,
  encodePackHeader,
  type ObjectType,
} from './format';

/** One instruction of a delta. */
export type DeltaOp =
  | { readonly op: 'copy'; readonly offset: number; readonly size: number }
  | { readonly op: 'insert'; readonly data: Uint8Array | string };

/** Overrides that make an entry lie about itself. */
export interface EntryTweaks {
  /** Size written in the entry header instead of the real one. */
  readonly declaredSize?: number;
  /** Bytes written instead of the deflated data. */
  readonly zlib?: Uint8Array;
}

/** One entry of a pack to build. */
export type PackEntrySpec =
  | ({ readonly kind: 'object'; readonly type: ObjectType; readonly data: Uint8Array | string } & EntryTweaks)
  /** A delta against the entry at index `base` of the same list (or at a raw `distance` back). */
  | ({ readonly kind: 'ofs-delta'; readonly base: number; readonly delta: Uint8Array; readonly distance?: number } & EntryTweaks)
  | ({ readonly kind: 'ref-delta'; readonly base: Oid; readonly delta: Uint8Array } & EntryTweaks)
  /** Bytes placed verbatim where an entry would be. */
  | { readonly kind: 'raw'; readonly bytes: Uint8Array };

/** Options of encodePack. */
export interface EncodePackOptions {
  readonly version?: 2 | 3;
  /** Object count written in the header instead of the number of entries. */
  readonly objectCount?: number;
  /** The trailer: the real checksum (default), none, or these bytes. */
  readonly trailer?: 'valid' | 'none' | Uint8Array;
}

const bytesOf = (d: Uint8Array | string): Buffer => (typeof d === 'string' ? Buffer.from(d, 'utf8') : Buffer.from(d));

function writeVarint(out: number[], value: number): void {
  let v = value;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
}

/** Encodes a delta: base size, result size, then the instructions (sizes as stated, unchecked). */
export function encodeDelta(baseSize: number, resultSize: number, ops: readonly DeltaOp[]): Buffer {
  const out: number[] = [];
  writeVarint(out, baseSize);
  writeVarint(out, resultSize);
  for (const op of ops) {
    if (op.op === 'insert') {
      const data = bytesOf(op.data);
      for (let at = 0; at < data.length; at += 127) {
        const piece = data.subarray(at, at + 127);
        out.push(piece.length, ...piece);
      }
      continue;
    }
    let cmd = 0x80;
    const args: number[] = [];
    for (let b = 0; b < 4; b++) {
      const byte = Math.floor(op.offset / 2 ** (8 * b)) & 0xff;
      if (byte) {
        cmd |= 1 << b;
        args.push(byte);
      }
    }
    const size = op.size === 0x10000 ? 0 : op.size;
    for (let b = 0; b < 3; b++) {
      const byte = (size >> (8 * b)) & 0xff;
      if (byte) {
        cmd |= 0x10 << b;
        args.push(byte);
      }
    }
    out.push(cmd, ...args);
  }
  return Buffer.from(out);
}

/** The id of an object (the same as hashObject, kept here so builders need nothing else). */
function idOf(type: ObjectType, data: Uint8Array): Buffer {
  return createHash('sha1').update(`${type} ${data.length}\0`, 'latin1').update(data).digest();
}

/** Encodes a whole pack from `entries`. */
export function encodePack(entries: readonly PackEntrySpec[], opts: EncodePackOptions = {}): Buffer {
  const parts: Buffer[] = [encodePackHeader(opts.objectCount ?? entries.length, opts.version ?? 2)];
  const offsets: number[] = [];
  let offset = PACK_HEADER_BYTES;
  for (const e of entries) {
    offsets.push(offset);
    let entry: Buffer;
    if (e.kind === 'raw') {
      entry = Buffer.from(e.bytes);
    } else {
      const payload = e.kind === 'object' ? bytesOf(e.data) : Buffer.from(e.delta);
      const typeNum = e.kind === 'object' ? TYPE_NUMBERS[e.type] : e.kind === 'ofs-delta' ? OBJ_OFS_DELTA : OBJ_REF_DELTA;
      const head = [encodeEntryHeader(typeNum, e.declaredSize ?? payload.length)];
      if (e.kind === 'ofs-delta') head.push(encodeOfsDistance(e.distance ?? offset - offsets[e.base]));
      if (e.kind === 'ref-delta') head.push(oidToBytes(e.base));
      entry = Buffer.concat([...head, e.zlib ? Buffer.from(e.zlib) : deflateSync(payload)]);
    }
    parts.push(entry);
    offset += entry.length;
  }
  const body = Buffer.concat(parts);
  const trailer = opts.trailer ?? 'valid';
  if (trailer === 'none') return body;
  const sum = trailer === 'valid' ? createHash('sha1').update(body).digest() : Buffer.from(trailer);
  return Buffer.concat([body, sum]);
}

/** The id an object entry of `encodePack` gets (for naming REF_DELTA bases in tests). */
export function objectId(type: ObjectType, data: Uint8Array | string): Oid {
  return idOf(type, bytesOf(data)).toString('hex') as Oid;
}

/** Replaces the trailer of `pack` with the checksum of what precedes it (after mutating a pack). */
export function fixTrailer(pack: Uint8Array): Buffer {
  const body = Buffer.from(pack.subarray(0, pack.length - OID_BYTES));
  return Buffer.concat([body, createHash('sha1').update(body).digest()]);
}
