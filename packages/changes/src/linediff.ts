/**
 * Line diffs: the hunks `diff`'s structuredPatch gives for two blobs decoded as UTF-8, computed
 * faster and without holding on to either text.
 *
 * First the lines both sides share at the start and the end are trimmed (as git's xdiff does,
 * xdl_trim_ends), keeping `context` of them, so a two-line edit in a long file costs a diff of a
 * few lines; hunks are numbered in the whole file. Then the remaining lines are diffed with
 * jsdiff's own algorithm (diff 9, lib/diff/base.js: Myers's O(ND) with its diagonal pruning and
 * its choice between an insertion and a deletion) and turned into hunks as its structuredPatch
 * does (lib/patch/create.js), so the result is the one structuredPatch gives for the trimmed
 * text, element for element. jsdiff keeps every partial path as a linked list of objects and
 * compares lines through an options-aware `equals`; here the paths live in typed arrays and
 * lines are compared with `===`. An edit script long enough to outgrow the arrays (more than a
 * few hundred edits, rare in one commit) is left to jsdiff itself.
 *
 * Lines are slices of the decoded blob, which must not outlive the diff: a hunk line that were
 * such a slice would keep the whole text alive as long as the change set, which the diff budget
 * does not count. So each hunk's lines are joined into one string of the hunk's own and sliced
 * from that.
 */
import { InternalError } from '@pushgate/core';
import { structuredPatch } from 'diff';
import type { DiffHunk } from './types';

const NEWLINE = 0x0a;
const NO_NEWLINE = '\\ No newline at end of file';

/**
 * A computed line diff: how many bytes of diff text it comes to, as the change set counts them
 * (each hunk line's length + 1, each added line's length + 8), and its hunks. The hunks are only
 * made when asked for, so a diff that does not fit the push's budget costs no strings; ask before
 * the next diff starts (the edit script lives in scratch the next diff reuses).
 */
export interface LineDiff {
  readonly bytes: number;
  hunks(): DiffHunk[];
}

/**
 * The diff from `a` to `b` (blob bytes, read as UTF-8) with `context` lines around changes, or
 * undefined when it would take more than `maxEditLength` edits.
 */
export function planLineDiff(a: Uint8Array, b: Uint8Array, context: number, maxEditLength: number): LineDiff | undefined {
  return diffLines(new Lines(asBuffer(a).toString('utf8')), new Lines(asBuffer(b).toString('utf8')), context, maxEditLength);
}

/** The hunks of planLineDiff, made at once. */
export function lineDiff(a: Uint8Array, b: Uint8Array, context: number, maxEditLength: number): DiffHunk[] | undefined {
  return planLineDiff(a, b, context, maxEditLength)?.hunks();
}

/** The diff structuredPatch gives from nothing to `b` (an added file): every line added. */
export function planAddedHunks(b: Uint8Array): LineDiff {
  const lines = new Lines(asBuffer(b).toString('utf8'));
  const generation = ++generations;
  let bytes = 0;
  for (let k = 0; k < lines.count; k++) bytes += lineBytes(lines, PLUS, k);
  return {
    bytes,
    hunks: () => {
      if (lines.count === 0) return [];
      current(generation);
      for (let k = 0; k < lines.count; k++) hunkLines.add(PLUS, k);
      return [{ oldStart: 1, oldLines: 0, newStart: 1, newLines: lines.count, lines: hunkLines.take(lines, lines) }];
    },
  };
}

/** The hunk structuredPatch gives from nothing to `b` (an added file). */
export function addedHunks(b: Uint8Array): DiffHunk[] {
  return planAddedHunks(b).hunks();
}

/** Diffs started so far: a plan's hunks must come before the next one reuses the scratch. */
let generations = 0;

function current(generation: number): void {
  if (generation !== generations) throw new InternalError('a line diff was read after the next one started');
}

