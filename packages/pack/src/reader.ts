/**
 * Random access to the objects of a pack through its index (gitformat-pack(5): entries as in
 * format.ts, deltas as in delta.ts, the v2 index as in idx.ts): the read side used by the object
 * store for mirror packs and for pushed packs once they are indexed. Reads are synchronous (the
 * files are local and usually in the page cache); callers that loop over many objects yield to
 * the event loop themselves.
 *
 * A change set reads tens of thousands of objects, most of them deltas a few hundred bytes long,
 * so what each read costs beyond inflating and applying its delta decides how fast a push is
 * inspected. Hence:
 *
 * - pack bytes are read in 64 KiB windows kept in a byte-budgeted LRU (as git maps packs in
 *   windows, core.packedGitWindowSize): walking a delta chain costs memory reads, not a `pread`
 *   per entry header and another per entry's data;
 * - index lookups compare numbers and allocate nothing (idx.ts);
 * - resolved objects, delta bases and results alike, are kept by offset in a byte-budgeted arena
 *   (git keeps bases, core.deltaBaseCacheLimit), so reading the versions of a file or tree one
 *   after another applies one delta each, whichever way git pointed the deltas;
 * - every entry's resolved type is remembered (one byte per entry), so `header` tells a delta's
 *   type and size without resolving it, and without walking its chain a second time;
 * - delta instructions are inflated into one reused buffer: they live only until applied.
 */
import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { InternalError, OID_BYTES, oidFromBytes, type Oid } from '@pushgate/core';
import { applyDelta, readDeltaSizes } from './delta';
import { PackError } from './errors';
import { OBJ_OFS_DELTA, PACK_TRAILER_BYTES, TYPE_NAMES, parsePackHeader, readEntryHeader, type EntryHeaderFields, type ObjectType } from './format';
import { PackIndex } from './idx';
import { Inflater } from './inflater';

/** An object's type and content. */
export interface RawObject {
  readonly type: ObjectType;
  readonly data: Buffer;
}

/** An object's type and inflated size, known without materialising its content. */
export interface ObjectHeader {
  readonly type: ObjectType;
  readonly size: number;
}

/** Options of a PackReader. */
export interface PackReaderOptions {
  /** Largest object (or delta result) to materialise. */
  readonly maxObjectBytes: number;
  /** Longest delta chain to follow. */
  readonly maxDeltaDepth: number;
  /** Resolves REF_DELTA bases that are not in this pack (thin packs). */
  readonly external?: (oid: Oid) => RawObject | undefined;
  /** Type and size of a REF_DELTA base outside this pack; without it, `external` reads the base. */
  readonly externalHeader?: (oid: Oid) => ObjectHeader | undefined;
  /**
   * Memory shared with other readers (an object store's packs): windows, resolved objects and
   * scratch under one budget. Without it the reader has its own, sized by the two options below.
   */
  readonly cache?: PackCache;
  /** Bytes of resolved objects to keep (delta bases and results, by offset); 0 disables. Default 16 MiB. */
  readonly cacheBytes?: number;
  /** Bytes of the pack file to keep in memory as 64 KiB windows (at least one window). Default 16 MiB. */
  readonly windowBytes?: number;
}

/** Budgets of a PackCache. */
export interface PackCacheOptions {
  /** Bytes of pack files kept in memory as 64 KiB windows (at least one window). Default 16 MiB. */
  readonly windowBytes?: number;
  /** Bytes of resolved objects kept (delta bases and results); 0 disables. Default 16 MiB. */
  readonly objectBytes?: number;
}

/** Longest entry header: 1 + ceil(53 / 7) size bytes + 20-byte base name (or a 10-byte offset). */
const MAX_ENTRY_HEADER = 32;

/** Bytes of one window of the pack file. */
const WINDOW_BYTES = 64 * 1024;

/** Default budgets (see PackReaderOptions). */
const DEFAULT_CACHE_BYTES = 16 * 1024 * 1024;
const DEFAULT_WINDOW_BYTES = 16 * 1024 * 1024;

