/**
 * File changes between two trees: the tree diff, rename detection, each side's kind, size and
 * symlink target, and the content diff (unified hunks from `diff`'s structuredPatch, linediff.ts,
 * with the added lines numbered). One DiffEngine serves a whole push: it caches parsed trees (LRU),
 * blob sizes, similarity histograms and content diffs (a blob pair diffed for one commit is not
 * diffed again for the ref's net change), and it holds the push's diff-text budget.
 */
import type { Oid } from '@pushgate/core';
import { S_IFMT, decodeName, displayName, entryKind, type ObjectStore } from '@pushgate/objects';
import { ChangesError } from './errors';
import { countLines, lineDiff, planAddedHunks, planLineDiff } from './linediff';
import { ByteLru } from './lru';
import type { ResolvedOptions } from './options';
import type { Pacer } from './pace';
import { describePath, pathFields } from './paths';
import { detectRenames, type Pair } from './renames';
import { MAX_SCORE, hashChars, isBinary, type SimilarityInput, type SpanHash } from './similarity';
import { TreeCache, diffTrees, type EntryRef, type RawChange } from './trees';
import type { AddedLine, ContentDiff, DiffHunk, DiffSkipReason, FileChange, FileKind, FileSide, MergeChange, MergeContent, RenameDetection } from './types';

/** Symlink targets longer than this are not read as targets (PATH_MAX on Linux is 4096). */
const MAX_SYMLINK_TARGET = 4096;

/** Below this much budget left, no further diff is computed (it could not be kept). */
const MIN_DIFF_BUDGET = 256;

/** Counters the engine keeps for the change set's stats. */
export interface DiffCounters {
  diffBytes: number;
  binaryFiles: number;
  skipped: Record<DiffSkipReason, number>;
}

/** The file changes of one diff and how renames were found. */
export interface FileDiff {
  readonly files: FileChange[];
  readonly renames: RenameDetection;
}

/** The mode texts of canonical modes, made once (a change set has tens of thousands of sides). */
const MODE_TEXTS = new Map<number, string>([0o100644, 0o100755, 0o120000, 0o160000].map((m) => [m, m.toString(8).padStart(6, '0')]));

function modeText(mode: number): string {
  return MODE_TEXTS.get(mode) ?? mode.toString(8).padStart(6, '0');
}

function fileKind(mode: number): FileKind {
  const k = entryKind(mode);
  if (k === 'tree') throw new Error('a tree is not a file');
  return k;
}

/** Whether a side carries content to diff (blobs do; submodules are a commit id). */
function hasContent(ref: EntryRef | undefined): ref is EntryRef {
  return ref !== undefined && entryKind(ref.mode) !== 'submodule';
}

/** Added lines of hunks with their numbers in the new file. */
export function addedLinesOf(hunks: readonly DiffHunk[]): AddedLine[] {
  const out: AddedLine[] = [];
  for (const h of hunks) {
    let n = h.newStart;
    for (const l of h.lines) {
      const c = l.charCodeAt(0);
      if (c === 0x2b) out.push({ line: n++, text: l.slice(1) });
      else if (c === 0x20) n++;
    }
  }
  return out;
}

function diffTextBytes(hunks: readonly DiffHunk[], added: readonly AddedLine[]): number {
  let n = 0;
  for (const h of hunks) for (const l of h.lines) n += l.length + 1;
  for (const a of added) n += a.text.length + 8;
  return n;
}

/** Reads, diffs and caches for one push. */
export class DiffEngine {
  readonly trees: TreeCache;
  readonly counters: DiffCounters = { diffBytes: 0, binaryFiles: 0, skipped: { 'too-large': 0, 'budget-exhausted': 0, 'too-complex': 0 } };
  private readonly sizes = new Map<Oid, number>();
  private readonly spans = new Map<Oid, SpanHash | undefined>();
  private readonly contents = new Map<string, ContentDiff>();
  private readonly targets = new Map<Oid, string | undefined>();
  private readonly blobs: ByteLru<Oid, Buffer>;

  constructor(
    private readonly store: ObjectStore,
    private readonly options: ResolvedOptions,
    private readonly pacer: Pacer,
  ) {
    this.trees = new TreeCache(store, options.treeCacheBytes);
    this.blobs = new ByteLru(options.blobCacheBytes);
  }

