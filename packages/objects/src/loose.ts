/**
 * Loose objects (`objects/xx/<38 hex>`): zlib of `<type> SP <decimal size> NUL <content>`
 * (gitformat-loose(5)). Inflated with a bound: no more than the size limit plus the header is
 * ever produced, whatever the compressed bytes claim, and the header's size must match exactly.
 */
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { constants as zlib, inflateSync } from 'node:zlib';
import type { Oid } from '@pushgate/core';
import type { ObjectType, RawObject } from '@pushgate/pack';
import { StoreError } from './errors';
import type { ObjectHeader } from './store';

/** The longest header: "commit" + SP + 20 digits + NUL fits in 32 bytes. */
const MAX_HEADER = 32;

const TYPES: ReadonlySet<string> = new Set(['commit', 'tree', 'blob', 'tag']);

function parseHeader(buf: Buffer, path: string, oid: Oid): { header: ObjectHeader; contentStart: number } {
  const nul = buf.indexOf(0, 0);
  if (nul < 0 || nul > MAX_HEADER) throw new StoreError('OBJ_STORE_CORRUPT', `loose object ${oid} has no header`, { path, oid });
  const text = buf.toString('latin1', 0, nul);
  const m = /^(commit|tree|blob|tag) (0|[1-9][0-9]{0,15})$/.exec(text);
  if (!m || !TYPES.has(m[1])) {
    throw new StoreError('OBJ_STORE_CORRUPT', `loose object ${oid} has a malformed header ${JSON.stringify(text)}`, { path, oid });
  }
  return { header: { type: m[1] as ObjectType, size: Number(m[2]) }, contentStart: nul + 1 };
}

/** Reads and checks the loose object at `path`; `maxBytes` bounds its content. */
export function readLoose(path: string, oid: Oid, maxBytes: number): RawObject {
  const compressed = readFileSync(path);
  let inflated: Buffer;
  try {
    inflated = inflateSync(compressed, { maxOutputLength: maxBytes + MAX_HEADER });
  } catch (e) {
    const tooLarge = (e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE' || e instanceof RangeError;
    throw new StoreError(
      'OBJ_STORE_CORRUPT',
      tooLarge ? `loose object ${oid} inflates to more than ${maxBytes} bytes` : `loose object ${oid} is not valid zlib: ${(e as Error).message}`,
      { path, oid },
      e,
    );
  }
  const { header, contentStart } = parseHeader(inflated, path, oid);
  const data = inflated.subarray(contentStart);
  if (data.length !== header.size) {
    throw new StoreError('OBJ_STORE_CORRUPT', `loose object ${oid} holds ${data.length} bytes, its header says ${header.size}`, { path, oid });
  }
  return { type: header.type, data };
}

/** Reads only the header of the loose object at `path`. */
export function readLooseHeader(path: string, oid: Oid): ObjectHeader {
  const fd = openSync(path, 'r');
  try {
    const input = Buffer.alloc(256);
    const n = readSync(fd, input, 0, input.length, 0);
    let out: Buffer;
    try {
      out = inflateSync(input.subarray(0, n), { finishFlush: zlib.Z_SYNC_FLUSH, maxOutputLength: 1 << 20 });
    } catch (e) {
      throw new StoreError('OBJ_STORE_CORRUPT', `loose object ${oid} is not valid zlib: ${(e as Error).message}`, { path, oid }, e);
    }
    return parseHeader(out, path, oid).header;
  } finally {
    closeSync(fd);
  }
}
