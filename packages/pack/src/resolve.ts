/**
 * Pass 2 of indexing (the resolver): applies every delta (gitformat-pack(5), "Deltified
 * representation") to its base and computes its id, the way `git index-pack` does — depth-first
 * from each base, so every delta is inflated once more and memory holds only the chain being
 * worked on:
 *
 *   1. every whole object in the pack that has deltas against it, in pack order: its OBJ_OFS_DELTA
 *      children (by base entry) and OBJ_REF_DELTA children (by base id), recursively;
 *   2. then bases outside the pack (a thin pack's, from `external` — the upstream mirror), each
 *      fetched once for all the deltas against it.
 *
 * A parent's content is released as soon as its last child has been produced, so a linear chain
 * holds two objects at a time; a base with many children stays until the last one is done.
 * Whatever is left unresolved names a base that is nowhere to be found (or deltas that need
 * each other).
 */
import { createHash } from 'node:crypto';
import { readSync } from 'node:fs';
import { LimitError, OID_BYTES, oidFromBytes, type Limits, type Oid } from '@pushgate/core';
import { applyDelta, readDeltaSizes } from './delta';
import type { EntryTable } from './entries';
import { sortIds } from './idx-write';
import { PackError } from './errors';
import { OBJ_REF_DELTA, TYPE_NAMES, TYPE_NUMBERS } from './format';
import type { Inflater } from './inflater';
import type { Pacer } from '@pushgate/core';
import type { ObjectSink } from './pack-object';
import type { RawObject } from './reader';

/** Resolves a thin pack's bases: objects the receiving repository already has. */
export type ExternalObjects = (oid: Oid) => RawObject | undefined;

/** What the resolver needs. */
export interface ResolveOptions {
  readonly limits: Limits;
  readonly inflater: Inflater;
  readonly pacer: Pacer;
  readonly external?: ExternalObjects;
  readonly onObject?: ObjectSink;
  /** Largest read of compressed data at once when re-inflating an entry. */
  readonly readBytes: number;
}

/** What pass 2 found. */
export interface ResolveResult {
  /** Ids of the bases outside the pack that deltas were applied to, sorted. */
  readonly externalBases: Oid[];
  /** Longest delta chain seen (0 when there are no deltas). */
  readonly maxDeltaDepth: number;
}

/** One level of the depth-first walk: an object whose children are being produced. */
interface Frame {
  readonly data: Buffer;
  readonly oid: Oid;
  readonly typeNum: number;
  readonly depth: number;
  ofsNext: number;
  readonly ofsEnd: number;
  refNext: number;
  readonly refEnd: number;
}

