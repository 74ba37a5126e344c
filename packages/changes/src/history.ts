/**
 * Which commits a push brings that the upstream does not have: `<new tips> --not <all upstream
 * refs>`, never `old..new` (a branch forked off main must not re-inspect main).
 *
 * The walk goes from each new tip through parents; a commit the mirror lacks is new, and the
 * first commits found in the mirror are boundaries. Mirror commits are almost always reachable
 * from an upstream ref, but not always (a deleted branch's commits stay in the mirror), so one
 * `git rev-list --stdin <boundaries> ^<every upstream ref>` in the mirror lists the boundary
 * history the upstream's refs do not reach; those commits are new too. The mirror holds only
 * mirror objects, so git can answer for exactly those.
 *
 * Connectivity: every object a new commit needs must be in the push or the mirror, with the
 * type its referrer says. The walk checks parents; trees and blobs are checked by the per-commit
 * diffs (see build.ts) and, for tags of trees, by checkTreeClosure. Trees in the mirror are
 * complete (they came from a fetch), so only trees the mirror lacks are descended into.
 */
import { LimitError, type Limits, type Oid } from '@pushgate/core';
import { entryKind, parseCommit, type Commit, type ObjectStore } from '@pushgate/objects';
import type { DiffEngine } from './diffs';
import { ChangesError } from './errors';
import { revList } from './git';
import type { Pacer } from './pace';

/** A commit new to the repository. */
export interface NewCommit {
  readonly oid: Oid;
  readonly commit: Commit;
  /** True for commits already in the mirror but not reachable from the upstream's refs. */
  readonly inMirror: boolean;
}

/** The new commits of a push. */
export interface NewHistory {
  readonly commits: ReadonlyMap<Oid, NewCommit>;
  /** Every new commit, parents before children. */
  readonly order: readonly Oid[];
  readonly gitQueries: number;
}

/** What findNewCommits needs. */
export interface WalkInput {
  /** Peeled commit tips of the pushed refs, with the ref each came from. */
  readonly tips: readonly { readonly oid: Oid; readonly ref: string }[];
  readonly store: ObjectStore;
  readonly mirror: ObjectStore;
  readonly mirrorGitDir: string;
  readonly upstreamRefs: ReadonlyMap<string, Oid>;
  readonly limits: Pick<Limits, 'maxCommitsInspected'>;
  readonly pacer: Pacer;
  readonly signal?: AbortSignal;
}

/** Reads a commit the walk needs; `ref` is the pushed ref whose history needs it, named in the error so only that ref is refused. */
function readCommit(store: ObjectStore, oid: Oid, referencedBy: string, ref?: string): Commit {
  const obj = store.read(oid);
  if (!obj) {
    throw new ChangesError('CHANGES_MISSING_OBJECT', `commit ${oid} referenced by ${referencedBy} is in neither the push nor the upstream`, {
      oid,
      referencedBy,
      ...(ref === undefined ? {} : { ref }),
    });
  }
  if (obj.type !== 'commit') {
    throw new ChangesError('CHANGES_WRONG_OBJECT_TYPE', `${oid} referenced by ${referencedBy} is a ${obj.type}, not a commit`, {
      oid,
      referencedBy,
      ...(ref === undefined ? {} : { ref }),
      expected: 'commit',
      actual: obj.type,
    });
  }
  return parseCommit(obj.data, oid);
}

