/**
 * Tree reading and tree diffs. Trees are parsed once into RawTree (offsets into the object's
 * bytes) and kept in an LRU bounded by bytes; a diff walks two trees in git's tree order (a
 * directory sorts as its name plus `/`, so a file and a directory of one name are a deletion
 * and an addition, as in `git diff-tree -r`), skips identical subtrees by id, and goes down
 * with an explicit stack so a hostile, deeply nested tree cannot exhaust the call stack.
 */
import type { Oid } from '@pushgate/core';
import { RawTree, entryKind, kindMode, type ObjectStore } from '@pushgate/objects';
import { ChangesError } from './errors';
import type { Pacer } from './pace';
import { ByteLru } from './lru';
import { describePath } from './paths';

/** What a cached tree costs: its bytes, its offsets (12 bytes an entry) and the objects around them. */
function treeBytes(tree: RawTree): number {
  return tree.data.length + tree.count * 12 + 160;
}

/** A parsed-tree cache over a store, least recently used evicted first. */
export class TreeCache {
  private readonly trees: ByteLru<Oid, RawTree>;

  constructor(
    private readonly store: ObjectStore,
    maxBytes: number,
  ) {
    this.trees = new ByteLru(maxBytes);
  }

  /** The tree `oid`; CHANGES_MISSING_OBJECT / CHANGES_WRONG_OBJECT_TYPE when it is not one. */
  get(oid: Oid, referencedBy?: string, path?: Buffer): RawTree {
    const hit = this.trees.get(oid);
    if (hit) return hit;
    const obj = this.store.read(oid);
    if (!obj || obj.type !== 'tree') throw this.refused(oid, obj?.type, referencedBy, path);
    const tree = RawTree.parse(obj.data, oid);
    this.trees.set(oid, tree, treeBytes(tree));
    return tree;
  }

  /** Why `oid` cannot be read as a tree (`type` undefined: it is missing). */
  private refused(oid: Oid, type: string | undefined, referencedBy?: string, path?: Buffer): ChangesError {
    const where = path && path.length ? describePath(path.subarray(0, path.length - 1)) : undefined;
    if (type === undefined) {
      return new ChangesError('CHANGES_MISSING_OBJECT', `tree ${oid}${where ? ` (${where})` : ''}${referencedBy ? ` referenced by ${referencedBy}` : ''} is missing`, {
        oid,
        ...(referencedBy ? { referencedBy } : {}),
        ...(where ? { path: where } : {}),
      });
    }
    return new ChangesError('CHANGES_WRONG_OBJECT_TYPE', `${oid}${where ? ` (${where})` : ''} is a ${type}, not a tree${referencedBy ? `, as ${referencedBy} says` : ''}`, {
      oid,
      expected: 'tree',
      actual: type,
      ...(referencedBy ? { referencedBy } : {}),
      ...(where ? { path: where } : {}),
    });
  }
}

/** One side of a changed path: its canonical mode and id. */
export interface EntryRef {
  readonly mode: number;
  readonly oid: Oid;
  /** The blob's size once looked up (a file's sides are sized for the change and for its diff). */
  size?: number;
}

/** A path that differs between two trees (files only; trees are expanded). */
export interface RawChange {
  /** Full path bytes, `/`-separated. */
  readonly path: Buffer;
  readonly old?: EntryRef;
  readonly new?: EntryRef;
  /** The trees holding the old and new entries (for messages about them). */
  readonly oldTree?: Oid;
  readonly newTree?: Oid;
}

interface Frame {
  readonly a: RawTree | undefined;
  readonly b: RawTree | undefined;
  readonly aOid: Oid | undefined;
  readonly bOid: Oid | undefined;
  /** Next entries to compare, and where each side's entries to compare end. */
  i: number;
  j: number;
  readonly endA: number;
  readonly endB: number;
  readonly prefix: Buffer;
}

/**
 * A frame comparing `a` with `b`. Entries both trees share byte for byte at the start and at the
 * end are left out: two versions of a tree usually differ in a few entries, and those shared
 * runs would be compared and skipped one by one. (Trees are sorted, so what lies between the
 * runs is all that can differ, and it is compared in the same order as before.)
 */