/** Resolves every delta of the scanned pack `fd`, filling in `table.types` and `table.oids`. */
export async function resolveDeltas(
  fd: number,
  table: EntryTable,
  deltaCount: number,
  opts: ResolveOptions,
): Promise<ResolveResult> {
  const { limits, pacer, onObject } = opts;
  const n = table.length;
  const externalBases: Oid[] = [];
  if (deltaCount === 0) return { externalBases, maxDeltaDepth: 0 };

  // Children by base entry (OBJ_OFS_DELTA), as compressed rows: children of entry b are
  // ofsChildren[ofsStart[b] .. ofsStart[b + 1]).
  const ofsStart = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) {
    const b = table.ofsBases[i];
    if (b >= 0) ofsStart[b + 1]++;
  }
  for (let i = 0; i < n; i++) ofsStart[i + 1] += ofsStart[i];
  const ofsChildren = new Int32Array(ofsStart[n]);
  const fill = ofsStart.slice(0, n);
  for (let i = 0; i < n; i++) {
    const b = table.ofsBases[i];
    if (b >= 0) ofsChildren[fill[b]++] = i;
  }

  // Children by base id (OBJ_REF_DELTA), sorted by that id for binary search.
  const refs = await sortRefDeltas(table);

  const scratch: Scratch = { input: Buffer.allocUnsafe(Math.min(opts.readBytes, 1 << 16)), output: Buffer.allocUnsafe(1 << 16), windows: new PackWindows() };
  let resolved = 0;
  let maxDepth = 0;
  const maxDeltaDepth = limits.maxDeltaDepth;
  const oids = table.oids;
  const types = table.types;

  const frameFor = (data: Buffer, typeNum: number, depth: number, entry: number, oid: Buffer, oidAt: number): Frame | undefined => {
    const ofsNext = entry >= 0 ? ofsStart[entry] : 0;
    const ofsEnd = entry >= 0 ? ofsStart[entry + 1] : 0;
    let refNext = 0;
    let refEnd = 0;
    if (refs.count > 0) {
      refNext = refs.lowerBound(oid, oidAt);
      refEnd = refNext;
      while (refEnd < refs.count && refs.oidEquals(refEnd, oid, oidAt)) refEnd++;
    }
    if (ofsNext === ofsEnd && refNext === refEnd) return undefined;
    return { data, oid: oidFromBytes(oid, oidAt), typeNum, depth, ofsNext, ofsEnd, refNext, refEnd };
  };

  const walk = async (root: Frame): Promise<void> => {
    const stack: Frame[] = [root];
    while (stack.length > 0) {
      if (pacer.due()) await pacer.pause('resolving deltas', resolved, deltaCount);
      const f = stack[stack.length - 1];
      let child: number;
      if (f.ofsNext < f.ofsEnd) child = ofsChildren[f.ofsNext++];
      else if (f.refNext < f.refEnd) child = refs.entries[f.refNext++];
      else {
        stack.pop();
        continue;
      }
      // A duplicate base (the same id twice in the pack) offers its REF children twice.
      if (types[child] !== 0) continue;
      const last = f.ofsNext === f.ofsEnd && f.refNext === f.refEnd;
      const offset = table.offsets[child];
      const depth = f.depth + 1;
      if (depth > maxDeltaDepth) {
        throw new LimitError('maxDeltaDepth', maxDeltaDepth, depth, `delta chain at offset ${offset}`);
      }
      if (depth > maxDepth) maxDepth = depth;
      // The delta is used once, right here: it goes into the reused buffer.
      const delta = inflateEntryAt(fd, table, child, opts.inflater, scratch, true);
      const data = applyDelta(f.data, delta, limits.maxObjectBytes, offset);
      const typeNum = f.typeNum;
      const type = TYPE_NAMES[typeNum]!;
      const oid = createHash('sha1').update(`${type} ${data.length}\0`, 'latin1').update(data).digest();
      oid.copy(oids, child * OID_BYTES);
      types[child] = typeNum;
      resolved++;
      onObject?.({ oid: oidFromBytes(oid), type, data, offset, delta: { base: f.oid, instructions: delta } });
      // Drop the parent before descending when this was its last child: a chain holds two objects.
      if (last) stack.pop();
      const next = frameFor(data, typeNum, depth, child, oid, 0);
      if (next) stack.push(next);
    }
  };

  // 1. Whole objects in the pack, in pack order (sequential re-reads of the roots).
  for (let i = 0; i < n; i++) {
    if (table.kinds[i] > 4) continue;
    const hasOfs = ofsStart[i + 1] > ofsStart[i];
    if (!hasOfs && (refs.count === 0 || !refs.has(oids, i * OID_BYTES))) continue;
    const data = inflateEntryAt(fd, table, i, opts.inflater, scratch, false);
    const root = frameFor(data, table.kinds[i], 0, i, oids, i * OID_BYTES);
    if (root) await walk(root);
  }

  // 2. Bases outside the pack, once per distinct id that still has unresolved deltas.
  const missing: number[] = [];
  for (let g = 0; g < refs.count; ) {
    let end = g + 1;
    while (end < refs.count && refs.sameBase(g, end)) end++;
    if (types[refs.entries[g]] === 0) {
      const oid = refs.baseOid(g);
      const base = opts.external?.(oid);
      if (base) {
        externalBases.push(oid);
        const root = frameFor(base.data, TYPE_NUMBERS[base.type], 0, -1, refs.oids, g * OID_BYTES);
        if (root) await walk(root);
      } else {
        missing.push(g);
      }
    }
    g = end;
  }

  if (resolved < deltaCount) {
    for (const g of missing) {
      // A group may have been resolved after it was found missing: its base was itself a delta
      // against an external base visited later.
      if (types[refs.entries[g]] === 0) throw unresolvedError(fd, table, refs, missing, opts, scratch);
    }
    throw new PackError('PACK_DELTA_BASE_MISSING', `${deltaCount - resolved} deltas could not be resolved`, {
      unresolved: deltaCount - resolved,
    });
  }
  pacer.progress('resolving deltas', resolved, deltaCount);
  return { externalBases, maxDeltaDepth: maxDepth };
}

