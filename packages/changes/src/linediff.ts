/**
 * Line diffs of two blobs, costed like git's xdiff: unified hunks in the shape `diff`'s
 * structuredPatch gives them, computed over integer line ids.
 *
 * 1. Lines are found with indexOf(0x0a) on the bytes and compared byte for byte, newline
 *    included, as git compares them without whitespace options (xdiff/xprepare.c,
 *    xdl_prepare_ctx hashes each record). No text is decoded to diff it.
 * 2. The lines both sides share at the start and the end are trimmed (xdiff/xprepare.c,
 *    xdl_trim_ends; git also trims a blob pair's common tail before xdiff sees it,
 *    xdiff-interface.c trim_common_tail), so a small edit in a long file diffs a few lines.
 *    git's histogram diff itself skips xdl_trim_ends and counts a line's occurrences over the
 *    whole file, so now and then it picks other anchors than this does (4 of 2,000 generated
 *    edits; 5 of 6,273 file changes in libgit2's last 2,000 commits); the diff here was never
 *    the longer one.
 * 3. The remaining lines are interned into ids through an open-addressing table keyed by a
 *    hash of their bytes, and diffed by histogram.ts (git's xdiff/xhistogram.c, falling back to
 *    xdiff/xdiffi.c's Myers where no line is rare enough to anchor on), within a bound on work
 *    past which a region is replaced whole: coarser, still correct.
 * 4. Change groups are slid as git slides them (xdiff/xdiffi.c, xdl_change_compact with the
 *    indent heuristic; compact.ts), so hunks fall where git puts them.
 * 5. The answer is copied out as a compact edit script (an Int32Array of runs), so a LineDiff
 *    stays valid while later diffs reuse the scratch; hunks, added lines and their size are
 *    made from it on demand. Hunks follow structuredPatch's layout (lib/patch/create.js in
 *    `diff`): removed lines before added ones, changes less than 2 × context apart in one
 *    hunk, and '\ No newline at end of file' after a line without one.
 *
 * Only lines that end up in hunks or added lines are decoded, each into a string of its own, so
 * nothing returned keeps a blob's text alive (the LineDiff itself holds both blobs until it is
 * dropped, to make them).
 */
import { InternalError } from '@pushgate/core';
import { compactChanges } from './compact';
import { histogramDiff, type WorkBudget } from './histogram';
import type { AddedLine, DiffHunk } from './types';

const NEWLINE = 0x0a;
const NO_NEWLINE = '\\ No newline at end of file';
/** git's default context (diff.context). */
const DEFAULT_CONTEXT = 3;
/**
 * Default work bound, in steps of the histogram scan and of the Myers edit graph. A typical edit
 * costs a few steps per line; the worst inputs, files of a few lines repeated in random order,
 * cost about 6 million steps for two 20,000-line files (a quarter of a second here). Past the
 * bound, what is left is replaced coarsely.
 */
const DEFAULT_MAX_WORK = 1 << 24;

/** How lineDiff works. */
export interface LineDiffOptions {
  /** Context lines around changes (git's default 3). */
  readonly context?: number;
  /** Bound on the diff's work (e.g. comparisons/edit-graph steps); past it, regions are replaced coarsely. */
  readonly maxWork?: number;
}

/** A line diff of two blobs read as UTF-8 text (lines end with \n; the last may not). */
export interface LineDiff {
  /** Lines added (the '+' lines of the hunks). */
  readonly added: number;
  /** Lines removed (the '-' lines of the hunks). */
  readonly removed: number;
  /** True when the work bound was hit and some region was diffed coarsely (still a correct diff: applying it to the old text gives the new). */
  readonly coarse: boolean;
  /** Unified hunks, numbered in the whole files, structuredPatch's shape (incl. '\\ No newline at end of file' lines as jsdiff emits them). */
  hunks(): DiffHunk[];
  /** The new file's added lines with their 1-based numbers, without building hunks. */
  addedLines(): AddedLine[];
  /** Bytes of diff text the hunks and added lines come to (hunk line length + 1 each, added line length + 8 each), computed without making the strings. */
  readonly bytes: number;
}