  /** File changes from tree `a` to tree `b` (undefined: the empty tree), renames detected. */
  async diff(a: Oid | undefined, b: Oid | undefined, referencedBy: string): Promise<FileDiff> {
    const raw = await diffTrees(this.trees, a, b, this.pacer, referencedBy);
    const { pairs, detection } = await detectRenames(
      raw,
      { input: (oid, mode) => this.similarityInput(oid, mode, referencedBy) },
      { renameLimit: this.options.renameLimit, renameScore: this.options.renameScore },
      this.pacer,
    );
    const files: FileChange[] = [];
    for (const p of pairs) {
      files.push(this.fileChange(p, referencedBy));
      if (this.pacer.due()) await this.pacer.yield();
    }
    return { files, renames: detection };
  }

  /** The raw (rename-less) differences, for merges. */
  rawDiff(a: Oid | undefined, b: Oid | undefined, referencedBy: string): Promise<RawChange[]> {
    return diffTrees(this.trees, a, b, this.pacer, referencedBy);
  }

  private fileChange(p: Pair, referencedBy: string): FileChange {
    const by = (tree: Oid | undefined) => (tree ? `tree ${tree}` : referencedBy);
    if (p.kind === 'rename') {
      const old = this.side(p.from.path, p.from.old, by(p.from.oldTree));
      const next = this.side(p.to.path, p.to.new, by(p.to.newTree));
      return {
        status: 'renamed',
        old,
        new: next,
        similarity: Math.floor((p.score * 100) / MAX_SCORE),
        diff: this.content(p.from.old, p.to.new, referencedBy),
      };
    }
    const c = p.change;
    if (c.old && c.new) {
      const old = this.side(c.path, c.old, by(c.oldTree));
      const next = this.side(c.path, c.new, by(c.newTree));
      const sameType = (c.old.mode & S_IFMT) === (c.new.mode & S_IFMT);
      return { status: sameType ? 'modified' : 'type-changed', old, new: next, diff: this.content(c.old, c.new, referencedBy) };
    }
    if (c.new) return { status: 'added', new: this.side(c.path, c.new, by(c.newTree)), diff: this.content(undefined, c.new, referencedBy) };
    return { status: 'deleted', old: this.side(c.path, c.old!, by(c.oldTree)), diff: this.content(c.old, undefined, referencedBy) };
  }

  /** One side of a change: path, mode, kind, id, size, symlink target. */
  side(path: Buffer, ref: EntryRef, referencedBy: string): FileSide {
    const kind = fileKind(ref.mode);
    const p = pathFields(path);
    const mode = modeText(ref.mode);
    if (kind === 'submodule') return p.pathBytes === undefined ? { path: p.path, mode, kind, oid: ref.oid } : { path: p.path, pathBytes: p.pathBytes, mode, kind, oid: ref.oid };
    const size = (ref.size ??= this.blobSize(ref.oid, referencedBy, () => path));
    const target = kind === 'symlink' ? this.symlinkTarget(ref.oid, size) : undefined;
    // Built in one go, in the order the fields have always had (the change set is compared and stored as JSON).
    if (p.pathBytes === undefined) return target === undefined ? { path: p.path, mode, kind, oid: ref.oid, size } : { path: p.path, mode, kind, oid: ref.oid, size, target };
    return target === undefined
      ? { path: p.path, pathBytes: p.pathBytes, mode, kind, oid: ref.oid, size }
      : { path: p.path, pathBytes: p.pathBytes, mode, kind, oid: ref.oid, size, target };
  }

  private symlinkTarget(oid: Oid, size: number): string | undefined {
    if (this.targets.has(oid)) return this.targets.get(oid);
    const target = size <= MAX_SYMLINK_TARGET ? displayName(decodeName(this.blob(oid).data)) : undefined;
    this.targets.set(oid, target);
    return target;
  }