/** OBJ_REF_DELTA entries sorted by base id, with lookups by id. */
class RefDeltas {
  constructor(
    readonly count: number,
    /** Entry indices, sorted by base id (then by entry). */
    readonly entries: Int32Array,
    /** Their base ids in the same order, 20 bytes each. */
    readonly oids: Buffer,
  ) {
    this.heads = new Uint32Array(count);
    for (let i = 0; i < count; i++) this.heads[i] = oids.readUInt32BE(i * OID_BYTES);
  }

  /** The first four bytes of each base id, for searching with number comparisons. */
  private readonly heads: Uint32Array;

  /** First position whose base id is >= `oid[at..at+20)`. */
  lowerBound(oid: Buffer, at: number): number {
    // Narrow by the first four bytes (numbers), then compare whole ids within that run.
    const key = oid.readUInt32BE(at);
    const heads = this.heads;
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (heads[mid] < key) lo = mid + 1;
      else hi = mid;
    }
    hi = lo;
    while (hi < this.count && heads[hi] === key) hi++;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.oids.compare(oid, at, at + OID_BYTES, mid * OID_BYTES, (mid + 1) * OID_BYTES) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** True when some REF delta's base id is `oid[at..at+20)`. */
  has(oid: Buffer, at: number): boolean {
    const i = this.lowerBound(oid, at);
    return i < this.count && this.oidEquals(i, oid, at);
  }

  oidEquals(i: number, oid: Buffer, at: number): boolean {
    return this.oids.compare(oid, at, at + OID_BYTES, i * OID_BYTES, (i + 1) * OID_BYTES) === 0;
  }

  sameBase(i: number, j: number): boolean {
    return this.oids.compare(this.oids, j * OID_BYTES, (j + 1) * OID_BYTES, i * OID_BYTES, (i + 1) * OID_BYTES) === 0;
  }

  baseOid(i: number): Oid {
    return oidFromBytes(this.oids, i * OID_BYTES);
  }
}

async function sortRefDeltas(table: EntryTable): Promise<RefDeltas> {
  const count = table.refCount;
  const src = table.refBaseOids;
  const order = await sortIds(src, count, table.refEntries);
  const entries = new Int32Array(count);
  const oids = Buffer.allocUnsafe(count * OID_BYTES);
  for (let i = 0; i < count; i++) {
    entries[i] = table.refEntries[order[i]];
    src.copy(oids, i * OID_BYTES, order[i] * OID_BYTES, (order[i] + 1) * OID_BYTES);
  }
  return new RefDeltas(count, entries, oids);
}

/** Buffers reused across entries: compressed input, the output of deltas applied at once, and windows of the pack file. */
interface Scratch {
  input: Buffer;
  output: Buffer;
  readonly windows: PackWindows;
}

/** Deltas up to this size inflate into the reused output buffer. */
const REUSED_OUTPUT_MAX = 1 << 20;

/** Bytes of the pack file one window holds, and windows kept (1 MiB in all). */
const WINDOW_BYTES = 64 * 1024;
const WINDOW_COUNT = 16;