/** The line diff from `a` to `b` (blob bytes, read as UTF-8). */
export function lineDiff(a: Uint8Array, b: Uint8Array, options?: LineDiffOptions): LineDiff {
  return diff(asBuffer(a), asBuffer(b), options?.context ?? DEFAULT_CONTEXT, options?.maxWork ?? DEFAULT_MAX_WORK);
}

/** Every line of `b` added (an added file). */
export function addedFileDiff(b: Uint8Array): LineDiff {
  const buf = asBuffer(b);
  const lines = lineStarts(buf);
  const n = lines.length - 1;
  const script = n === 0 ? Int32Array.of(0) : Int32Array.of(0, 0, n, 0);
  return new ScriptDiff(EMPTY, Int32Array.of(0), buf, lines, script, DEFAULT_CONTEXT, false);
}

/** Lines in a blob: `\n`-terminated, the last one perhaps not (structuredPatch's). */
export function countLines(data: Uint8Array): number {
  const buf = asBuffer(data);
  let n = 0;
  for (let at = buf.indexOf(NEWLINE); at >= 0; at = buf.indexOf(NEWLINE, at + 1)) n++;
  return buf.length > 0 && buf[buf.length - 1] !== NEWLINE ? n + 1 : n;
}

const EMPTY = Buffer.alloc(0);

function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** Scratch for lineStarts, grown as needed; each blob's starts are copied out of it. */
let startScratch = new Int32Array(4096);

/** Where each line starts, plus the blob's length: line k is bytes [starts[k], starts[k + 1]). */
function lineStarts(buf: Buffer): Int32Array {
  let scratch = startScratch;
  let n = 1;
  const length = buf.length;
  for (let at = buf.indexOf(NEWLINE); at >= 0 && at + 1 < length; at = buf.indexOf(NEWLINE, at + 1)) {
    if (n + 1 >= scratch.length) {
      const grown = new Int32Array(scratch.length * 2);
      grown.set(scratch);
      scratch = startScratch = grown;
    }
    scratch[n++] = at + 1;
  }
  // n is the lines found so far plus one: the blob is `n` lines unless it is empty.
  const lines = length === 0 ? 0 : n;
  const starts = scratch.slice(0, lines + 1);
  starts[0] = 0;
  starts[lines] = length;
  return starts;
}

/** Bytes compared at once by the native compare when trimming. */
const CHUNK = 4096;

function commonPrefix(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  let p = 0;
  while (p + CHUNK <= n && a.compare(b, p, p + CHUNK, p, p + CHUNK) === 0) p += CHUNK;
  while (p < n && a[p] === b[p]) p++;
  return p;
}

function commonSuffix(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  const la = a.length;
  const lb = b.length;
  let s = 0;
  while (s + CHUNK <= n && a.compare(b, lb - s - CHUNK, lb - s, la - s - CHUNK, la - s) === 0) s += CHUNK;
  while (s < n && a[la - 1 - s] === b[lb - 1 - s]) s++;
  return s;
}

/** Scratch of the interning table and of the per-line ids and marks, shared by diffs. */
let tableHash = new Int32Array(1024);
let tableId = new Int32Array(1024);
let idSide = new Uint8Array(1024);
let idLine = new Int32Array(1024);
let idsA = new Int32Array(1024);
let idsB = new Int32Array(1024);
let changeA = new Uint8Array(1024);
let changeB = new Uint8Array(1024);

