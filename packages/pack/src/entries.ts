/**
 * Per-entry metadata of a pack being indexed, in typed arrays (about 43 bytes an entry) so a
 * pack of millions of objects costs tens of megabytes, not millions of JS objects.
 */
import { OID_BYTES } from '@pushgate/core';

/** What the scanner learns about every entry, and the resolver fills in (types, ids). */
export class EntryTable {
  /** Entries scanned so far. */
  length = 0;
  /** Pack offset of each entry; `offsets[length]` is where the last entry ends. */
  readonly offsets: Float64Array;
  /** Bytes of each entry's header (type/size, plus the base reference of a delta). */
  readonly headerBytes: Uint8Array;
  /** Pack type number of each entry: 1-4 objects, 6 OBJ_OFS_DELTA, 7 OBJ_REF_DELTA. */
  readonly kinds: Uint8Array;
  /** Object type number (1-4) once known: at scan time for objects, when resolved for deltas. */
  readonly types: Uint8Array;
  /** Inflated size of each entry's data (the delta itself, for deltas). */
  readonly sizes: Uint32Array;
  /** CRC32 of each entry's raw bytes, header included (what a v2 .idx records). */
  readonly crcs: Uint32Array;
  /** Object id of each entry once known, 20 bytes each. */
  readonly oids: Buffer;
  /** For OBJ_OFS_DELTA entries, the index of the base entry; -1 otherwise. */
  readonly ofsBases: Int32Array;
  /** OBJ_REF_DELTA entries in pack order, and their base ids (20 bytes each). */
  refEntries: Int32Array;
  refBaseOids: Buffer;
  refCount = 0;

  constructor(readonly capacity: number) {
    this.offsets = new Float64Array(capacity + 1);
    this.headerBytes = new Uint8Array(capacity);
    this.kinds = new Uint8Array(capacity);
    this.types = new Uint8Array(capacity);
    this.sizes = new Uint32Array(capacity);
    this.crcs = new Uint32Array(capacity);
    this.oids = Buffer.alloc(capacity * OID_BYTES);
    this.ofsBases = new Int32Array(capacity).fill(-1);
    this.refEntries = new Int32Array(16);
    this.refBaseOids = Buffer.alloc(16 * OID_BYTES);
  }

  /** Records that entry `entry` is an OBJ_REF_DELTA against the id at `oid[oidAt..oidAt+20)`. */
  addRefDelta(entry: number, oid: Uint8Array, oidAt: number): void {
    if (this.refCount === this.refEntries.length) {
      const entries = new Int32Array(this.refEntries.length * 2);
      entries.set(this.refEntries);
      this.refEntries = entries;
      const oids = Buffer.alloc(this.refBaseOids.length * 2);
      this.refBaseOids.copy(oids);
      this.refBaseOids = oids;
    }
    this.refEntries[this.refCount] = entry;
    this.refBaseOids.set(oid.subarray(oidAt, oidAt + OID_BYTES), this.refCount * OID_BYTES);
    this.refCount++;
  }

  /** Index of the entry that starts exactly at `offset` among the first `length`, or -1. */
  entryAt(offset: number): number {
    let lo = 0;
    let hi = this.length;
    const offsets = this.offsets;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const at = offsets[mid];
      if (at === offset) return mid;
      if (at < offset) lo = mid + 1;
      else hi = mid;
    }
    return -1;
  }

  /** Where the data (zlib stream) of entry `i` starts. */
  dataStart(i: number): number {
    return this.offsets[i] + this.headerBytes[i];
  }
}
