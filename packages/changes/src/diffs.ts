/**
 * File changes between two trees, at the cost of `git log --raw -M`: the tree diff (equal subtrees
 * skipped by id), rename detection between the added and deleted paths only, each side's kind,
 * size (from the object header) and symlink target — and no line diff at all: content is read on
 * demand (content.ts). One DiffEngine serves a whole push; it caches parsed trees (LRU), blob
 * sizes and similarity histograms, and writes every change into the push's FileTable.
 */
import type { Oid } from '@pushgate/core';
import { S_IFMT, decodeName, displayName, entryKind, kindMode, type ObjectStore, type RawTree } from '@pushgate/objects';
import { Blobs } from './blobs';
import type { ResolvedOptions } from './options';
import type { Pacer } from './pace';
import { pathFields } from './paths';
import { detectRenames, type Pair } from './renames';
import { MAX_SCORE, hashChars, isBinary, type SimilarityInput, type SpanHash } from './similarity';
import { FileTable, type SideInput } from './table';
import { TreeCache, diffTrees, type EntryRef, type RawChange } from './trees';
import type { FileChangeList, FileSide, MergeChange, RenameDetection } from './types';

/** Symlink targets longer than this are not read as targets (PATH_MAX on Linux is 4096). */
const MAX_SYMLINK_TARGET = 4096;

/** The file changes of one diff and how renames were found. */
export interface FileDiff {
  readonly files: FileChangeList;
  readonly renames: RenameDetection;
  /** The raw (rename-less) differences, in git's path order: what a merge's paths are drawn from. */
  readonly raw: readonly RawChange[];
}

/** Tree diffs, renames and sides for one push. */
export class DiffEngine {
  readonly trees: TreeCache;
  readonly blobs: Blobs;
  readonly table = new FileTable();
  private readonly spans = new Map<Oid, SpanHash | undefined>();
  private readonly targets = new Map<Oid, string | undefined>();

  constructor(
    store: ObjectStore,
    private readonly options: ResolvedOptions,
    private readonly pacer: Pacer,
  ) {
    this.trees = new TreeCache(store, options.treeCacheBytes);
    this.blobs = new Blobs(store, options.blobCacheBytes);
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
    const start = this.table.length;
    for (const p of pairs) {
      this.store(p, referencedBy);
      if (this.pacer.due()) await this.pacer.yield();
    }
    return { files: this.table.slice(start, this.table.length), renames: detection, raw };
  }

  private store(p: Pair, referencedBy: string): void {
    const by = (tree: Oid | undefined) => (tree ? `tree ${tree}` : referencedBy);
    if (p.kind === 'rename') {
      const old = this.sideInput(p.from.path, p.from.old, by(p.from.oldTree));
      const next = this.sideInput(p.to.path, p.to.new, by(p.to.newTree));
      this.table.push('renamed', old, next, Math.floor((p.score * 100) / MAX_SCORE));
      return;
    }
    const c = p.change;
    if (c.old && c.new) {
      const sameType = (c.old.mode & S_IFMT) === (c.new.mode & S_IFMT);
      this.table.push(sameType ? 'modified' : 'type-changed', this.sideInput(c.path, c.old, by(c.oldTree)), this.sideInput(c.path, c.new, by(c.newTree)));
    } else if (c.new) {
      this.table.push('added', undefined, this.sideInput(c.path, c.new, by(c.newTree)));
    } else {
      this.table.push('deleted', this.sideInput(c.path, c.old!, by(c.oldTree)), undefined);
    }
  }

  /** One side as the table stores it: sized (which proves the blob is there), symlinks' targets read. */
  private sideInput(path: Buffer, ref: EntryRef, referencedBy: string): SideInput {
    const kind = entryKind(ref.mode);
    if (kind === 'submodule') return { path, mode: ref.mode, oid: ref.oid };
    const size = (ref.size ??= this.blobs.size(ref.oid, referencedBy, () => path));
    if (kind !== 'symlink') return { path, mode: ref.mode, oid: ref.oid, size };
    const target = this.symlinkTarget(ref.oid, size);
    return target === undefined ? { path, mode: ref.mode, oid: ref.oid, size } : { path, mode: ref.mode, oid: ref.oid, size, target };
  }

  /** One side as a FileSide (for a merge's paths, which are few). */
  side(path: Buffer, ref: EntryRef, referencedBy: string): FileSide {
    const s = this.sideInput(path, ref, referencedBy);
    const p = pathFields(path);
    const kind = entryKind(s.mode);
    if (kind === 'tree') throw new Error('a tree is not a file');
    const base = { ...p, mode: s.mode.toString(8).padStart(6, '0'), kind, oid: s.oid };
    if (s.size === undefined) return base;
    return s.target === undefined ? { ...base, size: s.size } : { ...base, size: s.size, target: s.target };
  }