function diff(a: Buffer, b: Buffer, context: number, maxWork: number): ScriptDiff {
  const linesA = lineStarts(a);
  const linesB = lineStarts(b);
  const na = linesA.length - 1;
  const nb = linesB.length - 1;
  const shorter = Math.min(na, nb);

  // Shared lines at the start: identical bytes, and each line ends at the same offset on both sides.
  const p = commonPrefix(a, b);
  let prefix = 0;
  while (prefix < shorter && linesA[prefix + 1] <= p && linesA[prefix + 1] === linesB[prefix + 1]) prefix++;
  // And at the end: same distance from the end to the line's start on both sides.
  const s = commonSuffix(a, b);
  let suffix = 0;
  while (suffix < shorter - prefix) {
    const fromEnd = a.length - linesA[na - 1 - suffix];
    if (fromEnd > s || fromEnd !== b.length - linesB[nb - 1 - suffix]) break;
    suffix++;
  }

  const ma = na - prefix - suffix;
  const mb = nb - prefix - suffix;
  const budget: WorkBudget = { left: maxWork, coarse: false };
  let script: Int32Array;
  if (ma === 0 && mb === 0) {
    script = Int32Array.of(na);
  } else {
    // Marks for every line of each file, with a 0 either side (xdiff's rchg): compaction may
    // slide a group into the trimmed ends.
    if (changeA.length < na + 2) changeA = new Uint8Array(Math.max(na + 2, changeA.length * 2));
    if (changeB.length < nb + 2) changeB = new Uint8Array(Math.max(nb + 2, changeB.length * 2));
    changeA.fill(0, 0, na + 2);
    changeB.fill(0, 0, nb + 2);
    const middleA = changeA.subarray(prefix + 1, prefix + 1 + ma);
    const middleB = changeB.subarray(prefix + 1, prefix + 1 + mb);
    if (ma === 0 || mb === 0) {
      middleA.fill(1);
      middleB.fill(1);
    } else {
      const ids = intern(a, linesA, b, linesB, prefix, ma, mb);
      histogramDiff(idsA.subarray(0, ma), idsB.subarray(0, mb), ids, middleA, middleB, budget);
    }
    const sideA = { buf: a, starts: linesA, change: changeA };
    const sideB = { buf: b, starts: linesB, change: changeB };
    compactChanges(sideA, sideB);
    compactChanges(sideB, sideA);
    script = toScript(na, nb);
  }
  return new ScriptDiff(a, linesA, b, linesB, script, context, budget.coarse);
}

/** FNV-1a over a line's bytes. */
function hashLine(buf: Buffer, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ buf[i], 0x01000193);
  return h;
}

/**
 * Gives the middle lines of both sides (from line `from`, `ma` of a and `mb` of b) ids in
 * idsA/idsB, equal ids for byte-equal lines; answers how many ids there are.
 */
function intern(a: Buffer, linesA: Int32Array, b: Buffer, linesB: Int32Array, from: number, ma: number, mb: number): number {
  let size = 16;
  while (size < 2 * (ma + mb)) size *= 2;
  if (tableHash.length < size) {
    tableHash = new Int32Array(size);
    tableId = new Int32Array(size);
  } else {
    tableId.fill(0, 0, size);
  }
  if (idSide.length < ma + mb) {
    idSide = new Uint8Array(ma + mb);
    idLine = new Int32Array(ma + mb);
  }
  if (idsA.length < ma) idsA = new Int32Array(Math.max(ma, idsA.length * 2));
  if (idsB.length < mb) idsB = new Int32Array(Math.max(mb, idsB.length * 2));
  const mask = size - 1;
  let ids = 0;
  for (let side = 0; side < 2; side++) {
    const buf = side === 0 ? a : b;
    const lines = side === 0 ? linesA : linesB;
    const out = side === 0 ? idsA : idsB;
    const count = side === 0 ? ma : mb;
    for (let k = 0; k < count; k++) {
      const start = lines[from + k];
      const end = lines[from + k + 1];
      const h = hashLine(buf, start, end);
      let slot = (h ^ (h >>> 15)) & mask;
      let id = -1;
      for (;;) {
        const entry = tableId[slot];
        if (entry === 0) break;
        if (tableHash[slot] === h) {
          const other = entry - 1;
          const obuf = idSide[other] === 0 ? a : b;
          const olines = idSide[other] === 0 ? linesA : linesB;
          const os = olines[idLine[other]];
          const oe = olines[idLine[other] + 1];
          if (oe - os === end - start && sameBytes(buf, start, obuf, os, end - start)) {
            id = other;
            break;
          }
        }
        slot = (slot + 1) & mask;
      }
      if (id < 0) {
        id = ids++;
        idSide[id] = side;
        idLine[id] = from + k;
        tableHash[slot] = h;
        tableId[slot] = id + 1;
      }
      out[k] = id;
    }
  }
  return ids;
}