/**
 * The last few stretches of the pack file read, least recently used replaced first. The walk
 * re-reads entries in the order of their bases, not of the file, but a base's deltas and their
 * own deltas mostly lie near each other (git writes a delta soon after its base): one read of a
 * window serves many small entries, where a read per entry costs a system call each. On the
 * 79k-object thin push of scripts/bench/pack.ts 72% of the re-read entries come from a window (a
 * fifth of the reads), and indexing in-process took ~5% less (2.32 → 2.20 s, medians of 4
 * alternating runs; in the benchmark's own runs the difference is within its noise); larger
 * windows read more than they save (256 KiB × 8: 84% from a window, 2.4 GB read from the page cache).
 */
class PackWindows {
  private readonly starts = new Float64Array(WINDOW_COUNT).fill(-1);
  private readonly lengths = new Float64Array(WINDOW_COUNT);
  private readonly used = new Float64Array(WINDOW_COUNT);
  private readonly bufs: Buffer[] = [];
  private clock = 0;

  /** A window holding the file's bytes [at, end) (end - at ≤ WINDOW_BYTES), and where `at` is in it. */
  find(fd: number, at: number, end: number): { buf: Buffer; from: number } {
    for (let w = 0; w < WINDOW_COUNT; w++) {
      const start = this.starts[w];
      if (start >= 0 && start <= at && end <= start + this.lengths[w]) {
        this.used[w] = ++this.clock;
        return { buf: this.bufs[w], from: at - start };
      }
    }
    let w = 0;
    for (let k = 1; k < WINDOW_COUNT; k++) if (this.used[k] < this.used[w]) w = k;
    const buf = (this.bufs[w] ??= Buffer.allocUnsafeSlow(WINDOW_BYTES));
    // From the entry on: what follows it is what the walk most likely reads next.
    const got = readSync(fd, buf, 0, WINDOW_BYTES, at);
    if (got < end - at) throw new PackError('PACK_TRUNCATED', `pack file changed while indexing: short read at offset ${at}`, { offset: at });
    this.starts[w] = at;
    this.lengths[w] = got;
    this.used[w] = ++this.clock;
    return { buf, from: 0 };
  }
}

/**
 * Inflates entry `i` again from the pack file with positional reads (pass 1 proved its bytes
 * sound and found where they end): from a window when it fits in one, else at most 1 MiB at a
 * time. With `transient`, the result may be the reused output buffer, valid until the next call.
 */
function inflateEntryAt(fd: number, table: EntryTable, i: number, inflater: Inflater, scratch: Scratch, transient: boolean): Buffer {
  const size = table.sizes[i];
  const offset = table.offsets[i];
  let at = table.dataStart(i);
  const end = table.offsets[i + 1];
  const total = end - at;
  if (total > scratch.input.length && scratch.input.length < 1 << 20) scratch.input = Buffer.allocUnsafe(Math.min(total, 1 << 20));
  const buf = scratch.input;
  let out: Buffer;
  if (transient && size < REUSED_OUTPUT_MAX) {
    if (scratch.output.length < size + 1) scratch.output = Buffer.allocUnsafe(Math.max(size + 1, scratch.output.length * 2));
    out = scratch.output;
  } else {
    out = Buffer.allocUnsafe(size + 1);
  }
  let outPos = 0;
  inflater.reset();
  let status = 'more';
  if (total <= WINDOW_BYTES) {
    const w = scratch.windows.find(fd, at, end);
    status = inflater.step(w.buf, w.from, w.from + total, out, 0, size + 1, offset);
    outPos = inflater.produced;
    at = end;
  }
  while (at < end) {
    const want = Math.min(buf.length, end - at);
    const got = readSync(fd, buf, 0, want, at);
    if (got !== want) throw new PackError('PACK_TRUNCATED', `pack file changed while indexing: short read at offset ${at}`, { offset: at });
    status = inflater.step(buf, 0, got, out, outPos, size + 1, offset);
    outPos += inflater.produced;
    at += got;
    if (status !== 'more') break;
  }
  if (outPos !== size || (status === 'more' && !inflater.finish(offset)) || status === 'full') {
    throw new PackError('PACK_SIZE_MISMATCH', `entry at offset ${offset} inflated differently on a second read`, { offset });
  }
  return out.subarray(0, size);
}