/**
 * Keys of windows (reader × 2^32 + window number) and of objects (reader × 2^40 + offset) stay
 * exact doubles (below 2^53) for packs under 256 TiB and 1 TiB, and up to this many readers.
 */
const WINDOW_KEYS = 2 ** 32;
const OBJECT_KEYS = 2 ** 40;
const MAX_READERS = 4096;

/** The object arena starts with this much and doubles up to its budget. */
const MIN_ARENA_BYTES = 1024 * 1024;

/**
 * Compressed input enough to learn a delta's two sizes: they are at most 20 bytes of output, and
 * a deflate block header (the longest is a dynamic Huffman table) takes a few hundred bytes.
 */
const DELTA_SIZES_INPUT = 4096;

/** Delta instructions up to this size are inflated into the reader's reused buffer. */
const REUSED_DELTA_BYTES = 1024 * 1024;


/** Objects up to this size are carved from shared slabs (see `allocateResult`). */
const SLAB_OBJECT_BYTES = 16 * 1024;
const SLAB_BYTES = 64 * 1024;
let slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
let slabUsed = 0;

/**
 * A Buffer for an object handed to a caller. Small ones are carved from 64 KiB slabs shared by
 * every reader, as Node's own pool does with 8 KiB (Buffer.poolSize) for up to 4 KiB: an
 * ArrayBuffer of its own costs ~3 us to allocate, more than reading a typical tree, and a change
 * set reads tens of thousands. A kept object keeps its slab; objects are read and dropped in
 * sequence, so slabs are released together.
 */
function allocateResult(size: number): Buffer {
  if (size > SLAB_OBJECT_BYTES) return Buffer.allocUnsafe(size);
  if (slabUsed + size > SLAB_BYTES) {
    slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
    slabUsed = 0;
  }
  const out = slab.subarray(slabUsed, slabUsed + size);
  // Keep views 8-byte aligned, as Node's pool does.
  slabUsed += (size + 7) & ~7;
  return out;
}

/**
 * What PackReaders keep in memory, under byte budgets: 64 KiB windows of their pack files, the
 * objects they resolved, and scratch buffers. One cache may serve many readers (every pack of an
 * object store), so the budget holds however many packs there are; readers sharing a cache must
 * not read from inside one another (a pushed pack's thin bases come from another store's cache).
 */
export class PackCache {
  /** Windows by reader and number, each with when it was last used; the last one used, for a quick second look. */
  private readonly windows = new Map<number, Buffer>();
  private readonly windowUsed = new Map<number, number>();
  private windowClock = 0;
  private readonly windowLimit: number;
  private lastWindowKey = -1;
  private lastWindow: Buffer | undefined;
  /** Resolved objects by reader and offset. */
  readonly objects: ObjectArena;
  /** Reader numbers in use, and free ones (a number is reused only after the cache is cleared of it). */
  private readers = 0;
  private readonly freeReaders: number[] = [];
  /** Scratch of a read (reads are synchronous and never nest within one cache). */
  readonly inflater = new Inflater();
  /** Intermediate results of a chain being resolved, alternately (each is the next one's base). */
  readonly links: Buffer[] = [Buffer.allocUnsafeSlow(4096), Buffer.allocUnsafeSlow(4096)];
  /** Header bytes that cross a window boundary are copied here. */
  readonly headScratch = Buffer.alloc(MAX_ENTRY_HEADER);
  /** Compressed data that crosses a window boundary is copied here. */
  readonly spanScratch = Buffer.allocUnsafeSlow(WINDOW_BYTES);
  /** Inflated delta instructions (short-lived: applied right away). */
  deltaScratch = Buffer.allocUnsafeSlow(4096);
  /** The two varint sizes at the start of a delta. */
  readonly sizesScratch = Buffer.alloc(32);