/** Whether `n` bytes of `x` from `xs` equal those of `y` from `ys` (a loop for short lines, where a native call costs more). */
function sameBytes(x: Buffer, xs: number, y: Buffer, ys: number, n: number): boolean {
  if (n > 64) return x.compare(y, ys, ys + n, xs, xs + n) === 0;
  for (let i = 0; i < n; i++) if (x[xs + i] !== y[ys + i]) return false;
  return true;
}

/**
 * The edit script: runs (common, removed, added) for each change, then the trailing common
 * run, in lines of the whole files.
 */
function toScript(na: number, nb: number): Int32Array {
  const runs: number[] = [];
  let common = 0;
  let i = 0;
  let j = 0;
  // changeA/changeB hold line k's mark at k + 1.
  while (i < na || j < nb) {
    if (i < na && j < nb && changeA[i + 1] === 0 && changeB[j + 1] === 0) {
      common++;
      i++;
      j++;
      continue;
    }
    const i0 = i;
    const j0 = j;
    while (i < na && changeA[i + 1] === 1) i++;
    while (j < nb && changeB[j + 1] === 1) j++;
    if (i === i0 && j === j0) throw new InternalError('the line diff left unchanged lines unpaired');
    runs.push(common, i - i0, j - j0);
    common = 0;
  }
  runs.push(common);
  return Int32Array.from(runs);
}

/** Line signs, as char codes. */
const SPACE = 0x20;
const PLUS = 0x2b;
const MINUS = 0x2d;
const SIGNS: Record<number, string> = { [SPACE]: ' ', [PLUS]: '+', [MINUS]: '-' };

/** Component kinds of structuredPatch's edit script. */
const COMMON = 0;
const ADDED = 1;
const REMOVED = 2;

/** What walkHunks reports: hunk lines in order, and where each hunk ends. */
interface HunkSink {
  /** Line `k` of the old side (MINUS) or the new side (SPACE, PLUS). */
  add(sign: number, k: number): void;
  /** The lines added since the last hunk make a hunk with this header. */
  close(oldStart: number, oldLines: number, newStart: number, newLines: number): void;
}

/** A diff as its edit script over the two blobs. */
class ScriptDiff implements LineDiff {
  readonly added: number;
  readonly removed: number;
  private size = -1;

  constructor(
    private readonly a: Buffer,
    private readonly linesA: Int32Array,
    private readonly b: Buffer,
    private readonly linesB: Int32Array,
    private readonly script: Int32Array,
    private readonly context: number,
    readonly coarse: boolean,
  ) {
    let added = 0;
    let removed = 0;
    for (let g = 0; g + 3 < script.length; g += 3) {
      removed += script[g + 1];
      added += script[g + 2];
    }
    this.added = added;
    this.removed = removed;
  }

  get bytes(): number {
    if (this.size < 0) {
      let n = 0;
      this.walk({
        add: (sign, k) => {
          const buf = sign === MINUS ? this.a : this.b;
          const lines = sign === MINUS ? this.linesA : this.linesB;
          const start = lines[k];
          const end = lines[k + 1];
          const terminated = buf[end - 1] === NEWLINE;
          const content = textLength(buf, start, terminated ? end - 1 : end);
          n += content + 2;
          if (!terminated) n += NO_NEWLINE.length + 1;
          if (sign === PLUS) n += content + 8;
        },
        close: () => {},
      });
      this.size = n;
    }
    return this.size;
  }

