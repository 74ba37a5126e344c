/**
 * A push's content on demand: line diffs, added lines and a merge's own lines, per (commit, path),
 * computed only when someone asks — the policy's content rules and secret scanner, the review
 * page of a held push. The change set itself stays at file level.
 *
 * A content rule is meant to work blob-first: `newBlobs()` lists every blob the push's changes
 * bring, once each whatever number of commits touch it, with the (commit, path) sites that bring
 * it; a rule reads each blob once (`blob()`), and only where something matched asks
 * `addedLines()` of those sites, instead of diffing every file of every commit.
 *
 * Bounds (with the skip reasons policy can refuse on): a side larger than `maxDiffFileBytes` is
 * not diffed (`too-large`); once this reader has produced `maxDiffTotalBytes` of diff text, further
 * diffs are `budget-exhausted`; a diff whose work exceeds `maxDiffWork` degrades to a coarser but
 * correct one (`coarse: true`) rather than giving up.
 */
import type { Oid } from '@pushgate/core';
import type { ObjectStore } from '@pushgate/objects';
import { Blobs } from './blobs';
import { addedFileDiff, countLines, lineDiff, type LineDiff } from './linediff';
import { resolveOptions, type ChangeSetOptions, type ResolvedOptions } from './options';
import { Pacer } from './pace';
import { isBinary } from './similarity';
import type { AddedContent, AddedLine, ChangeSet, CommitChange, ContentDiff, DiffSkipReason, FileChange, FileKind, FileSide, MergeChange, MergeContent } from './types';

/** Counters of the content read so far. */
export interface ContentCounters {
  /** Bytes of diff text produced (hunk lines and added lines), within `maxDiffTotalBytes`. */
  diffBytes: number;
  diffs: number;
  coarseDiffs: number;
  binaryFiles: number;
  blobsRead: number;
  skipped: Record<DiffSkipReason, number>;
}

/** Where a new blob is brought: the commit and the path it has there. */
export interface BlobSite {
  readonly commit: Oid;
  readonly path: string;
}

/** A blob a push's changes bring (the new side of an added, modified, renamed or type-changed file). */
export interface NewBlob {
  readonly oid: Oid;
  readonly size: number;
  readonly kind: Exclude<FileKind, 'submodule'>;
  /** Whether the upstream already has this blob (a revert, a copy): its content is not new to the repository. */
  readonly inUpstream: boolean;
  /** Every (commit, path) that brings it, in commit order. */
  readonly sites: readonly BlobSite[];
}

/** A blob's content as a content rule reads it. */
export type BlobContent =
  | { readonly kind: 'text'; readonly data: Buffer }
  | { readonly kind: 'binary'; readonly size: number }
  | { readonly kind: 'skipped'; readonly reason: DiffSkipReason; readonly detail: string };

/** What a ChangeContent reads from. */
export interface ChangeContentInput {
  readonly changeSet: ChangeSet;
  /** Pushed objects over the mirror (the store the change set was built from). */
  readonly store: ObjectStore;
  /** The mirror's own store: what the upstream already has (for NewBlob.inUpstream). */
  readonly mirror?: ObjectStore;
  readonly options?: ChangeSetOptions;
  readonly signal?: AbortSignal;
}

/**
 * Largest blob `blob()` hands out for scanning (a linear pass, unlike a diff): larger blobs are
 * `too-large`, so a rule can refuse content it could not see. 16 MiB: far above source files.
 */
const MAX_SCAN_BLOB_BYTES = 16 * 1024 * 1024;

/** Below this much budget left, no further diff is computed (it could not be kept). */
const MIN_DIFF_BUDGET = 256;

/** Content of one push's changes, read and diffed on demand (see the module comment). */
export class ChangeContent {
  readonly counters: ContentCounters = { diffBytes: 0, diffs: 0, coarseDiffs: 0, binaryFiles: 0, blobsRead: 0, skipped: { 'too-large': 0, 'budget-exhausted': 0 } };
  private readonly options: ResolvedOptions;
  private readonly blobs: Blobs;
  private readonly pacer: Pacer;
  private readonly commits: Map<Oid, CommitChange>;

  constructor(private readonly input: ChangeContentInput) {
    this.options = resolveOptions(input.options);
    this.blobs = new Blobs(input.store, this.options.blobCacheBytes);
    this.pacer = new Pacer(input.signal, undefined);
    this.commits = new Map(input.changeSet.commits.map((c) => [c.oid, c]));
  }

  /** The file change at `path` (either side's path) in new commit `commit`, if there is one. */
  change(commit: Oid, path: string): FileChange | undefined {
    const c = this.commits.get(commit);
    if (!c) return undefined;
    for (const f of c.files) if ((f.status !== 'deleted' && f.new.path === path) || (f.status !== 'added' && f.old.path === path)) return f;
    return undefined;
  }