/** Bytes line `k` of `lines` adds to the diff text as a hunk line with `sign` (and as an added line). */
function lineBytes(lines: Lines, sign: number, k: number): number {
  const line = lines.lines[k];
  const terminated = line.charCodeAt(line.length - 1) === NEWLINE;
  const content = terminated ? line.length - 1 : line.length;
  let n = content + 2;
  if (!terminated) n += NO_NEWLINE.length + 1;
  if (sign === PLUS) n += content + 8;
  return n;
}

/** Lines in a blob: `\n`-terminated, the last one perhaps not (structuredPatch's). */
export function countLines(data: Uint8Array): number {
  const buf = asBuffer(data);
  let n = 0;
  for (let at = buf.indexOf(NEWLINE); at >= 0; at = buf.indexOf(NEWLINE, at + 1)) n++;
  return buf.length > 0 && buf[buf.length - 1] !== NEWLINE ? n + 1 : n;
}

function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** Scratch arrays are kept between diffs only up to this many elements (a huge file's are dropped). */
const KEEP_SCRATCH = 1 << 16;

/** One side's lines: jsdiff's tokens, each with its terminator (the last one may have none). */
class Lines {
  readonly count: number;
  readonly lines: string[];

  constructor(text: string) {
    const out: string[] = [];
    let start = 0;
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) {
      out.push(text.slice(start, i + 1));
      start = i + 1;
    }
    if (start < text.length) out.push(text.slice(start));
    this.lines = out;
    this.count = out.length;
  }

  /** The text of lines [from, to), for handing to jsdiff. */
  text(from: number, to: number): string {
    return this.lines.slice(from, to).join('');
  }
}

function diffLines(la: Lines, lb: Lines, context: number, maxEditLength: number): LineDiff | undefined {
  const generation = ++generations;
  const a = la.lines;
  const b = lb.lines;
  let prefix = 0;
  const shorter = Math.min(a.length, b.length);
  while (prefix < shorter && a[prefix] === b[prefix]) prefix++;
  let suffix = 0;
  while (suffix < shorter - prefix && a[a.length - 1 - suffix] === b[b.length - 1 - suffix]) suffix++;
  // Keep `context` shared lines on each side so the hunks carry the same context as a full diff.
  const start = Math.max(0, prefix - context);
  const keepEnd = Math.max(0, suffix - context);
  const oldLen = a.length - keepEnd - start;
  const newLen = b.length - keepEnd - start;
  const script = editScript(a, b, start, oldLen, newLen, Math.min(oldLen + newLen, maxEditLength));
  if (script === TOO_MANY_EDITS) return undefined;
  if (script !== OUT_OF_NODES) {
    const sizer = new Sizer(la, lb);
    walkHunks(script, start, context, sizer);
    return {
      bytes: sizer.bytes,
      hunks: () => {
        current(generation);
        const maker = new HunkMaker(la, lb);
        walkHunks(script, start, context, maker);
        return maker.hunks;
      },
    };
  }
  const patch = structuredPatch('a', 'b', la.text(start, start + oldLen), lb.text(start, start + newLen), undefined, undefined, { context, maxEditLength });
  if (!patch) return undefined;
  // Strings of their own: jsdiff's lines may be slices of its copies of the text.
  const hunks = patch.hunks.map((h) => ({
    oldStart: h.oldStart + start,
    oldLines: h.oldLines,
    newStart: h.newStart + start,
    newLines: h.newLines,
    lines: h.lines.map((l) => Buffer.from(l, 'utf8').toString('utf8')),
  }));
  let bytes = 0;
  for (const h of hunks) {
    for (const l of h.lines) {
      bytes += l.length + 1;
      if (l.charCodeAt(0) === PLUS) bytes += l.length - 1 + 8;
    }
  }
  return { bytes, hunks: () => hunks };
}

/** Component kinds of an edit script (jsdiff's change objects: common, added, removed). */
const COMMON = 0;
const ADDED = 1;
const REMOVED = 2;