/**
 * The error for deltas left unresolved. Each unresolved chain ends at an OBJ_REF_DELTA whose
 * base id is neither in the pack nor in `external`. That id may still be one the pack's own
 * unresolved deltas would produce — deltas that need each other, a cycle. Proving it in general
 * means solving for contents that hash to each other's ids; we check the case that can be
 * checked directly, deltas made only of inserts (their result does not depend on their base):
 * when one of those produces, for some object type, an id another unresolved delta needs, the
 * pack is refused as a cycle. Anything else is a missing base. Either way nothing is accepted.
 */
function unresolvedError(
  fd: number,
  table: EntryTable,
  refs: RefDeltas,
  missing: number[],
  opts: ResolveOptions,
  scratch: Scratch,
): PackError {
  const wanted = new Map<string, number>();
  for (const g of missing) {
    if (table.types[refs.entries[g]] === 0) wanted.set(refs.baseOid(g), refs.entries[g]);
  }
  for (let i = 0; i < table.length; i++) {
    if (table.kinds[i] <= 4 || table.types[i] !== 0) continue;
    const delta = inflateEntryAt(fd, table, i, opts.inflater, scratch, false);
    const content = insertOnlyResult(delta);
    if (!content) continue;
    for (const type of ['blob', 'tree', 'commit', 'tag'] as const) {
      const oid = createHash('sha1').update(`${type} ${content.length}\0`, 'latin1').update(content).digest('hex');
      const needer = wanted.get(oid);
      if (needer !== undefined) {
        const offset = table.offsets[i];
        const other = table.offsets[needer];
        return new PackError(
          'PACK_DELTA_CYCLE',
          `deltas need each other: the delta at offset ${other} needs ${oid}, which only the delta at offset ${offset} produces, and that one has no base`,
          { offset, base: oid, dependent: other },
        );
      }
    }
  }
  // Report the first unresolved OBJ_REF_DELTA in pack order: the root of a chain left hanging.
  let first = -1;
  for (let i = 0; i < table.length; i++) {
    if (table.kinds[i] === OBJ_REF_DELTA && table.types[i] === 0) {
      first = i;
      break;
    }
  }
  let unresolved = 0;
  for (let i = 0; i < table.length; i++) if (table.types[i] === 0) unresolved++;
  const offset = first >= 0 ? table.offsets[first] : -1;
  const slot = first >= 0 ? findRefSlot(table, first) : -1;
  const base = slot >= 0 ? oidFromBytes(table.refBaseOids, slot * OID_BYTES) : undefined;
  return new PackError(
    'PACK_DELTA_BASE_MISSING',
    `delta at offset ${offset} needs base ${base}, which is neither in the pack nor in the repository (${unresolved} deltas unresolved)`,
    { offset, base, unresolved },
  );
}

function findRefSlot(table: EntryTable, entry: number): number {
  for (let r = 0; r < table.refCount; r++) if (table.refEntries[r] === entry) return r;
  return -1;
}

/** The result of a delta made only of insert instructions, or undefined if it copies anything. */
function insertOnlyResult(delta: Buffer): Buffer | undefined {
  let sizes;
  try {
    sizes = readDeltaSizes(delta);
  } catch {
    return undefined;
  }
  const parts: Buffer[] = [];
  let pos = sizes.headerBytes;
  while (pos < delta.length) {
    const op = delta[pos++];
    if (op === 0 || op & 0x80 || pos + op > delta.length) return undefined;
    parts.push(delta.subarray(pos, pos + op));
    pos += op;
  }
  const out = Buffer.concat(parts);
  return out.length === sizes.resultSize ? out : undefined;
}