/** Finds the new commits (see module comment); LIMIT_COMMITS as soon as there are too many. */
export async function findNewCommits(input: WalkInput): Promise<NewHistory> {
  const { store, mirror, pacer } = input;
  const max = input.limits.maxCommitsInspected;
  const commits = new Map<Oid, NewCommit>();
  const boundaries = new Set<Oid>();
  const stack: { oid: Oid; referencedBy: string; ref: string }[] = input.tips.map((t) => ({ oid: t.oid, referencedBy: t.ref, ref: t.ref }));
  while (stack.length > 0) {
    const { oid, referencedBy, ref } = stack.pop()!;
    if (commits.has(oid) || boundaries.has(oid)) continue;
    if (mirror.has(oid)) {
      boundaries.add(oid);
      continue;
    }
    const commit = readCommit(store, oid, referencedBy, ref);
    commits.set(oid, { oid, commit, inMirror: false });
    if (commits.size > max) throw new LimitError('maxCommitsInspected', max, commits.size, 'new commits in the push');
    for (let i = commit.parents.length - 1; i >= 0; i--) stack.push({ oid: commit.parents[i], referencedBy: `commit ${oid}`, ref });
    await pacer.tick();
  }

  let gitQueries = 0;
  const upstreamValues = new Set(input.upstreamRefs.values());
  const unsure = [...boundaries].filter((b) => !upstreamValues.has(b));
  if (unsure.length > 0) {
    // One question to git: which of the boundary history do the upstream's refs not reach?
    const lines = [...unsure, ...[...upstreamValues].map((v) => `^${v}`)];
    const remaining = max - commits.size;
    const leftovers = await revList(input.mirrorGitDir, [`--max-count=${remaining + 1}`], lines, input.signal);
    gitQueries++;
    if (commits.size + leftovers.length > max) {
      throw new LimitError('maxCommitsInspected', max, commits.size + leftovers.length, 'new commits in the push');
    }
    for (const oid of leftovers) {
      commits.set(oid, { oid, commit: readCommit(store, oid, 'the mirror'), inMirror: true });
      await pacer.tick();
    }
  }
  pacer.check();
  return { commits, order: topoOrder(input.tips.map((t) => t.oid), commits), gitQueries };
}

/** Parents before children: depth-first post-order from the tips, first parents first. */
function topoOrder(tips: readonly Oid[], commits: ReadonlyMap<Oid, NewCommit>): Oid[] {
  const order: Oid[] = [];
  const done = new Set<Oid>();
  const onStack = new Set<Oid>();
  // Tips first, then anything only the leftover query found (reachable from a tip anyway).
  for (const start of [...tips, ...commits.keys()]) {
    if (!commits.has(start) || done.has(start)) continue;
    const stack: { oid: Oid; next: number }[] = [{ oid: start, next: 0 }];
    onStack.add(start);
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const parents = commits.get(top.oid)!.commit.parents;
      if (top.next < parents.length) {
        const p = parents[top.next++];
        if (commits.has(p) && !done.has(p) && !onStack.has(p)) {
          stack.push({ oid: p, next: 0 });
          onStack.add(p);
        }
        continue;
      }
      stack.pop();
      onStack.delete(top.oid);
      done.add(top.oid);
      order.push(top.oid);
    }
  }
  return order;
}

/**
 * Checks that every tree and blob under `root` exists with the type its entry says. Trees in the
 * mirror are complete and are not descended into; `seenTrees` makes each tree checked once per push.
 */
export async function checkTreeClosure(root: Oid, referencedBy: string, mirror: ObjectStore, engine: DiffEngine, pacer: Pacer, seenTrees: Set<Oid>): Promise<void> {
  const stack: { oid: Oid; path: Buffer; referencedBy: string }[] = [{ oid: root, path: Buffer.alloc(0), referencedBy }];
  while (stack.length > 0) {
    const { oid, path, referencedBy: by } = stack.pop()!;
    if (seenTrees.has(oid)) continue;
    seenTrees.add(oid);
    if (mirror.has(oid)) {
      // Complete by construction, but it must still be a tree.
      const h = mirror.header(oid);
      if (h && h.type === 'tree') continue;
    }
    const tree = engine.trees.get(oid, by, path);
    for (let i = 0; i < tree.count; i++) {
      const kind = entryKind(tree.mode(i));
      if (kind === 'submodule') continue;
      if (kind === 'tree') {
        stack.push({ oid: tree.oid(i), path: Buffer.concat([path, tree.nameBytes(i), Buffer.from('/')]), referencedBy: `tree ${oid}` });
      } else {
        engine.blobs.size(tree.oid(i), `tree ${oid}`, () => Buffer.concat([path, tree.nameBytes(i)]));
      }
    }
    await pacer.tick();
  }
}