/** editScript's answers besides a script: over the edit limit, or out of node space. */
const TOO_MANY_EDITS = -2;
const OUT_OF_NODES = -3;

/**
 * Nodes of the partial paths (kind, line count, previous node), shared by every diff (they are
 * synchronous). Each round of edit length E adds at most two nodes per diagonal, so 2^18 nodes
 * (2.3 MB) serve edit scripts of about 350 edits; longer ones go to jsdiff.
 */
const MAX_NODES = 1 << 18;
let nodeKind = new Uint8Array(4096);
let nodeCount = new Int32Array(4096);
let nodePrev = new Int32Array(4096);
let nodes = 0;

function node(kind: number, count: number, prev: number): number {
  if (nodes === nodeKind.length) {
    const size = nodes * 2;
    const k = new Uint8Array(size);
    k.set(nodeKind);
    const c = new Int32Array(size);
    c.set(nodeCount);
    const p = new Int32Array(size);
    p.set(nodePrev);
    nodeKind = k;
    nodeCount = c;
    nodePrev = p;
  }
  nodeKind[nodes] = kind;
  nodeCount[nodes] = count;
  nodePrev[nodes] = prev;
  return nodes++;
}

/** jsdiff's addToPath: one more added or removed line on path `last`. */
function extend(last: number, kind: number): number {
  if (last >= 0 && nodeKind[last] === kind) return node(kind, nodeCount[last] + 1, nodePrev[last]);
  return node(kind, 1, last);
}

/** Scratch for the diagonals of editScript, cleared per use; kept only up to KEEP_SCRATCH. */
let diagonalScratch = { defined: new Uint8Array(1024), pathOld: new Int32Array(1024), pathLast: new Int32Array(1024) };

function diagonals(size: number): typeof diagonalScratch {
  if (size > KEEP_SCRATCH) return { defined: new Uint8Array(size), pathOld: new Int32Array(size), pathLast: new Int32Array(size) };
  if (diagonalScratch.defined.length < size) {
    const n = Math.min(KEEP_SCRATCH, Math.max(size, diagonalScratch.defined.length * 2));
    diagonalScratch = { defined: new Uint8Array(n), pathOld: new Int32Array(n), pathLast: new Int32Array(n) };
  } else {
    diagonalScratch.defined.fill(0, 0, size);
  }
  return diagonalScratch;
}

/**
 * jsdiff's diffWithOptionsObj over old lines `a[start, start + oldLen)` and new lines
 * `b[start, start + newLen)`: the last node of the edit script (-1 for an empty one),
 * TOO_MANY_EDITS past `maxEdit` edits, or OUT_OF_NODES. Variable names follow jsdiff.
 */
