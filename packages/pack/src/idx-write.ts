/**
 * Writes a version 2 pack index (gitformat-pack(5), "Version 2 pack-*.idx files support packs
 * larger than 4 GiB"; layout in idx.ts): magic and version, the 256-entry fan-out table, the
 * sorted object names, their CRC32s, their 4-byte offsets (MSB set: an index into the 8-byte
 * table, used — as git does — exactly for offsets >= 2^31), the 8-byte offsets, the pack's
 * checksum and the SHA-1 of all of it.
 *
 * Duplicate ids (git tolerates the same object twice in a pack) are kept, ordered by offset, as
 * git's non-strict `index-pack` keeps them: the index then lists every entry of the pack, so its
 * object count equals the pack header's, which readers (ours, git's, isomorphic-git's) check.
 */
import { createHash, randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { OID_BYTES } from '@pushgate/core';

/** The entries of a pack to index, in any order. */
export interface PackIndexEntries {
  readonly count: number;
  /** 20 bytes per entry. */
  readonly oids: Uint8Array;
  readonly offsets: ArrayLike<number>;
  readonly crcs: ArrayLike<number>;
}

/** What writing an index produced. */
export interface WrittenPackIndex {
  /** SHA-1 of the index (its last 20 bytes), hex. */
  readonly checksum: string;
  readonly bytes: number;
  /** Entries whose id an earlier entry already had. */
  readonly duplicates: number;
}

const IDX_MAGIC = Buffer.from([0xff, 0x74, 0x4f, 0x63]);
/** Offsets from 2^31 up go to the 8-byte table (git's need_large_offset: `offset >> 31`). */
const LARGE_OFFSET = 2 ** 31;
/** Bytes buffered before each write. */
const WRITE_CHUNK = 1 << 20;

/** Buffers output in large chunks, hashing it as it goes. */
class IndexOutput {
  private readonly buf = Buffer.allocUnsafe(WRITE_CHUNK);
  private used = 0;
  private readonly hash = createHash('sha1');
  bytes = 0;

  constructor(private readonly write: (b: Buffer) => Promise<void>) {}

  /** True when `n` more bytes do not fit before a flush. */
  full(n: number): boolean {
    return this.used + n > this.buf.length;
  }

  /** Appends a 32-bit big-endian number (the caller checked `full(4)`). */
  u32(v: number): void {
    this.buf.writeUInt32BE(v >>> 0, this.used);
    this.used += 4;
    this.bytes += 4;
  }

  /** Appends `src[from, to)` (the caller checked `full`). */
  copy(src: Uint8Array, from: number, to: number): void {
    this.buf.set(src.subarray(from, to), this.used);
    this.used += to - from;
    this.bytes += to - from;
  }

  /** Appends a 64-bit big-endian number. */
  u64(v: number): void {
    this.buf.writeBigUInt64BE(BigInt(v), this.used);
    this.used += 8;
    this.bytes += 8;
  }

  async flush(): Promise<void> {
    if (this.used === 0) return;
    const chunk = this.buf.subarray(0, this.used);
    this.hash.update(chunk);
    await this.write(chunk);
    this.used = 0;
  }

  /** Flushes, then appends the SHA-1 of everything written. */
  async finish(): Promise<Buffer> {
    await this.flush();
    const sum = this.hash.digest();
    await this.write(sum);
    this.bytes += sum.length;
    return sum;
  }
}

/** Buckets of up to this many ids are insertion-sorted; larger ones (crafted ids) use a real sort. */
const SMALL_BUCKET = 24;
/** Sorting yields to the event loop this often. */
const YIELD_EVERY_MS = 10;

/**
 * The order of `count` 20-byte ids in `ids` (then of `tiebreak`, for equal ids): a counting sort
 * on the first two bytes, then each bucket (a handful of ids for real object ids) on the rest.
 * Linear in practice and cooperative: it yields every ~10 ms, where one comparison sort of a
 * million ids would block the event loop for half a second.
 */
export async function sortIds(ids: Uint8Array, count: number, tiebreak: ArrayLike<number>): Promise<Uint32Array> {
  const buf = Buffer.from(ids.buffer, ids.byteOffset, ids.byteLength);
  const starts = new Uint32Array(65537);
  for (let i = 0; i < count; i++) starts[((buf[i * OID_BYTES] << 8) | buf[i * OID_BYTES + 1]) + 1]++;
  for (let b = 0; b < 65536; b++) starts[b + 1] += starts[b];
  const fill = starts.slice(0, 65536);
  const order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[fill[(buf[i * OID_BYTES] << 8) | buf[i * OID_BYTES + 1]]++] = i;

  // Bytes 2-5 as a number decide almost every comparison within a bucket.
  const next = new Uint32Array(count);
  for (let i = 0; i < count; i++) next[i] = buf.readUInt32BE(i * OID_BYTES + 2);
  // Compares ids a and b from byte 2 on, then their tie-breaks. (buf.compare(target, tStart, tEnd,
  // sStart, sEnd) orders the source, here a, against the target, b.)
  const cmp = (a: number, b: number): number =>
    next[a] - next[b] ||
    buf.compare(buf, b * OID_BYTES + 6, (b + 1) * OID_BYTES, a * OID_BYTES + 6, (a + 1) * OID_BYTES) ||
    tiebreak[a] - tiebreak[b];
  let lastYield = performance.now();
  for (let b = 0; b < 65536; b++) {
    const lo = starts[b];
    const hi = starts[b + 1];
    if (hi - lo > SMALL_BUCKET) {
      order.subarray(lo, hi).sort(cmp);
    } else {
      for (let k = lo + 1; k < hi; k++) {
        const v = order[k];
        let j = k - 1;
        while (j >= lo && cmp(order[j], v) > 0) {
          order[j + 1] = order[j];
          j--;
        }
        order[j + 1] = v;
      }
    }
    if ((b & 255) === 255 && performance.now() - lastYield >= YIELD_EVERY_MS) {
      await new Promise(setImmediate);
      lastYield = performance.now();
    }
  }
  return order;
}

/**
 * Writes the v2 index of a pack whose trailer is `packChecksum` to `path` (through a temporary
 * file renamed into place, so a reader never sees half an index).
 */
export async function writePackIndex(entries: PackIndexEntries, packChecksum: Uint8Array, path: string): Promise<WrittenPackIndex> {
  const { count, oids, offsets, crcs } = entries;
  const ids = Buffer.from(oids.buffer, oids.byteOffset, oids.byteLength);
  const order = await sortIds(oids, count, offsets);
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const fh = await open(tmp, 'wx');
  try {
    const out = new IndexOutput(async (b) => {
      await fh.write(b);
    });
    out.copy(IDX_MAGIC, 0, 4);
    out.u32(2);

    const fanout = new Uint32Array(256);
    for (let i = 0; i < count; i++) fanout[ids[i * OID_BYTES]]++;
    let total = 0;
    for (let b = 0; b < 256; b++) {
      total += fanout[b];
      out.u32(total);
    }

    let duplicates = 0;
    for (let k = 0; k < count; k++) {
      if (out.full(OID_BYTES)) await out.flush();
      const i = order[k];
      out.copy(ids, i * OID_BYTES, (i + 1) * OID_BYTES);
      if (k > 0) {
        const p = order[k - 1];
        if (ids.compare(ids, p * OID_BYTES, (p + 1) * OID_BYTES, i * OID_BYTES, (i + 1) * OID_BYTES) === 0) duplicates++;
      }
    }
    for (let k = 0; k < count; k++) {
      if (out.full(4)) await out.flush();
      out.u32(crcs[order[k]]);
    }
    let large = 0;
    for (let k = 0; k < count; k++) {
      if (out.full(4)) await out.flush();
      const off = offsets[order[k]];
      out.u32(off >= LARGE_OFFSET ? 0x80000000 | large++ : off);
    }
    for (let k = 0; k < count; k++) {
      const off = offsets[order[k]];
      if (off < LARGE_OFFSET) continue;
      if (out.full(8)) await out.flush();
      out.u64(off);
    }
    if (out.full(OID_BYTES)) await out.flush();
    out.copy(packChecksum, 0, OID_BYTES);
    const sum = await out.finish();
    await fh.close();
    await rename(tmp, path);
    return { checksum: sum.toString('hex'), bytes: out.bytes, duplicates };
  } catch (e) {
    await fh.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw e;
  }
}
