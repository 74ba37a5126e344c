/**
 * Object ids. pushgate speaks SHA-1 repositories only (gitformat-pack(5): "object names are
 * 20-byte SHA-1"); SHA-256 repositories are refused with UNSUPPORTED_OBJECT_FORMAT upstream of here.
 */

/** A 40-character lowercase hex SHA-1 object id. */
export type Oid = string & { readonly __brand: 'Oid' };

/** The all-zero id git uses for "no object" in ref updates (creation's old, deletion's new). */
export const ZERO_OID = '0000000000000000000000000000000000000000' as Oid;

/** Length of a binary SHA-1 object id in bytes. */
export const OID_BYTES = 20;

const OID_RE = /^[0-9a-f]{40}$/;

/** True when `s` is a 40-character lowercase hex object id. */
export function isOid(s: string): s is Oid {
  return s.length === 40 && OID_RE.test(s);
}

/** Returns `s` as an Oid, or undefined when it is not one. */
export function parseOid(s: string): Oid | undefined {
  return isOid(s) ? s : undefined;
}

/** Hex Oid of 20 raw bytes at `offset` in `buf`. */
export function oidFromBytes(buf: Uint8Array, offset = 0): Oid {
  return Buffer.from(buf.buffer, buf.byteOffset + offset, OID_BYTES).toString('hex') as Oid;
}

/** The 20 raw bytes of an Oid. */
export function oidToBytes(oid: Oid): Buffer {
  return Buffer.from(oid, 'hex');
}