  /**
   * A blob's size from its header (cached); CHANGES_MISSING_OBJECT / WRONG_OBJECT_TYPE otherwise.
   * `path` is only built when there is something to report.
   */
  blobSize(oid: Oid, referencedBy?: string, path?: () => Buffer): number {
    const hit = this.sizes.get(oid);
    if (hit !== undefined) return hit;
    const h = this.store.header(oid);
    if (!h || h.type !== 'blob') {
      const where = path ? describePath(path()) : undefined;
      const data = { oid, ...(referencedBy ? { referencedBy } : {}), ...(where ? { path: where } : {}) };
      const at = `${where ? ` (${where})` : ''}${referencedBy ? ` referenced by ${referencedBy}` : ''}`;
      if (!h) throw new ChangesError('CHANGES_MISSING_OBJECT', `blob ${oid}${at} is in neither the push nor the upstream`, data);
      throw new ChangesError('CHANGES_WRONG_OBJECT_TYPE', `${oid}${at} is a ${h.type}, not a blob`, { ...data, expected: 'blob', actual: h.type });
    }
    this.sizes.set(oid, h.size);
    return h.size;
  }

  /** Blob content, through a small LRU: a file changed again later is read again as the old side. */
  private blob(oid: Oid): { data: Buffer } {
    const hit = this.blobs.get(oid);
    if (hit) return { data: hit };
    const obj = this.store.read(oid);
    if (!obj) throw new ChangesError('CHANGES_MISSING_OBJECT', `blob ${oid} is in neither the push nor the upstream`, { oid });
    if (obj.type !== 'blob') throw new ChangesError('CHANGES_WRONG_OBJECT_TYPE', `${oid} is a ${obj.type}, not a blob`, { oid, expected: 'blob', actual: obj.type });
    if (obj.data.length <= this.options.blobCacheBytes / 16) this.blobs.set(oid, obj.data, obj.data.length);
    return obj;
  }

  private similarityInput(oid: Oid, mode: number, referencedBy: string): SimilarityInput {
    const regular = entryKind(mode) === 'regular' || entryKind(mode) === 'executable';
    const size = regular ? this.blobSize(oid, referencedBy) : 0;
    // Asked once per candidate pair: the answer is kept here as well as in the engine's map.
    let known = false;
    let spans: SpanHash | undefined;
    return {
      regular,
      size,
      spans: () => {
        if (known) return spans;
        if (this.spans.has(oid)) {
          spans = this.spans.get(oid);
        } else {
          if (size <= this.options.maxRenameBlobBytes) {
            const data = this.blob(oid).data;
            spans = hashChars(data, !isBinary(data));
          }
          this.spans.set(oid, spans);
        }
        known = true;
        return spans;
      },
    };
  }

  private skip(reason: DiffSkipReason, detail: string): { kind: 'skipped'; reason: DiffSkipReason; detail: string } {
    this.counters.skipped[reason]++;
    return { kind: 'skipped', reason, detail };
  }

  /** The content diff from `old` to `next` (either may be absent), cached per blob pair. */
  content(old: EntryRef | undefined, next: EntryRef | undefined, referencedBy: string): ContentDiff {
    const a = hasContent(old) ? old : undefined;
    const b = hasContent(next) ? next : undefined;
    if (!a && !b) return { kind: 'none' };
    if (a && b && a.oid === b.oid) return { kind: 'none' };
    const key = `${a?.oid ?? ''}>${b?.oid ?? ''}`;
    const cached = this.contents.get(key);
    if (cached) return cached;
    const result = this.computeContent(a, b, referencedBy);
    this.contents.set(key, result);
    return result;
  }

  private computeContent(a: EntryRef | undefined, b: EntryRef | undefined, referencedBy: string): ContentDiff {
    const max = this.options.maxDiffFileBytes;
    const remaining = this.options.maxDiffTotalBytes - this.counters.diffBytes;
    const sizeA = a ? (a.size ??= this.blobSize(a.oid, referencedBy)) : 0;
    const sizeB = b ? (b.size ??= this.blobSize(b.oid, referencedBy)) : 0;
    if (sizeA > max || sizeB > max) {
      return this.skip('too-large', `${Math.max(sizeA, sizeB)} bytes exceeds the ${max}-byte diff limit`);
    }
    // A diff keeps at least the new side's changed lines; with the budget nearly spent, do not compute one to drop it.
    if (b && remaining < MIN_DIFF_BUDGET) {
      return this.skip('budget-exhausted', `the push's ${this.options.maxDiffTotalBytes}-byte diff budget is spent`);
    }
    const dataA = a ? this.blob(a.oid).data : Buffer.alloc(0);
    const dataB = b ? this.blob(b.oid).data : Buffer.alloc(0);
    if (isBinary(dataA) || isBinary(dataB)) {
      this.counters.binaryFiles++;
      return { kind: 'binary' };
    }
    if (!b) return { kind: 'removed-text', removed: countLines(dataA) };
    const diff = a ? planLineDiff(dataA, dataB, this.options.contextLines, this.options.maxDiffEditLength) : planAddedHunks(dataB);
    if (!diff) return this.skip('too-complex', `the line diff needs more than ${this.options.maxDiffEditLength} edits`);
    // Sized before any text is made: once the budget is nearly spent, most diffs are only sized.
    const bytes = diff.bytes;
    if (this.counters.diffBytes + bytes > this.options.maxDiffTotalBytes) {
      return this.skip('budget-exhausted', `${bytes} bytes of diff would exceed the push's ${this.options.maxDiffTotalBytes}-byte diff budget`);
    }
    const hunks = diff.hunks();
    const addedLines = addedLinesOf(hunks);
    let removed = 0;
    for (const h of hunks) for (const l of h.lines) if (l.charCodeAt(0) === 0x2d) removed++;
    this.counters.diffBytes += bytes;
    return { kind: 'text', added: addedLines.length, removed, hunks, addedLines };
  }