function frame(a: RawTree | undefined, b: RawTree | undefined, aOid: Oid | undefined, bOid: Oid | undefined, prefix: Buffer): Frame {
  if (!a || !b) return { a, b, aOid, bOid, i: 0, j: 0, endA: a ? a.count : 0, endB: b ? b.count : 0, prefix };
  const head = a.sameHead(b);
  const tail = a.sameTail(b, head);
  return { a, b, aOid, bOid, i: head, j: head, endA: a.count - tail, endB: b.count - tail, prefix };
}

const SLASH = Buffer.from('/');
const EMPTY = Buffer.alloc(0);

function childPath(prefix: Buffer, tree: RawTree, i: number): Buffer {
  return Buffer.concat([prefix, tree.nameBytes(i)]);
}

function canonical(tree: RawTree, i: number): number {
  return kindMode(entryKind(tree.mode(i)));
}

/**
 * The file-level differences from tree `a` to tree `b` (undefined: the empty tree), in git's
 * path order, like `git diff-tree -r` without rename detection.
 */
export async function diffTrees(cache: TreeCache, a: Oid | undefined, b: Oid | undefined, pacer: Pacer, referencedBy?: string): Promise<RawChange[]> {
  const out: RawChange[] = [];
  if (a === b) return out;
  const stack: Frame[] = [frame(a ? cache.get(a, referencedBy) : undefined, b ? cache.get(b, referencedBy) : undefined, a, b, EMPTY)];
  let steps = 0;
  while (stack.length > 0) {
    if (++steps % 64 === 0 && pacer.due()) await pacer.yield();
    const f = stack[stack.length - 1];
    const na = f.endA;
    const nb = f.endB;
    if (f.i >= na && f.j >= nb) {
      stack.pop();
      continue;
    }
    // Most entries of two versions of a tree are the same bytes: skip those first.
    if (f.i < na && f.j < nb && f.a!.sameEntry(f.i, f.b!, f.j)) {
      f.i++;
      f.j++;
      continue;
    }
    let cmp: number;
    if (f.i >= na) cmp = 1;
    else if (f.j >= nb) cmp = -1;
    else cmp = f.a!.compareEntry(f.i, f.b!, f.j);
    if (cmp < 0) {
      const t = f.a!;
      const i = f.i++;
      const path = childPath(f.prefix, t, i);
      if (t.isTree(i)) {
        const dir = Buffer.concat([path, SLASH]);
        const oid = t.oid(i);
        stack.push(frame(cache.get(oid, `tree ${f.aOid}`, dir), undefined, oid, undefined, dir));
      } else {
        out.push({ path, old: { mode: canonical(t, i), oid: t.oid(i) }, oldTree: f.aOid });
      }
    } else if (cmp > 0) {
      const t = f.b!;
      const j = f.j++;
      const path = childPath(f.prefix, t, j);
      if (t.isTree(j)) {
        const dir = Buffer.concat([path, SLASH]);
        const oid = t.oid(j);
        stack.push(frame(undefined, cache.get(oid, `tree ${f.bOid}`, dir), undefined, oid, dir));
      } else {
        out.push({ path, new: { mode: canonical(t, j), oid: t.oid(j) }, newTree: f.bOid });
      }
    } else {
      const ta = f.a!;
      const tb = f.b!;
      const i = f.i++;
      const j = f.j++;
      const same = ta.sameOid(i, tb, j);
      if (ta.isTree(i)) {
        // Both are trees (a tree never compares equal to a non-tree).
        if (same) continue;
        const dir = Buffer.concat([childPath(f.prefix, ta, i), SLASH]);
        const ao = ta.oid(i);
        const bo = tb.oid(j);
        stack.push(frame(cache.get(ao, `tree ${f.aOid}`, dir), cache.get(bo, `tree ${f.bOid}`, dir), ao, bo, dir));
        continue;
      }
      const ma = canonical(ta, i);
      const mb = canonical(tb, j);
      if (same && ma === mb) continue;
      out.push({ path: childPath(f.prefix, ta, i), old: { mode: ma, oid: ta.oid(i) }, new: { mode: mb, oid: tb.oid(j) }, oldTree: f.aOid, newTree: f.bOid });
    }
  }
  return out;
}