  /** The content diff of `path` in commit `commit` (undefined: no such change). */
  async diff(commit: Oid, path: string): Promise<ContentDiff | undefined> {
    const f = this.change(commit, path);
    return f && this.diffOf(f);
  }

  /** The added lines of `path` in commit `commit` (undefined: no such change). */
  async addedLines(commit: Oid, path: string): Promise<AddedContent | undefined> {
    const f = this.change(commit, path);
    return f && this.addedLinesOf(f);
  }

  /** The content diff of a file change: hunks, counts and added lines. */
  async diffOf(change: FileChange): Promise<ContentDiff> {
    await this.pacer.tick();
    const [a, b] = sides(change);
    if (!a && !b) return { kind: 'none' };
    if (a && b && a.oid === b.oid) return { kind: 'none' };
    const refused = this.refuse(a, b);
    if (refused) return refused;
    const dataA = a ? this.blobs.read(a.oid) : EMPTY;
    const dataB = b ? this.blobs.read(b.oid) : EMPTY;
    if (isBinary(dataA) || isBinary(dataB)) {
      this.counters.binaryFiles++;
      return { kind: 'binary' };
    }
    if (!b) return { kind: 'removed-text', removed: countLines(dataA) };
    const d = this.lineDiff(a ? dataA : undefined, dataB);
    if (this.counters.diffBytes + d.bytes > this.options.maxDiffTotalBytes) return this.overBudget(d.bytes);
    this.counters.diffBytes += d.bytes;
    return { kind: 'text', added: d.added, removed: d.removed, coarse: d.coarse, hunks: d.hunks(), addedLines: d.addedLines() };
  }

  /** The lines a file change adds (no hunks made), numbered in the new file. */
  async addedLinesOf(change: FileChange): Promise<AddedContent> {
    await this.pacer.tick();
    const [a, b] = sides(change);
    if (!b || (a && a.oid === b.oid)) return { kind: 'none' };
    const refused = this.refuse(a, b);
    if (refused) return refused;
    const dataA = a ? this.blobs.read(a.oid) : EMPTY;
    const dataB = this.blobs.read(b.oid);
    if (isBinary(dataA) || isBinary(dataB)) {
      this.counters.binaryFiles++;
      return { kind: 'binary' };
    }
    const d = this.lineDiff(a ? dataA : undefined, dataB);
    const lines = d.addedLines();
    const bytes = addedBytes(lines);
    if (this.counters.diffBytes + bytes > this.options.maxDiffTotalBytes) return this.overBudget(bytes);
    this.counters.diffBytes += bytes;
    return { kind: 'text', coarse: d.coarse, lines };
  }

  /**
   * What a merge's result has at `change.path` that no parent has: the result's lines added
   * relative to every parent (`git diff --cc`'s `++` lines) — an "evil merge" shows here.
   */
  async mergeContentOf(change: MergeChange): Promise<MergeContent> {
    await this.pacer.tick();
    const result = contentOf(change.result);
    if (!result) return { kind: 'none' };
    const parents = change.parents.map(contentOf);
    const max = this.options.maxDiffFileBytes;
    const sizes = [result, ...parents].map((s) => s?.size ?? 0);
    if (sizes.some((s) => s > max)) return this.skip('too-large', `${Math.max(...sizes)} bytes exceeds the ${max}-byte diff limit`);
    if (this.options.maxDiffTotalBytes - this.counters.diffBytes < MIN_DIFF_BUDGET) return this.overBudget(0);
    const resultData = this.blobs.read(result.oid);
    const parentData = parents.map((p) => (p ? this.blobs.read(p.oid) : EMPTY));
    if (isBinary(resultData) || parentData.some((d) => isBinary(d))) {
      this.counters.binaryFiles++;
      return { kind: 'binary' };
    }
    // A line of the result is introduced when it is added against every parent; its text is the
    // same in every parent's diff (it is the result's line).
    let introduced: Map<number, string> | undefined;
    let coarse = false;
    for (const d of parentData) {
      const diff = this.lineDiff(d.length ? d : undefined, resultData);
      coarse ||= diff.coarse;
      const added = new Map(diff.addedLines().map((l) => [l.line, l.text]));
      introduced = introduced ? new Map([...introduced].filter(([n]) => added.has(n))) : added;
    }
    const introducedLines = [...(introduced ?? [])].sort((x, y) => x[0] - y[0]).map(([line, text]) => ({ line, text }));
    const bytes = addedBytes(introducedLines);
    if (this.counters.diffBytes + bytes > this.options.maxDiffTotalBytes) return this.overBudget(bytes);
    this.counters.diffBytes += bytes;
    return { kind: 'text', coarse, introducedLines };
  }