  /**
   * What a merge introduces: paths whose result differs from every parent (`git diff -c`), and
   * for text the result's lines that are added relative to every parent (`git diff --cc`'s `++`).
   */
  async mergeIntroduced(mergeOid: Oid, tree: Oid, parentTrees: readonly Oid[]): Promise<MergeChange[]> {
    const referencedBy = `commit ${mergeOid}`;
    const perParent: Map<string, RawChange>[] = [];
    for (const pt of parentTrees) {
      const raw = await this.rawDiff(pt, tree, referencedBy);
      perParent.push(new Map(raw.map((c) => [c.path.toString('latin1'), c])));
    }
    const out: MergeChange[] = [];
    for (const [key, first] of perParent[0]) {
      if (!perParent.every((m) => m.has(key))) continue;
      const path = first.path;
      const result = first.new;
      const parents = perParent.map((m) => m.get(key)!.old);
      out.push({
        ...pathFields(path),
        ...(result ? { result: this.side(path, result, referencedBy) } : {}),
        parents: parents.map((p) => (p ? this.side(path, p, referencedBy) : undefined)),
        content: this.mergeContent(result, parents, referencedBy),
      });
      await this.pacer.tick();
    }
    return out;
  }

  private mergeContent(result: EntryRef | undefined, parents: readonly (EntryRef | undefined)[], referencedBy: string): MergeContent {
    if (!hasContent(result)) return { kind: 'none' };
    const max = this.options.maxDiffFileBytes;
    const sides = parents.map((p) => (hasContent(p) ? p : undefined));
    const sizes = [result, ...sides].map((s) => (s ? this.blobSize(s.oid, referencedBy) : 0));
    if (sizes.some((s) => s > max)) return this.skip('too-large', `${Math.max(...sizes)} bytes exceeds the ${max}-byte diff limit`);
    const resultData = this.blob(result.oid).data;
    const parentData = sides.map((s) => (s ? this.blob(s.oid).data : Buffer.alloc(0)));
    if (isBinary(resultData) || parentData.some((d) => isBinary(d))) {
      this.counters.binaryFiles++;
      return { kind: 'binary' };
    }
    // A line of the result is introduced when it is added against every parent; its text is the
    // same in every parent's diff (it is the result's line).
    let introduced: Map<number, string> | undefined;
    for (const d of parentData) {
      const hunks = lineDiff(d, resultData, 0, this.options.maxDiffEditLength);
      if (!hunks) return this.skip('too-complex', `the line diff needs more than ${this.options.maxDiffEditLength} edits`);
      const added = new Map(addedLinesOf(hunks).map((l) => [l.line, l.text]));
      introduced = introduced ? new Map([...introduced].filter(([n]) => added.has(n))) : added;
    }
    const introducedLines = [...(introduced ?? [])].sort((x, y) => x[0] - y[0]).map(([line, text]) => ({ line, text }));
    const bytes = diffTextBytes([], introducedLines);
    if (this.counters.diffBytes + bytes > this.options.maxDiffTotalBytes) {
      return this.skip('budget-exhausted', `${bytes} bytes of diff would exceed the push's ${this.options.maxDiffTotalBytes}-byte diff budget`);
    }
    this.counters.diffBytes += bytes;
    return { kind: 'text', introducedLines };
  }
}
