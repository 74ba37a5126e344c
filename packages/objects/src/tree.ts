/**
 * Tree objects (gitformat-pack(5) names the types; the layout is git's tree-walk.c
 * decode_tree_entry): a sequence of entries
 *
 *   <mode in octal ASCII, no leading zeros by convention> SP <name bytes> NUL <20-byte object id>
 *
 * sorted by name, where a directory's name compares as if it ended in `/`. `RawTree` keeps a
 * tree as offsets into its bytes so diffs compare names and ids without decoding them;
 * `parseTree` gives decoded entries for everyone else.
 */
import { OID_BYTES, type Oid } from '@pushgate/core';
import { ObjectError } from './errors';
import { decodeName } from './names';

/** What a tree entry is, from its mode as git canonicalises it (cache.h canon_mode). */
export type EntryKind = 'regular' | 'executable' | 'symlink' | 'submodule' | 'tree';

/** The file-type bits of a mode. */
export const S_IFMT = 0o170000;
/** A directory (a tree entry). */
export const S_IFDIR = 0o040000;
/** A regular file. */
export const S_IFREG = 0o100000;
/** A symbolic link. */
export const S_IFLNK = 0o120000;
/** A gitlink (a submodule's commit). */
export const S_IFGITLINK = 0o160000;

/** The kind of a raw mode, as git reads it (any mode that is not a file, link or tree is a gitlink). */
export function entryKind(mode: number): EntryKind {
  switch (mode & S_IFMT) {
    case S_IFREG:
      return mode & 0o100 ? 'executable' : 'regular';
    case S_IFLNK:
      return 'symlink';
    case S_IFDIR:
      return 'tree';
    default:
      return 'submodule';
  }
}

/** The canonical mode of a kind, as git writes it. */
export function kindMode(kind: EntryKind): number {
  switch (kind) {
    case 'regular':
      return 0o100644;
    case 'executable':
      return 0o100755;
    case 'symlink':
      return S_IFLNK;
    case 'tree':
      return S_IFDIR;
    case 'submodule':
      return S_IFGITLINK;
  }
}

/** One decoded tree entry. `name` uses the escaping of names.ts for bytes that are not UTF-8. */
export interface TreeEntry {
  /** The mode as stored (e.g. 0o100644, 0o40000). */
  readonly mode: number;
  readonly kind: EntryKind;
  readonly name: string;
  readonly oid: Oid;
}

/** The id length of SHA-256 repositories, recognised only to refuse them clearly. */
const SHA256_BYTES = 32;

/**
 * A tree held as its bytes plus entry offsets: cheap to compare, decodes names on demand. A
 * change set parses tens of thousands of trees of ~100 entries, so per-entry work is plain byte
 * loops (names are short: a native call per compare costs more than the bytes) and each tree
 * keeps one offsets array.
 */
export class RawTree {
  readonly data: Buffer;
  readonly count: number;
  /** Per entry: name start, name end (its NUL), mode. */
  private readonly ents: Uint32Array;
  /** Whether some entry's mode text starts with `0` (fsck: zeroPaddedFilemode). */
  readonly zeroPaddedMode: boolean;

  private constructor(data: Buffer, count: number, ents: Uint32Array, zeroPadded: boolean) {
    this.data = data;
    this.count = count;
    this.ents = ents;
    this.zeroPaddedMode = zeroPadded;
  }

  /** Parses tree bytes; throws ObjectError OBJ_BAD_TREE (or OBJ_SHA256_ID) when they are not a tree. */
  static parse(data: Uint8Array, oid?: Oid): RawTree {
    const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const parsed = scan(buf, OID_BYTES);
    if ('reason' in parsed) {
      if (!('reason' in scan(buf, SHA256_BYTES))) {
        throw new ObjectError('OBJ_SHA256_ID', 'tree holds 32-byte (SHA-256) object ids; only SHA-1 repositories are supported', {
          oid,
          expected: 'sha1',
          actual: 'sha256',
        });
      }
      // git's decoder refuses an empty name as an unparsable tree (badTree); the specific id is clearer.
      const code = parsed.reason === 'empty name' ? 'OBJ_EMPTY_NAME' : 'OBJ_BAD_TREE';
      throw new ObjectError(code, `tree cannot be parsed: ${parsed.reason} in the entry at offset ${parsed.offset}`, {
        oid,
        offset: parsed.offset,
      });
    }
    return new RawTree(buf, parsed.count, parsed.ents, parsed.zeroPadded);
  }

  /** The raw mode of entry `i`. */
  mode(i: number): number {
    return this.ents[i * 3 + 2];
  }

  /** True when entry `i` is a tree (a directory). */
  isTree(i: number): boolean {
    return (this.ents[i * 3 + 2] & S_IFMT) === S_IFDIR;
  }