  constructor(options: PackCacheOptions = {}) {
    this.windowLimit = Math.max(WINDOW_BYTES, options.windowBytes ?? DEFAULT_WINDOW_BYTES);
    this.objects = new ObjectArena(options.objectBytes ?? DEFAULT_CACHE_BYTES);
  }

  /** A number for a new reader (keys its windows and objects). */
  register(): number {
    const id = this.freeReaders.pop() ?? this.readers++;
    if (id >= MAX_READERS) throw new InternalError(`a pack cache serves at most ${MAX_READERS} open packs`);
    return id;
  }

  /** Forgets reader `id`: everything cached is dropped (simple, and readers close rarely: after a repack). */
  release(id: number): void {
    this.clear();
    this.freeReaders.push(id);
  }

  /** Drops every window and object (scratch stays). */
  clear(): void {
    this.windows.clear();
    this.windowUsed.clear();
    this.lastWindowKey = -1;
    this.lastWindow = undefined;
    this.objects.clear();
  }

  /** Drops everything and releases the zlib stream. */
  close(): void {
    this.clear();
    this.inflater.close();
  }

  /** Window `no` of reader `id`'s file (`fd`, `packBytes` long; the last window may be shorter). */
  window(id: number, fd: number, packBytes: number, no: number): Buffer {
    const key = id * WINDOW_KEYS + no;
    if (key === this.lastWindowKey) return this.lastWindow!;
    const win = this.windows.get(key) ?? this.load(key, fd, packBytes, no);
    this.windowUsed.set(key, ++this.windowClock);
    this.lastWindowKey = key;
    this.lastWindow = win;
    return win;
  }

  private load(key: number, fd: number, packBytes: number, no: number): Buffer {
    const start = no * WINDOW_BYTES;
    const len = Math.min(WINDOW_BYTES, packBytes - start);
    if (len <= 0) throw new PackError('PACK_TRUNCATED', `offset ${start} is past the end of the pack`, { offset: start });
    let reuse: Buffer | undefined;
    while ((this.windows.size + 1) * WINDOW_BYTES > this.windowLimit) {
      // The least recently used goes (a scan of at most a few hundred stamps, per read of 64 KiB).
      let oldest = -1;
      let stamp = Infinity;
      for (const [k, used] of this.windowUsed) {
        if (used < stamp) {
          stamp = used;
          oldest = k;
        }
      }
      const old = this.windows.get(oldest)!;
      this.windows.delete(oldest);
      this.windowUsed.delete(oldest);
      if (old.length === WINDOW_BYTES) reuse = old;
    }
    // The reused buffer may be the last window used.
    this.lastWindowKey = -1;
    this.lastWindow = undefined;
    const win = len === WINDOW_BYTES ? (reuse ?? Buffer.allocUnsafeSlow(WINDOW_BYTES)) : Buffer.allocUnsafeSlow(len);
    readFully(fd, win, len, start);
    this.windows.set(key, win);
    return win;
  }

  /** Link buffer `slot` with room for `size` bytes (a Buffer of its own past REUSED_DELTA_BYTES). */
  link(slot: number, size: number): Buffer {
    if (size >= REUSED_DELTA_BYTES) return Buffer.allocUnsafe(size);
    if (this.links[slot].length < size) this.links[slot] = Buffer.allocUnsafeSlow(Math.max(size, this.links[slot].length * 2));
    return this.links[slot];
  }

  /** A buffer for `size` bytes of delta instructions (plus the overflow byte). */
  deltaBuffer(size: number): Buffer {
    if (size >= REUSED_DELTA_BYTES) return Buffer.allocUnsafe(size + 1);
    if (this.deltaScratch.length <= size) this.deltaScratch = Buffer.allocUnsafeSlow(Math.max(size + 1, this.deltaScratch.length * 2));
    return this.deltaScratch;
  }
}