function editScript(a: readonly string[], b: readonly string[], start: number, oldLen: number, newLen: number, maxEdit: number): number {
  nodes = 0;
  // bestPath[diagonal]: defined or not, its oldPos and its last component, for diagonals
  // -(oldLen + newLen + 1) .. oldLen + newLen + 1.
  const off = oldLen + newLen + 1;
  const { defined, pathOld, pathLast } = diagonals(2 * off + 1);

  let oldPos = -1;
  let newPos = -1;
  let common = 0;
  while (newPos + 1 < newLen && oldPos + 1 < oldLen && a[start + oldPos + 1] === b[start + newPos + 1]) {
    newPos++;
    oldPos++;
    common++;
  }
  let last = common > 0 ? node(COMMON, common, -1) : -1;
  if (oldPos + 1 >= oldLen && newPos + 1 >= newLen) return last;
  defined[off] = 1;
  pathOld[off] = oldPos;
  pathLast[off] = last;

  let minDiagonal = -Infinity;
  let maxDiagonal = Infinity;
  for (let editLength = 1; editLength <= maxEdit; editLength++) {
    if (nodes + 2 * (2 * editLength + 1) > MAX_NODES) return OUT_OF_NODES;
    const top = Math.min(maxDiagonal, editLength);
    for (let d = Math.max(minDiagonal, -editLength); d <= top; d += 2) {
      const r = off + d - 1;
      const q = off + d + 1;
      const hasRemove = defined[r] === 1;
      const hasAdd = defined[q] === 1;
      if (hasRemove) defined[r] = 0;
      let canAdd = false;
      if (hasAdd) {
        const addNewPos = pathOld[q] - d;
        canAdd = 0 <= addNewPos && addNewPos < newLen;
      }
      const canRemove = hasRemove && pathOld[r] + 1 < oldLen;
      if (!canAdd && !canRemove) {
        defined[off + d] = 0;
        continue;
      }
      if (!canRemove || (canAdd && pathOld[r] < pathOld[q])) {
        oldPos = pathOld[q];
        last = extend(pathLast[q], ADDED);
      } else {
        oldPos = pathOld[r] + 1;
        last = extend(pathLast[r], REMOVED);
      }
      newPos = oldPos - d;
      common = 0;
      while (newPos + 1 < newLen && oldPos + 1 < oldLen && a[start + oldPos + 1] === b[start + newPos + 1]) {
        newPos++;
        oldPos++;
        common++;
      }
      if (common > 0) last = node(COMMON, common, last);
      if (oldPos + 1 >= oldLen && newPos + 1 >= newLen) return last;
      defined[off + d] = 1;
      pathOld[off + d] = oldPos;
      pathLast[off + d] = last;
      if (oldPos + 1 >= oldLen) maxDiagonal = Math.min(maxDiagonal, d - 1);
      if (newPos + 1 >= newLen) minDiagonal = Math.max(minDiagonal, d + 1);
    }
  }
  return TOO_MANY_EDITS;
}

/** Line signs, as char codes. */
const SPACE = 0x20;
const PLUS = 0x2b;
const MINUS = 0x2d;
/** The sign strings by char code. */
const SIGNS: Record<number, string> = { [SPACE]: ' ', [PLUS]: '+', [MINUS]: '-' };

/**
 * The lines of one hunk, collected as (sign, line) and made into strings together: joined into
 * one string of the hunk's own, then sliced, so nothing outside the hunk is kept. Diffs are
 * synchronous, so one instance serves them all.
 */
class HunkLines {
  private readonly signs: number[] = [];
  private readonly index: number[] = [];
  private readonly parts: string[] = [];

  /** Adds line `k` of the old side (MINUS) or the new side (SPACE, PLUS). */
  add(sign: number, k: number): void {
    this.signs.push(sign);
    this.index.push(k);
  }

  /** The lines as structuredPatch writes them (`\n` dropped, or the no-newline marker added); resets. */
  take(la: Lines, lb: Lines): string[] {
    const { signs, index, parts } = this;
    const n = signs.length;
    // sign, line, sign, line, ...: join copies them into one string without a string per pair.
    parts.length = 2 * n;
    for (let k = 0; k < n; k++) {
      parts[2 * k] = SIGNS[signs[k]];
      parts[2 * k + 1] = (signs[k] === MINUS ? la : lb).lines[index[k]];
    }
    const text = parts.join('');
    const out: string[] = [];
    let from = 0;
    for (let k = 0; k < n; k++) {
      const to = from + 1 + parts[2 * k + 1].length;
      if (text.charCodeAt(to - 1) === NEWLINE) {
        out.push(text.slice(from, to - 1));
      } else {
        out.push(text.slice(from, to), NO_NEWLINE);
      }
      from = to;
    }
    signs.length = 0;
    index.length = 0;
    parts.length = 0;
    return out;
  }
}

const hunkLines = new HunkLines();

/** An edit script's components in order (scratch: a typed array per diff costs an ArrayBuffer). */
let componentKinds = new Uint8Array(256);
let componentCounts = new Int32Array(256);