  /** A merge's own content at `path` (undefined: not a merge, or no such path among its changes). */
  async mergeContent(commit: Oid, path: string): Promise<MergeContent | undefined> {
    const c = this.commits.get(commit);
    if (!c || c.merge.kind !== 'merge') return undefined;
    const m = c.merge.introduced.find((x) => x.path === path);
    return m && this.mergeContentOf(m);
  }

  /** Every blob the push's changes bring, once each, with the sites that bring it (see the module comment). */
  newBlobs(): NewBlob[] {
    const byOid = new Map<Oid, { oid: Oid; size: number; kind: Exclude<FileKind, 'submodule'>; sites: BlobSite[] }>();
    for (const c of this.input.changeSet.commits) {
      // Summaries, read from the change set's columns: no FileChange made for each of a large push's changes.
      for (const f of c.files.summaries()) {
        if (f.newOid === undefined || f.newKind === undefined || f.newKind === 'submodule' || f.sameObject) continue;
        let entry = byOid.get(f.newOid);
        if (!entry) {
          entry = { oid: f.newOid, size: f.size ?? 0, kind: f.newKind, sites: [] };
          byOid.set(f.newOid, entry);
        }
        entry.sites.push({ commit: c.oid, path: f.path });
      }
    }
    const mirror = this.input.mirror;
    return [...byOid.values()].map((b) => ({ ...b, inUpstream: mirror ? mirror.has(b.oid) : false }));
  }

  /** A blob's content for scanning, or why it cannot be scanned (binary, too large). */
  async blob(oid: Oid): Promise<BlobContent> {
    await this.pacer.tick();
    const size = this.blobs.size(oid);
    if (size > MAX_SCAN_BLOB_BYTES) return this.skip('too-large', `${size} bytes exceeds the ${MAX_SCAN_BLOB_BYTES}-byte content limit`);
    const data = this.blobs.read(oid);
    this.counters.blobsRead++;
    if (isBinary(data)) {
      this.counters.binaryFiles++;
      return { kind: 'binary', size };
    }
    return { kind: 'text', data };
  }

  private lineDiff(a: Buffer | undefined, b: Buffer): LineDiff {
    this.counters.diffs++;
    const d = a ? lineDiff(a, b, { context: this.options.contextLines, maxWork: this.options.maxDiffWork }) : addedFileDiff(b);
    if (d.coarse) this.counters.coarseDiffs++;
    return d;
  }

  /** A size or budget refusal before any content is read, or undefined. */
  private refuse(a: FileSide | undefined, b: FileSide | undefined): Extract<ContentDiff, { kind: 'skipped' }> | undefined {
    const max = this.options.maxDiffFileBytes;
    const sizeA = a?.size ?? 0;
    const sizeB = b?.size ?? 0;
    if (sizeA > max || sizeB > max) return this.skip('too-large', `${Math.max(sizeA, sizeB)} bytes exceeds the ${max}-byte diff limit`);
    // A diff keeps at least the new side's changed lines; with the budget nearly spent, do not compute one to drop it.
    if (b && this.options.maxDiffTotalBytes - this.counters.diffBytes < MIN_DIFF_BUDGET) return this.overBudget(0);
    return undefined;
  }

  private overBudget(bytes: number): Extract<ContentDiff, { kind: 'skipped' }> {
    const detail =
      bytes > 0
        ? `${bytes} bytes of diff would exceed the push's ${this.options.maxDiffTotalBytes}-byte diff budget`
        : `the push's ${this.options.maxDiffTotalBytes}-byte diff budget is spent`;
    return this.skip('budget-exhausted', detail);
  }

  private skip(reason: DiffSkipReason, detail: string): Extract<ContentDiff, { kind: 'skipped' }> {
    this.counters.skipped[reason]++;
    return { kind: 'skipped', reason, detail };
  }
}

const EMPTY = Buffer.alloc(0);

/** A side that carries content (submodules are a commit id, not content). */
function contentOf(side: FileSide | undefined): FileSide | undefined {
  return side && side.kind !== 'submodule' ? side : undefined;
}

function sides(change: FileChange): [FileSide | undefined, FileSide | undefined] {
  const old = change.status === 'added' ? undefined : change.old;
  const next = change.status === 'deleted' ? undefined : change.new;
  return [contentOf(old), contentOf(next)];
}

function addedBytes(lines: readonly AddedLine[]): number {
  let n = 0;
  for (const l of lines) n += l.text.length + 8;
  return n;
}