/** Reads `len` bytes at `position` of `fd` into the start of `buf`. */
function readFully(fd: number, buf: Buffer, len: number, position: number): void {
  let got = 0;
  while (got < len) {
    const n = readSync(fd, buf, got, len - got, position + got);
    if (n === 0) throw new PackError('PACK_TRUNCATED', `pack ends before offset ${position + len}`, { offset: position + got });
    got += n;
  }
}

/** Reads objects from one pack file and its v2 index. */
export class PackReader {
  readonly index: PackIndex;
  private readonly fd: number;
  private readonly packBytes: number;
  private readonly options: PackReaderOptions;
  /** Its cache (shared, or its own when `ownCache`), and its number there. */
  private readonly cache: PackCache;
  private readonly ownCache: boolean;
  private readonly id: number;
  /** Key of this reader's object at offset 0 in the cache's arena (offsets are added). */
  private readonly objectKeys: number;

  /** Entry offsets, ascending (where each entry ends is where the next begins), and each entry's resolved type by rank (0: not known yet). */
  private starts: Float64Array | undefined;
  private types: Uint8Array | undefined;

  /** The entry header last parsed, and where its bytes were (for a REF_DELTA's base id). */
  private readonly head: EntryHeaderFields = { typeNum: 0, size: 0, headerBytes: 0, baseOffset: -1 };
  private headBuf: Buffer = Buffer.alloc(0);
  private headPos = 0;
  /** Where `span` put the bytes asked for. */
  private spanStart = 0;
  /** The delta chain being resolved: its entries' offsets, ranks, header lengths and sizes, deepest last. */
  private readonly chainAt: number[] = [];
  private readonly chainRank: number[] = [];
  private readonly chainHeaderBytes: number[] = [];
  private readonly chainSize: number[] = [];
  /** Ranks of the entries a type lookup walked through. */
  private readonly walked: number[] = [];

  private constructor(fd: number, index: PackIndex, packBytes: number, options: PackReaderOptions) {
    this.fd = fd;
    this.index = index;
    this.packBytes = packBytes;
    this.options = options;
    this.ownCache = options.cache === undefined;
    this.cache = options.cache ?? new PackCache({ windowBytes: options.windowBytes, objectBytes: options.cacheBytes });
    this.id = this.cache.register();
    this.objectKeys = this.id * OBJECT_KEYS;
  }