/** What walkHunks reports: hunk lines in order, and where each hunk ends. */
interface HunkSink {
  /** Line `k` of the old side (MINUS) or the new side (SPACE, PLUS). */
  add(sign: number, k: number): void;
  /** The lines added since the last hunk make a hunk with this header. */
  close(oldStart: number, oldLines: number, newStart: number, newLines: number): void;
}

/** Counts the bytes of diff text (see LineDiff) without making any. */
class Sizer implements HunkSink {
  bytes = 0;

  constructor(
    private readonly la: Lines,
    private readonly lb: Lines,
  ) {}

  add(sign: number, k: number): void {
    this.bytes += lineBytes(sign === MINUS ? this.la : this.lb, sign, k);
  }

  close(): void {
    // Headers are not diff text.
  }
}

/** Makes the hunks. */
class HunkMaker implements HunkSink {
  readonly hunks: DiffHunk[] = [];

  constructor(
    private readonly la: Lines,
    private readonly lb: Lines,
  ) {}

  add(sign: number, k: number): void {
    hunkLines.add(sign, k);
  }

  close(oldStart: number, oldLines: number, newStart: number, newLines: number): void {
    this.hunks.push({ oldStart, oldLines, newStart, newLines, lines: hunkLines.take(this.la, this.lb) });
  }
}

/**
 * structuredPatch's hunks (diffLinesResultToPatch) for the edit script ending at node `last`,
 * over old and new lines from index `start`, numbered in the whole files, told to `sink`.
 */
function walkHunks(last: number, start: number, context: number, sink: HunkSink): void {
  let n = 0;
  for (let c = last; c >= 0; c = nodePrev[c]) n++;
  // The components in order, plus the empty common component jsdiff appends.
  if (componentKinds.length < n + 1) {
    componentKinds = new Uint8Array(Math.max(n + 1, componentKinds.length * 2));
    componentCounts = new Int32Array(componentKinds.length);
  }
  const kinds = componentKinds;
  const counts = componentCounts;
  kinds[n] = COMMON;
  counts[n] = 0;
  for (let c = last, i = n - 1; c >= 0; c = nodePrev[c], i--) {
    kinds[i] = nodeKind[c];
    counts[i] = nodeCount[c];
  }
  const total = n + 1;
  let oldRangeStart = 0;
  let newRangeStart = 0;
  let oldLine = 1;
  let newLine = 1;
  let op = start;
  let np = start;
  for (let i = 0; i < total; i++) {
    const kind = kinds[i];
    const count = counts[i];
    if (kind !== COMMON) {
      if (!oldRangeStart) {
        oldRangeStart = oldLine;
        newRangeStart = newLine;
        if (i > 0 && context > 0) {
          // The previous component is common; its lines are the new side's just before `np`.
          const take = Math.min(context, counts[i - 1]);
          for (let k = np - take; k < np; k++) sink.add(SPACE, k);
          oldRangeStart -= take;
          newRangeStart -= take;
        }
      }
      if (kind === ADDED) {
        for (let k = np; k < np + count; k++) sink.add(PLUS, k);
        newLine += count;
        np += count;
      } else {
        for (let k = op; k < op + count; k++) sink.add(MINUS, k);
        oldLine += count;
        op += count;
      }
      continue;
    }
    if (oldRangeStart) {
      if (count <= context * 2 && i < total - 2) {
        for (let k = np; k < np + count; k++) sink.add(SPACE, k);
      } else {
        const contextSize = Math.min(count, context);
        for (let k = np; k < np + contextSize; k++) sink.add(SPACE, k);
        sink.close(oldRangeStart + start, oldLine - oldRangeStart + contextSize, newRangeStart + start, newLine - newRangeStart + contextSize);
        oldRangeStart = 0;
        newRangeStart = 0;
      }
    }
    oldLine += count;
    newLine += count;
    op += count;
    np += count;
  }
}