  hunks(): DiffHunk[] {
    const hunks: DiffHunk[] = [];
    let lines: string[] = [];
    this.walk({
      add: (sign, k) => {
        const buf = sign === MINUS ? this.a : this.b;
        const starts = sign === MINUS ? this.linesA : this.linesB;
        const start = starts[k];
        const end = starts[k + 1];
        if (buf[end - 1] === NEWLINE) {
          lines.push(SIGNS[sign] + buf.toString('utf8', start, end - 1));
        } else {
          lines.push(SIGNS[sign] + buf.toString('utf8', start, end), NO_NEWLINE);
        }
      },
      close: (oldStart, oldLines, newStart, newLines) => {
        hunks.push({ oldStart, oldLines, newStart, newLines, lines });
        lines = [];
      },
    });
    return hunks;
  }

  addedLines(): AddedLine[] {
    const { script, b, linesB } = this;
    const out: AddedLine[] = [];
    let np = 0;
    for (let g = 0; g + 3 < script.length; g += 3) {
      np += script[g];
      for (let k = np; k < np + script[g + 2]; k++) {
        const start = linesB[k];
        const end = linesB[k + 1];
        out.push({ line: k + 1, text: b.toString('utf8', start, b[end - 1] === NEWLINE ? end - 1 : end) });
      }
      np += script[g + 2];
    }
    return out;
  }

  /**
   * structuredPatch's hunks (diffLinesResultToPatch) for the script, numbered in the whole
   * files, told to `sink`.
   */
  private walk(sink: HunkSink): void {
    const { script, context } = this;
    // The components as jsdiff lists them (no empty ones), plus the empty common one it appends.
    const kinds: number[] = [];
    const counts: number[] = [];
    for (let g = 0; g < script.length; g++) {
      const count = script[g];
      if (count === 0) continue;
      const phase = g % 3;
      kinds.push(phase === 0 ? COMMON : phase === 1 ? REMOVED : ADDED);
      counts.push(count);
    }
    kinds.push(COMMON);
    counts.push(0);
    const total = kinds.length;
    let oldRangeStart = 0;
    let newRangeStart = 0;
    let oldLine = 1;
    let newLine = 1;
    for (let i = 0; i < total; i++) {
      const kind = kinds[i];
      const count = counts[i];
      // oldLine - 1 and newLine - 1 are the 0-based indices of the next old and new line.
      if (kind !== COMMON) {
        if (!oldRangeStart) {
          oldRangeStart = oldLine;
          newRangeStart = newLine;
          if (i > 0 && context > 0) {
            const take = Math.min(context, counts[i - 1]);
            for (let k = newLine - 1 - take; k < newLine - 1; k++) sink.add(SPACE, k);
            oldRangeStart -= take;
            newRangeStart -= take;
          }
        }
        if (kind === ADDED) {
          for (let k = newLine - 1; k < newLine - 1 + count; k++) sink.add(PLUS, k);
          newLine += count;
        } else {
          for (let k = oldLine - 1; k < oldLine - 1 + count; k++) sink.add(MINUS, k);
          oldLine += count;
        }
        continue;
      }
      if (oldRangeStart) {
        if (count <= context * 2 && i < total - 2) {
          for (let k = newLine - 1; k < newLine - 1 + count; k++) sink.add(SPACE, k);
        } else {
          const contextSize = Math.min(count, context);
          for (let k = newLine - 1; k < newLine - 1 + contextSize; k++) sink.add(SPACE, k);
          sink.close(oldRangeStart, oldLine - oldRangeStart + contextSize, newRangeStart, newLine - newRangeStart + contextSize);
          oldRangeStart = 0;
          newRangeStart = 0;
        }
      }
      oldLine += count;
      newLine += count;
    }
  }
}

/** Length in UTF-16 code units of bytes [start, end) decoded as UTF-8 (what string.length says). */
function textLength(buf: Buffer, start: number, end: number): number {
  for (let i = start; i < end; i++) {
    if (buf[i] >= 0x80) return buf.toString('utf8', start, end).length;
  }
  return end - start;
}