  /** Opens `packPath` with the index at `idxPath` and checks that they belong together. */
  static open(packPath: string, idxPath: string, options: PackReaderOptions): PackReader {
    const index = PackIndex.parse(readFileSync(idxPath));
    const fd = openSync(packPath, 'r');
    try {
      const size = fstatSync(fd).size;
      const head = Buffer.alloc(12);
      readSync(fd, head, 0, 12, 0);
      const header = parsePackHeader(head);
      const trailer = Buffer.alloc(PACK_TRAILER_BYTES);
      readSync(fd, trailer, 0, PACK_TRAILER_BYTES, size - PACK_TRAILER_BYTES);
      if (header.objectCount !== index.count || !trailer.equals(index.packChecksum)) {
        throw new PackError('PACK_BAD_INDEX', `index ${idxPath} does not belong to pack ${packPath}`);
      }
      return new PackReader(fd, index, size, options);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  /** True when the pack holds `oid`. */
  has(oid: Oid): boolean {
    return this.index.find(oid) >= 0;
  }

  /** The object `oid`, or undefined when this pack does not hold it. */
  read(oid: Oid): RawObject | undefined {
    const i = this.index.find(oid);
    return i < 0 ? undefined : this.readAt(this.index.offsetAt(i));
  }

  /** Type and size of `oid` without resolving it (entry headers, the start of a delta), or undefined. */
  header(oid: Oid): ObjectHeader | undefined {
    const i = this.index.find(oid);
    return i < 0 ? undefined : this.headerAt(this.index.offsetAt(i));
  }

  /** The object whose entry starts at `offset`, with its delta chain resolved. */
  readAt(offset: number): RawObject {
    const cache = this.cache.objects;
    const keys = this.objectKeys;
    const first = cache.find(keys + offset);
    if (first >= 0) {
      const view = cache.view(first);
      const data = allocateResult(view.length);
      view.copy(data);
      return { type: TYPE_NAMES[cache.typeOf(first)]!, data };
    }
    // Walk down the chain to a base (in this pack, the cache, or external), then apply upward.
    const { chainAt, chainRank, chainHeaderBytes, chainSize } = this;
    chainAt.length = 0;
    chainRank.length = 0;
    chainHeaderBytes.length = 0;
    chainSize.length = 0;
    const types = this.typesByRank();
    let typeNum: number;
    let data: Buffer;
    let at = offset;
    for (;;) {
      if (chainAt.length > 0) {
        const hit = cache.find(keys + at);
        if (hit >= 0) {
          typeNum = cache.typeOf(hit);
          data = cache.view(hit);
          break;
        }
      }
      if (chainAt.length > this.options.maxDeltaDepth) {
        throw new PackError('PACK_DELTA_CYCLE', `delta chain from offset ${offset} is longer than ${this.options.maxDeltaDepth}`, {
          offset,
        });
      }
      const rank = this.rankOf(at);
      this.parseHeader(at);
      const h = this.head;
      if (h.typeNum <= 4) {
        typeNum = types[rank] = h.typeNum;
        if (chainAt.length === 0) {
          // Kept too: the next version of a file or tree is often a delta against this one.
          const whole = this.inflateEntry(at, rank, h.headerBytes, h.size, undefined);
          cache.add(keys + at, typeNum, whole);
          return { type: TYPE_NAMES[typeNum]!, data: whole };
        }
        data = this.inflateEntry(at, rank, h.headerBytes, h.size, this.cache.link(0, h.size + 1));
        cache.add(keys + at, typeNum, data);
        break;
      }
      chainAt.push(at);
      chainRank.push(rank);
      chainHeaderBytes.push(h.headerBytes);
      chainSize.push(h.size);
      if (h.typeNum === OBJ_OFS_DELTA) {
        at = h.baseOffset;
        continue;
      }
      const baseAt = this.headPos + h.headerBytes - OID_BYTES;
      const inPack = this.index.offsetOf(this.headBuf, baseAt);
      if (inPack !== undefined) {
        at = inPack;
        continue;
      }
      const baseOid = oidFromBytes(this.headBuf, baseAt);
      const base = this.options.external?.(baseOid);
      if (!base) {
        throw new PackError('PACK_DELTA_BASE_MISSING', `delta at offset ${at} needs base ${baseOid}, which is not available`, {
          offset: at,
          base: baseOid,
        });
      }
      typeNum = typeNumber(base.type);
      data = base.data;
      break;
    }
    // Intermediate results go to the two link buffers in turn (never the one holding the base),
    // the last one to a Buffer of its own: it is the caller's. Every one is kept in the cache.
    const shared = this.cache;
    let slot = data.buffer === shared.links[0].buffer ? 1 : 0;
    for (let i = chainAt.length - 1; i >= 0; i--) {
      const link = chainAt[i];
      const delta = this.inflateEntry(link, chainRank[i], chainHeaderBytes[i], chainSize[i], shared.deltaBuffer(chainSize[i]));
      const s = slot;
      data = applyDelta(data, delta, this.options.maxObjectBytes, link, i === 0 ? allocateResult : (size) => shared.link(s, size));
      types[chainRank[i]] = typeNum;
      // The result too (i = 0): when versions are read oldest first and git made the older ones
      // the bases (it sorts by size, then recency), the next read is a delta against this one.
      cache.add(keys + link, typeNum, data);
      slot = 1 - slot;
    }
    return { type: TYPE_NAMES[typeNum]!, data };
  }

  /** Type and size of the object whose entry starts at `offset`. */
  headerAt(offset: number): ObjectHeader {
    const objects = this.cache.objects;
    const hit = objects.find(this.objectKeys + offset);
    if (hit >= 0) return { type: TYPE_NAMES[objects.typeOf(hit)]!, size: objects.sizeOf(hit) };
    const rank = this.rankOf(offset);
    this.parseHeader(offset);
    const h = this.head;
    if (h.typeNum <= 4) return { type: TYPE_NAMES[h.typeNum]!, size: h.size };
    const size = this.deltaResultSize(offset, rank, h.headerBytes);
    return { type: this.typeOf(offset, rank), size };
  }

  /** Releases the file, and what its cache holds (all of it, when the cache is its own). */
  close(): void {
    if (this.ownCache) this.cache.close();
    else this.cache.release(this.id);
    closeSync(this.fd);
  }

  /** The resolved type of the entry at `offset` (rank `rank`): its chain walked to a known type or a base. */
  private typeOf(offset: number, rank: number): ObjectType {
    const types = this.typesByRank();
    const walked = this.walked;
    walked.length = 0;
    let at = offset;
    let r = rank;
    let typeNum = 0;
    for (;;) {
      typeNum = types[r];
      if (typeNum !== 0) break;
      const hit = this.cache.objects.find(this.objectKeys + at);
      if (hit >= 0) {
        typeNum = this.cache.objects.typeOf(hit);
        break;
      }
      if (walked.length > this.options.maxDeltaDepth) {
        throw new PackError('PACK_DELTA_CYCLE', `delta chain from offset ${offset} is longer than ${this.options.maxDeltaDepth}`, { offset });
      }
      this.parseHeader(at);
      const h = this.head;
      if (h.typeNum <= 4) {
        typeNum = h.typeNum;
        break;
      }
      walked.push(r);
      if (h.typeNum === OBJ_OFS_DELTA) {
        at = h.baseOffset;
      } else {
        const baseAt = this.headPos + h.headerBytes - OID_BYTES;
        const inPack = this.index.offsetOf(this.headBuf, baseAt);
        if (inPack === undefined) {
          typeNum = typeNumber(this.externalType(oidFromBytes(this.headBuf, baseAt), at));
          break;
        }
        at = inPack;
      }
      r = this.rankOf(at);
    }
    types[r] = typeNum;
    for (const w of walked) types[w] = typeNum;
    return TYPE_NAMES[typeNum]!;
  }

  private externalType(oid: Oid, offset: number): ObjectType {
    const type = this.options.externalHeader ? this.options.externalHeader(oid)?.type : this.options.external?.(oid)?.type;
    if (type === undefined) {
      throw new PackError('PACK_DELTA_BASE_MISSING', `delta at offset ${offset} needs base ${oid}, which is not available`, { offset, base: oid });
    }
    return type;
  }

  /** The result size a delta states, inflating only its first bytes. */
  private deltaResultSize(offset: number, rank: number, headerBytes: number): number {
    const dataStart = offset + headerBytes;
    const end = Math.min(this.entryEnd(rank), dataStart + DELTA_SIZES_INPUT);
    const input = this.span(dataStart, end);
    const from = this.spanStart;
    const out = this.cache.sizesScratch;
    const inflater = this.cache.inflater;
    inflater.reset();
    inflater.step(input, from, from + (end - dataStart), out, 0, out.length, offset);
    return readDeltaSizes(out.subarray(0, inflater.produced)).resultSize;
  }

  /** Inflates the entry at `offset` (data after its `headerBytes`-byte header), into `out` when given. */
  private inflateEntry(offset: number, rank: number, headerBytes: number, size: number, out: Buffer | undefined): Buffer {
    if (size > this.options.maxObjectBytes) {
      throw new PackError('PACK_SIZE_MISMATCH', `entry at offset ${offset} is ${size} bytes, over the ${this.options.maxObjectBytes}-byte limit`, {
        offset,
        actual: size,
      });
    }
    const dataStart = offset + headerBytes;
    const end = this.entryEnd(rank);
    if (end < dataStart) throw new PackError('PACK_TRUNCATED', `entry at offset ${offset} ends inside its header`, { offset });
    const input = this.span(dataStart, end);
    const from = this.spanStart;
    return this.cache.inflater.inflateInto(input, from, from + (end - dataStart), size, out ?? allocateResult(size + 1), offset);
  }

  /** Parses the entry header at `offset` into `head`, noting where its bytes are. */
  private parseHeader(offset: number): void {
    const no = Math.floor(offset / WINDOW_BYTES);
    const pos = offset - no * WINDOW_BYTES;
    const win = this.window(no);
    if (pos + MAX_ENTRY_HEADER <= win.length) {
      this.headBuf = win;
      this.headPos = pos;
      // readEntryHeader stops at the header's end; the window has room for the longest one.
      if (readEntryHeader(win, pos, offset, this.head)) return;
    } else {
      // Near a window's end: gather the header's bytes from this window and the next.
      const scratch = this.cache.headScratch;
      let n = win.copy(scratch, 0, pos);
      if (n < MAX_ENTRY_HEADER && (no + 1) * WINDOW_BYTES < this.packBytes) {
        n += this.window(no + 1).copy(scratch, n, 0, MAX_ENTRY_HEADER - n);
      }
      this.headBuf = scratch;
      this.headPos = 0;
      if (readEntryHeader(n === MAX_ENTRY_HEADER ? scratch : scratch.subarray(0, n), 0, offset, this.head)) return;
    }
    throw new PackError('PACK_TRUNCATED', `entry header at offset ${offset} runs past the end of the pack`, { offset });
  }

  /**
   * The pack's bytes [start, end) in a buffer from `spanStart`: a window when they lie in one, a
   * copy when they cross into the next, their own read when longer than a window (not cached,
   * so one large object does not push out everything else). Valid until the next read.
   */
  private span(start: number, end: number): Buffer {
    const len = end - start;
    const no = Math.floor(start / WINDOW_BYTES);
    const pos = start - no * WINDOW_BYTES;
    if (pos + len <= WINDOW_BYTES) {
      const win = this.window(no);
      if (pos + len > win.length) throw new PackError('PACK_TRUNCATED', `entry data at offset ${start} runs past the end of the pack`, { offset: start });
      this.spanStart = pos;
      return win;
    }
    this.spanStart = 0;
    if (len > WINDOW_BYTES) {
      const own = Buffer.allocUnsafe(len);
      readFully(this.fd, own, len, start);
      return own;
    }
    const scratch = this.cache.spanScratch;
    const n = this.window(no).copy(scratch, 0, pos);
    const next = this.window(no + 1);
    if (n + next.length < len) throw new PackError('PACK_TRUNCATED', `entry data at offset ${start} runs past the end of the pack`, { offset: start });
    next.copy(scratch, n, 0, len - n);
    return scratch;
  }

  /** Window `no` of the file (the last one may be shorter). */
  private window(no: number): Buffer {
    return this.cache.window(this.id, this.fd, this.packBytes, no);
  }

  private typesByRank(): Uint8Array {
    if (!this.types) {
      this.starts = this.index.sortedOffsets();
      this.types = new Uint8Array(this.starts.length);
    }
    return this.types;
  }

  /** Rank of the entry starting at `offset` among all entries by offset. */
  private rankOf(offset: number): number {
    this.typesByRank();
    const starts = this.starts!;
    let lo = 0;
    let hi = starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (starts[mid] < offset) lo = mid + 1;
      else hi = mid;
    }
    if (lo === starts.length || starts[lo] !== offset) {
      throw new PackError('PACK_DELTA_BAD_OFFSET', `offset ${offset} is not the start of an entry`, { offset });
    }
    return lo;
  }

  /** Where the entry of rank `rank` ends: the next entry's offset, or the trailer. */
  private entryEnd(rank: number): number {
    const starts = this.starts!;
    return rank + 1 < starts.length ? starts[rank + 1] : this.packBytes - PACK_TRAILER_BYTES;
  }
}

/**
 * Resolved objects by key (reader and pack offset): a circular log in one buffer (an object per entry would
 * cost an ArrayBuffer allocation, ~3 µs, more than applying most deltas), oldest out first. It
 * starts small and doubles up to its budget, dropping its entries each time, so a pack read only
 * a little costs little.
 */
class ObjectArena {
  private arena: Buffer | undefined;
  private head = 0;
  /** Entry by key. */
  private readonly index = new Map<number, number>();
  /** Per entry: key, arena position, length, type. Entry numbers are reused. */
  private keyOfEntry: number[] = [];
  private at: number[] = [];
  private len: number[] = [];
  private type: number[] = [];
  private free: number[] = [];
  /**
   * Entries in arena order, oldest from `first`. (Iterating a Map from its start after deleting
   * from the front skips every deleted slot still in its table, so a Map is a slow queue.)
   */
  private order: number[] = [];
  private first = 0;