  /** The decoded name of entry `i`. */
  name(i: number): string {
    return decodeName(this.data, this.ents[i * 3], this.ents[i * 3 + 1]);
  }

  /** The name bytes of entry `i` (a view, not a copy). */
  nameBytes(i: number): Buffer {
    return this.data.subarray(this.ents[i * 3], this.ents[i * 3 + 1]);
  }

  /** Byte offset of entry `i`'s name in `data`. */
  nameOffset(i: number): number {
    return this.ents[i * 3];
  }

  /** Byte length of entry `i`'s name. */
  nameLength(i: number): number {
    return this.ents[i * 3 + 1] - this.ents[i * 3];
  }

  /** The object id of entry `i`. */
  oid(i: number): Oid {
    const at = this.ents[i * 3 + 1] + 1;
    // Straight from the Buffer: cheaper than a view per id (trees hand out many ids).
    return this.data.toString('hex', at, at + OID_BYTES) as Oid;
  }

  /** Byte offset of entry `i`'s 20-byte id in `data`. */
  oidOffset(i: number): number {
    return this.ents[i * 3 + 1] + 1;
  }

  /** True when entry `i` of this tree and entry `j` of `other` have the same object id. */
  sameOid(i: number, other: RawTree, j: number): boolean {
    const a = this.data;
    const b = other.data;
    const x = this.ents[i * 3 + 1] + 1;
    const y = other.ents[j * 3 + 1] + 1;
    for (let k = 0; k < OID_BYTES; k++) if (a[x + k] !== b[y + k]) return false;
    return true;
  }

  /**
   * True when entry `i` of this tree and entry `j` of `other` are the same bytes: same mode as
   * written, same name, same id. Such entries are unchanged, which is what most entries of two
   * versions of a tree are.
   */
  sameEntry(i: number, other: RawTree, j: number): boolean {
    const a = this.data;
    const b = other.data;
    const ae = this.ents[i * 3 + 1] + 1 + OID_BYTES;
    const be = other.ents[j * 3 + 1] + 1 + OID_BYTES;
    const as = i === 0 ? 0 : this.ents[i * 3 - 2] + 1 + OID_BYTES;
    const bs = j === 0 ? 0 : other.ents[j * 3 - 2] + 1 + OID_BYTES;
    if (ae - as !== be - bs) return false;
    // From the end: the id differs first when anything does.
    for (let k = ae - as - 1; k >= 0; k--) if (a[as + k] !== b[bs + k]) return false;
    return true;
  }

  /**
   * How many leading entries this tree and `other` share byte for byte (same mode text, name
   * and id, at the same positions): two versions of a tree usually differ in a few entries, and
   * comparing the bytes in 4-byte words finds where much faster than entry by entry.
   */
  sameHead(other: RawTree): number {
    const at = firstDifference(this.data, other.data);
    // Entries that end by `at` are the same bytes, so they parse alike in both trees.
    let lo = 0;
    let hi = Math.min(this.count, other.count);
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ents[mid * 3 + 1] + 1 + OID_BYTES <= at) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * How many trailing entries (after the first `head`, see sameHead) this tree and `other` share
   * byte for byte. Entries are matched by where they start counted from the end, which both
   * trees' own parses give: bytes alone, read backwards, cannot tell a NUL in an id from a name's end.
   */
  sameTail(other: RawTree, head: number): number {
    const a = this.data;
    const b = other.data;
    const shared = sameBytesAtEnd(a, b);
    let n = 0;
    const max = Math.min(this.count, other.count) - head;
    while (n < max) {
      const i = this.count - 1 - n;
      const j = other.count - 1 - n;
      const fromEndA = a.length - (i === 0 ? 0 : this.ents[i * 3 - 2] + 1 + OID_BYTES);
      const fromEndB = b.length - (j === 0 ? 0 : other.ents[j * 3 - 2] + 1 + OID_BYTES);
      if (fromEndA !== fromEndB || fromEndA > shared) break;
      n++;
    }
    return n;
  }

  /**
   * Orders entry `i` of this tree against entry `j` of `other` in tree order (git's
   * base_name_compare: a directory compares as its name plus `/`, so a file and a directory of
   * the same name are different entries). Negative, zero or positive.
   */
  compareEntry(i: number, other: RawTree, j: number): number {
    const a = this.data;
    const b = other.data;
    const as = this.ents[i * 3];
    const al = this.ents[i * 3 + 1] - as;
    const bs = other.ents[j * 3];
    const bl = other.ents[j * 3 + 1] - bs;
    const len = al < bl ? al : bl;
    for (let k = 0; k < len; k++) {
      const d = a[as + k] - b[bs + k];
      if (d !== 0) return d;
    }
    const c1 = al > len ? a[as + len] : this.isTree(i) ? 0x2f : 0;
    const c2 = bl > len ? b[bs + len] : other.isTree(j) ? 0x2f : 0;
    return c1 - c2;
  }