  private symlinkTarget(oid: Oid, size: number): string | undefined {
    if (this.targets.has(oid)) return this.targets.get(oid);
    const target = size <= MAX_SYMLINK_TARGET ? displayName(decodeName(this.blobs.read(oid))) : undefined;
    this.targets.set(oid, target);
    return target;
  }

  private similarityInput(oid: Oid, mode: number, referencedBy: string): SimilarityInput {
    const regular = entryKind(mode) === 'regular' || entryKind(mode) === 'executable';
    const size = regular ? this.blobs.size(oid, referencedBy) : 0;
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
            const data = this.blobs.read(oid);
            spans = hashChars(data, !isBinary(data));
          }
          this.spans.set(oid, spans);
        }
        known = true;
        return spans;
      },
    };
  }

  /**
   * The paths whose result differs from every parent of a merge (`git diff -c`), in git's path
   * order. `firstParentRaw` is the raw diff from the first parent (already made for the commit's
   * file changes); a path must be there to differ from every parent, so only those paths are
   * looked up in the other parents' trees — the cost follows what the merge changes against its
   * first parent, not how far its other parents are behind.
   */
  async mergePaths(mergeOid: Oid, firstParentRaw: readonly RawChange[], otherParentTrees: readonly Oid[]): Promise<MergeChange[]> {
    const referencedBy = `commit ${mergeOid}`;
    const out: MergeChange[] = [];
    for (const c of firstParentRaw) {
      const others: (EntryRef | undefined)[] = [];
      let differsFromAll = true;
      for (const pt of otherParentTrees) {
        const e = this.entryAt(pt, c.path, referencedBy);
        if (sameEntry(e, c.new)) {
          differsFromAll = false;
          break;
        }
        others.push(e);
      }
      if (!differsFromAll) continue;
      const parents = [c.old, ...others];
      out.push({
        ...pathFields(c.path),
        ...(c.new ? { result: this.side(c.path, c.new, referencedBy) } : {}),
        parents: parents.map((p) => (p ? this.side(c.path, p, referencedBy) : undefined)),
      });
      if (this.pacer.due()) await this.pacer.yield();
    }
    return out;
  }

  /** The file entry at `path` in tree `root` (canonical mode), or undefined (absent, or a tree). */
  private entryAt(root: Oid, path: Buffer, referencedBy: string): EntryRef | undefined {
    let tree = this.trees.get(root, referencedBy);
    let from = 0;
    for (;;) {
      const slash = path.indexOf(0x2f, from);
      const name = path.subarray(from, slash < 0 ? path.length : slash);
      const i = findEntry(tree, name);
      if (i < 0) return undefined;
      if (slash < 0) return tree.isTree(i) ? undefined : { mode: kindMode(entryKind(tree.mode(i))), oid: tree.oid(i) };
      if (!tree.isTree(i)) return undefined;
      tree = this.trees.get(tree.oid(i), referencedBy, path.subarray(0, slash + 1));
      from = slash + 1;
    }
  }
}

/** Index of the entry named `name` in `tree` (a file or a directory of that name), or -1. */
function findEntry(tree: RawTree, name: Buffer): number {
  const asFile = search(tree, name, false);
  return asFile >= 0 ? asFile : search(tree, name, true);
}

/**
 * Binary search in git's tree order (tree.c base_name_compare: names compared byte by byte, a
 * directory's name as if followed by `/`), for `name` as a file or as a directory. Byte loops in
 * JavaScript: names are short, and a native compare per probe costs more than the bytes.
 */
function search(tree: RawTree, name: Buffer, isDir: boolean): number {
  const data = tree.data;
  let lo = 0;
  let hi = tree.count - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const at = tree.nameOffset(mid);
    const len = tree.nameLength(mid);
    const n = len < name.length ? len : name.length;
    let cmp = 0;
    for (let k = 0; k < n && cmp === 0; k++) cmp = data[at + k] - name[k];
    if (cmp === 0) {
      const c1 = len > n ? data[at + n] : tree.isTree(mid) ? 0x2f : 0;
      const c2 = name.length > n ? name[n] : isDir ? 0x2f : 0;
      cmp = c1 - c2;
    }
    if (cmp === 0) return mid;
    if (cmp < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

function sameEntry(a: EntryRef | undefined, b: EntryRef | undefined): boolean {
  if (!a || !b) return a === b;
  return a.oid === b.oid && a.mode === b.mode;
}