  constructor(private readonly limit: number) {}

  /** The entry holding `key`, or -1. */
  find(key: number): number {
    return this.index.get(key) ?? -1;
  }

  typeOf(entry: number): number {
    return this.type[entry];
  }

  sizeOf(entry: number): number {
    return this.len[entry];
  }

  /** The entry's bytes, valid until the next `add`. */
  view(entry: number): Buffer {
    return this.arena!.subarray(this.at[entry], this.at[entry] + this.len[entry]);
  }

  /** Keeps a copy of `data` (the object under `key`); nothing when it is over a quarter of the budget. */
  add(key: number, typeNum: number, data: Buffer): void {
    const len = data.length;
    if (len * 4 > this.limit || this.index.has(key)) return;
    let arena = this.arena;
    if (!arena || (this.head + len > arena.length && arena.length < this.limit)) {
      // Start, or grow: a new arena twice the size (within the budget), empty.
      const size = Math.min(this.limit, Math.max(MIN_ARENA_BYTES, arena ? arena.length * 2 : 0, len * 4));
      this.clear();
      arena = this.arena = Buffer.allocUnsafeSlow(size);
    }
    let pos = this.head;
    if (pos + len > arena.length) {
      // Wrap: what is left of the previous lap after `pos` goes first, then the new lap starts at 0.
      while (this.first < this.order.length && this.at[this.order[this.first]] >= pos) this.evictOldest();
      pos = 0;
    }
    // Entries of the previous lap that start in [pos, pos + len) are overwritten.
    const end = pos + len;
    for (;;) {
      if (this.first === this.order.length) break;
      const p = this.at[this.order[this.first]];
      if (p < pos || p >= end) break;
      this.evictOldest();
    }
    data.copy(arena, pos);
    const entry = this.free.length > 0 ? this.free.pop()! : this.at.length;
    this.keyOfEntry[entry] = key;
    this.at[entry] = pos;
    this.len[entry] = len;
    this.type[entry] = typeNum;
    this.index.set(key, entry);
    this.order.push(entry);
    this.head = end;
  }

  /** Drops every entry (the arena is kept). */
  clear(): void {
    this.index.clear();
    this.keyOfEntry = [];
    this.at = [];
    this.len = [];
    this.type = [];
    this.free = [];
    this.order = [];
    this.first = 0;
    this.head = 0;
  }

  private evictOldest(): void {
    const entry = this.order[this.first++];
    this.index.delete(this.keyOfEntry[entry]);
    this.free.push(entry);
    if (this.first > 4096 && this.first * 2 > this.order.length) {
      this.order = this.order.slice(this.first);
      this.first = 0;
    }
  }
}

function typeNumber(type: ObjectType): number {
  switch (type) {
    case 'commit':
      return 1;
    case 'tree':
      return 2;
    case 'blob':
      return 3;
    case 'tag':
      return 4;
  }
}