  /** Decoded entries. */
  entries(): TreeEntry[] {
    const out: TreeEntry[] = new Array(this.count);
    for (let i = 0; i < this.count; i++) {
      const mode = this.mode(i);
      out[i] = { mode, kind: entryKind(mode), name: this.name(i), oid: this.oid(i) };
    }
    return out;
  }
}

/** The first offset where `a` and `b` differ (the shorter length when one is a prefix of the other). */
function firstDifference(a: Buffer, b: Buffer): number {
  const len = Math.min(a.length, b.length);
  const da = new DataView(a.buffer, a.byteOffset, len);
  const db = new DataView(b.buffer, b.byteOffset, len);
  let i = 0;
  while (i + 4 <= len && da.getInt32(i) === db.getInt32(i)) i += 4;
  while (i < len && a[i] === b[i]) i++;
  return i;
}

/** How many bytes `a` and `b` have in common at their ends. */
function sameBytesAtEnd(a: Buffer, b: Buffer): number {
  const len = Math.min(a.length, b.length);
  const da = new DataView(a.buffer, a.byteOffset + a.length - len, len);
  const db = new DataView(b.buffer, b.byteOffset + b.length - len, len);
  let n = 0;
  while (n + 4 <= len && da.getInt32(len - n - 4) === db.getInt32(len - n - 4)) n += 4;
  while (n < len && a[a.length - 1 - n] === b[b.length - 1 - n]) n++;
  return n;
}

interface Scanned {
  count: number;
  ents: Uint32Array;
  zeroPadded: boolean;
}

/** Why a tree could not be scanned. */
interface ScanFailure {
  reason: string;
  offset: number;
}

/**
 * Offsets of parsed trees are carved from shared slabs of 64K entries: an ArrayBuffer of its own
 * per tree costs ~3 us to allocate, as much as parsing a tree of 100 entries. A kept tree keeps
 * its slab; trees are parsed and dropped in sequence, so slabs are released together.
 */
const SLAB_ENTRIES = 64 * 1024;
let slab = new Uint32Array(SLAB_ENTRIES);
let slabUsed = 0;

/** Scans entries with `idBytes`-byte ids. */
function scan(buf: Buffer, idBytes: number): Scanned | ScanFailure {
  // Every entry takes at least "0 x\0" + id bytes: room for that many is taken from the slab
  // (or, for a huge tree, allocated), and what was used is kept.
  const room = 3 * (Math.floor(buf.length / (idBytes + 4)) + 1);
  if (room > SLAB_ENTRIES / 4) return scanInto(buf, idBytes, new Uint32Array(room), false);
  if (slabUsed + room > SLAB_ENTRIES) {
    slab = new Uint32Array(SLAB_ENTRIES);
    slabUsed = 0;
  }
  return scanInto(buf, idBytes, slab.subarray(slabUsed, slabUsed + room), true);
}

function scanInto(buf: Buffer, idBytes: number, room: Uint32Array, fromSlab: boolean): Scanned | ScanFailure {
  const ents = room;
  let count = 0;
  let zeroPadded = false;
  let p = 0;
  const n = buf.length;
  while (p < n) {
    const entryAt = p;
    if (buf[p] === 0x20) return { reason: 'empty mode', offset: entryAt };
    if (buf[p] === 0x30) zeroPadded = true;
    let mode = 0;
    for (;;) {
      if (p >= n) return { reason: 'end of data inside the mode', offset: entryAt };
      const c = buf[p++];
      if (c === 0x20) break;
      if (c < 0x30 || c > 0x37) return { reason: 'malformed mode', offset: entryAt };
      mode = mode * 8 + (c - 0x30);
      if (mode > 0xffffffff) return { reason: 'mode too large', offset: entryAt };
    }
    const start = p;
    let nul = p;
    while (nul < n && buf[nul] !== 0) nul++;
    if (nul === n) return { reason: 'no NUL after the name', offset: entryAt };
    if (nul === start) return { reason: 'empty name', offset: entryAt };
    if (nul + 1 + idBytes > n) return { reason: 'end of data inside the object id', offset: entryAt };
    ents[3 * count] = start;
    ents[3 * count + 1] = nul;
    ents[3 * count + 2] = mode;
    count++;
    p = nul + 1 + idBytes;
  }
  if (fromSlab) slabUsed += 3 * count;
  return { count, ents: ents.subarray(0, 3 * count), zeroPadded };
}

/** Parses a tree into decoded entries (see RawTree for the cheap form). */
export function parseTree(data: Uint8Array, oid?: Oid): TreeEntry[] {
  return RawTree.parse(data, oid).entries();
}

/** The id of the empty tree, which git treats as existing in every repository. */
export const EMPTY_TREE_OID = '4b825dc642cb6eb9a060e54bf8d69288fbee4904' as Oid;
