/**
 * buildChangeSet: from a push's ref updates and its objects (pushed pack ∪ upstream mirror) to
 * the change set policy judges. Stages, each bounded and paced:
 *
 * 1. resolve each ref's new value (annotated tags, peeled object); a branch must get a commit;
 * 2. find the commits new to the repository (history.ts), refusing with LIMIT_COMMITS before any
 *    diff work when there are too many;
 * 3. check connectivity: everything the new commits and tags need is present, typed right;
 * 4. diff each new commit against its first parent at file level (no line diffs: content is read
 *    on demand through ChangeContent), and find the paths a merge changes against every parent;
 * 5. per ref: its new commits, fast-forward or not, and its net file changes.
 */
import { ZERO_OID, refCategory, refUpdateKind, type Limits, type Oid, type ProgressSink, type RefUpdate } from '@pushgate/core';
import { GitDirObjectStore, commitLinks, isSignedCommit, type Commit, type ObjectStore } from '@pushgate/objects';
import { DiffEngine } from './diffs';
import { ChangesError } from './errors';
import { revList } from './git';
import { checkTreeClosure, findNewCommits, type NewHistory } from './history';
import { resolveOptions, type ChangeSetOptions } from './options';
import { Pacer } from './pace';
import { resolveTarget } from './targets';
import type { ChangeSet, CommitChange, CommitSignature, NetChange, RefChange, RefTarget } from './types';

/** What buildChangeSet needs. */
export interface BuildChangeSetInput {
  /** The push's ref updates, in the order the client sent them. */
  readonly commands: readonly RefUpdate[];
  /** Pushed objects over the mirror (PushedPackStore.withBase()). */
  readonly store: ObjectStore;
  /** The upstream mirror (a bare repository) git is asked about. */
  readonly mirrorGitDir: string;
  /** The upstream's refs at push time (the mirror's refs after its fetch). */
  readonly upstreamRefs: ReadonlyMap<string, Oid>;
  readonly limits: Limits;
  readonly options?: ChangeSetOptions;
  readonly onProgress?: ProgressSink;
  readonly signal?: AbortSignal;
  /**
   * The mirror's own object store (what "the upstream has" means for objects). Opened from
   * `mirrorGitDir` for this build when absent; the gateway passes its long-lived one.
   */
  readonly mirror?: ObjectStore;
}

/** Stage name of the commit progress events. */
export const PROGRESS_STAGE = 'inspecting commits';

interface Resolved {
  readonly cmd: RefUpdate;
  readonly target?: RefTarget;
}

function signatureOf(c: Commit): CommitSignature {
  if (!isSignedCommit(c)) return { kind: 'unsigned' };
  const headers: ('gpgsig' | 'gpgsig-sha256')[] = [];
  if (c.gpgsig !== undefined) headers.push('gpgsig');
  if (c.gpgsigSha256 !== undefined) headers.push('gpgsig-sha256');
  const text = c.gpgsig ?? c.gpgsigSha256 ?? '';
  const format = text.startsWith('-----BEGIN PGP') ? 'openpgp' : text.startsWith('-----BEGIN SSH') ? 'ssh' : text.startsWith('-----BEGIN SIGNED MESSAGE') ? 'x509' : 'unknown';
  return { kind: 'signed', headers, format };
}

/** Builds the change set of a push (see module comment). */
export async function buildChangeSet(input: BuildChangeSetInput): Promise<ChangeSet> {
  const started = performance.now();
  const options = resolveOptions(input.options);
  const pacer = new Pacer(input.signal, input.onProgress);
  pacer.check();
  const ownMirror = input.mirror ? undefined : GitDirObjectStore.open(input.mirrorGitDir, { limits: input.limits });
  const mirror = input.mirror ?? ownMirror!;
  try {
    return await build(input, mirror, options, pacer, started);
  } finally {
    ownMirror?.close();
  }
}

async function build(input: BuildChangeSetInput, mirror: ObjectStore, options: ReturnType<typeof resolveOptions>, pacer: Pacer, started: number): Promise<ChangeSet> {
  const { store } = input;
  const engine = new DiffEngine(store, options, pacer);
  let gitQueries = 0;

  // 1. What each ref would point at.
  const resolved: Resolved[] = [];
  for (const cmd of input.commands) {
    if (refUpdateKind(cmd) === 'delete') {
      resolved.push({ cmd });
      continue;
    }
    const r = resolveTarget(store, cmd.newOid, cmd.ref);
    if (r.kind === 'missing') {
      throw new ChangesError('CHANGES_MISSING_OBJECT', `${cmd.ref}: object ${r.oid} referenced by ${r.referencedBy} is in neither the push nor the upstream`, {
        oid: r.oid,
        referencedBy: r.referencedBy,
        ref: cmd.ref,
      });
    }
    const target = r.target;
    if (refCategory(cmd.ref) === 'branch' && target.type !== 'commit') {
      throw new ChangesError('CHANGES_NON_COMMIT_BRANCH', `${cmd.ref}: a branch must point at a commit, ${cmd.newOid} is a ${target.type}`, {
        oid: cmd.newOid,
        ref: cmd.ref,
        expected: 'commit',
        actual: target.type,
      });
    }
    resolved.push({ cmd, target });
  }

  // Non-commit targets (a tag of a tree or blob) need their closure checked here.
  const seenTrees = new Set<Oid>();
  for (const r of resolved) {
    if (!r.target) continue;
    const { oid, type } = r.target.peeled;
    if (type === 'tree') await checkTreeClosure(oid, r.cmd.ref, mirror, engine, pacer, seenTrees);
    else if (type === 'blob') engine.blobs.size(oid, r.cmd.ref);
  }

  // 2. New commits.
  const tips = resolved.filter((r) => r.target?.peeled.type === 'commit').map((r) => ({ oid: r.target!.peeled.oid, ref: r.cmd.ref }));
  const history = await findNewCommits({
    tips,
    store,
    mirror,
    mirrorGitDir: input.mirrorGitDir,
    upstreamRefs: input.upstreamRefs,
    limits: input.limits,
    pacer,
    ...(input.signal ? { signal: input.signal } : {}),
  });
  gitQueries += history.gitQueries;
  const total = history.order.length;
  pacer.progress(PROGRESS_STAGE, 0, total);

  // Which refs bring which commits.
  const refCommits = new Map<string, Set<Oid>>();
  const commitRefs = new Map<Oid, string[]>();
  for (const t of tips) {
    const reach = reachableNew(t.oid, history);
    refCommits.set(t.ref, reach);
    for (const oid of reach) {
      const list = commitRefs.get(oid);
      if (list) list.push(t.ref);
      else commitRefs.set(oid, [t.ref]);
    }
  }

  const treeOf = commitTrees(store, history);

  // 3 and 4. Each new commit's changes, which also proves its connectivity. Commits are taken
  // parents first, so a commit's first parent is either in the mirror (complete) or was checked
  // already; everything in the commit's tree that is not at the same path in that parent's tree
  // is exactly what the diff against it visits: every differing subtree is read as a tree, every
  // differing entry's object is looked up with its type (a blob for files, a tree for
  // directories; submodules are not followed, as in git). A root commit is diffed against the
  // empty tree, so all of it is visited. What is missing or mistyped is refused there.
  const commits: CommitChange[] = [];
  let done = 0;
  for (const oid of history.order) {
    const { commit } = history.commits.get(oid)!;
    const parentTree = commit.parents.length > 0 ? treeOf(commit.parents[0], `commit ${oid}`) : undefined;
    const { files, renames, raw } = await engine.diff(parentTree, commit.tree, `commit ${oid}`);
    const merge =
      commit.parents.length > 1
        ? {
            kind: 'merge' as const,
            introduced: await engine.mergePaths(
              oid,
              raw,
              commit.parents.slice(1).map((p) => treeOf(p, `commit ${oid}`)),
            ),
          }
        : { kind: 'not-merge' as const };
    commits.push({
      oid,
      tree: commit.tree,
      parents: commit.parents,
      author: commit.author,
      committer: commit.committer,
      message: commit.message,
      ...(commit.encoding !== undefined ? { encoding: commit.encoding } : {}),
      signature: signatureOf(commit),
      mergetags: commit.mergetags,
      extraHeaders: commit.extraHeaders,
      merge,
      files,
      renames,
      refs: commitRefs.get(oid) ?? [],
    });
    done++;
    if (done % 64 === 0 || done === total) pacer.progress(PROGRESS_STAGE, done, total);
    await pacer.tick();
  }

  // 5. Per ref.
  const refs: RefChange[] = [];
  for (const r of resolved) {
    const { cmd } = r;
    const category = refCategory(cmd.ref);
    const upstream = input.upstreamRefs.get(cmd.ref);
    const base = { ref: cmd.ref, category, ...(upstream ? { upstreamOid: upstream } : {}) };
    const kind = refUpdateKind(cmd);
    if (kind === 'delete') {
      refs.push({ ...base, kind: 'delete', oldOid: cmd.oldOid });
      continue;
    }
    const target = r.target!;
    const reach = target.peeled.type === 'commit' ? (refCommits.get(cmd.ref) ?? new Set<Oid>()) : new Set<Oid>();
    const ordered = history.order.filter((o) => reach.has(o));
    if (kind === 'create') {
      const net = await createNet(target, reach, history, treeOf, engine, cmd.ref);
      refs.push({ ...base, kind: 'create', newOid: cmd.newOid, target, commits: ordered, net });
      continue;
    }
    const old = resolveTarget(store, cmd.oldOid, cmd.ref);
    let fastForward = false;
    let net: NetChange;
    if (old.kind === 'missing') {
      // Everything the new value reaches is present, so an absent old value is not among it.
      net = { kind: 'not-applicable', reason: 'old-object-missing' };
    } else {
      const ff = await isAncestor(old.target.peeled.oid, target, reach, history, mirror, input);
      fastForward = ff.answer;
      gitQueries += ff.gitQueries;
      net = await updateNet(old.target, target, treeOf, engine, cmd.ref);
    }
    refs.push({ ...base, kind: 'update', oldOid: cmd.oldOid, newOid: cmd.newOid, target, fastForward, commits: ordered, net });
  }

  const merges = commits.filter((c) => c.merge.kind === 'merge').length;
  const fileChanges = commits.reduce((n, c) => n + c.files.length, 0);
  return {
    refs,
    commits,
    stats: {
      commits: commits.length,
      merges,
      fileChanges,
      paths: engine.table.paths.size,
      gitQueries,
      durationMs: Math.round(performance.now() - started),
    },
  };
}

/** New commits reachable from `tip` (paths through new commits only; see history.ts). */
function reachableNew(tip: Oid, history: NewHistory): Set<Oid> {
  const out = new Set<Oid>();
  const stack = [tip];
  while (stack.length > 0) {
    const oid = stack.pop()!;
    if (out.has(oid)) continue;
    const c = history.commits.get(oid);
    if (!c) continue;
    out.add(oid);
    for (const p of c.commit.parents) stack.push(p);
  }
  return out;
}

/** Tree of any commit: new ones from the walk, others read (tree and parents only) and cached. */
function commitTrees(store: ObjectStore, history: NewHistory): (oid: Oid, referencedBy: string) => Oid {
  const cache = new Map<Oid, Oid>();
  return (oid, referencedBy) => {
    const known = history.commits.get(oid);
    if (known) return known.commit.tree;
    const hit = cache.get(oid);
    if (hit) return hit;
    const obj = store.read(oid);
    if (!obj) throw new ChangesError('CHANGES_MISSING_OBJECT', `commit ${oid} referenced by ${referencedBy} is missing`, { oid, referencedBy });
    if (obj.type !== 'commit') {
      throw new ChangesError('CHANGES_WRONG_OBJECT_TYPE', `${oid} referenced by ${referencedBy} is a ${obj.type}, not a commit`, {
        oid,
        referencedBy,
        expected: 'commit',
        actual: obj.type,
      });
    }
    const tree = commitLinks(obj.data, oid).tree;
    cache.set(oid, tree);
    return tree;
  };
}

function treeOfTarget(t: RefTarget, treeOf: (oid: Oid, by: string) => Oid, ref: string): Oid | undefined {
  if (t.peeled.type === 'commit') return treeOf(t.peeled.oid, ref);
  if (t.peeled.type === 'tree') return t.peeled.oid;
  return undefined;
}

async function updateNet(old: RefTarget, next: RefTarget, treeOf: (oid: Oid, by: string) => Oid, engine: DiffEngine, ref: string): Promise<NetChange> {
  const from = treeOfTarget(old, treeOf, ref);
  const to = treeOfTarget(next, treeOf, ref);
  if (from === undefined || to === undefined) return { kind: 'not-applicable', reason: 'not-a-commit' };
  const { files, renames } = await engine.diff(from, to, ref);
  return { kind: 'files', base: old.peeled.oid, files, renames };
}

/** A created ref's net change: from where its first-parent line joins the upstream's history. */
async function createNet(
  target: RefTarget,
  reach: ReadonlySet<Oid>,
  history: NewHistory,
  treeOf: (oid: Oid, by: string) => Oid,
  engine: DiffEngine,
  ref: string,
): Promise<NetChange> {
  if (target.peeled.type !== 'commit') return { kind: 'not-applicable', reason: 'not-a-commit' };
  let cur: Oid | undefined = target.peeled.oid;
  while (cur !== undefined && reach.has(cur)) cur = history.commits.get(cur)!.commit.parents[0];
  const to = treeOf(target.peeled.oid, ref);
  const from = cur === undefined ? undefined : treeOf(cur, ref);
  const { files, renames } = await engine.diff(from, to, ref);
  return { kind: 'files', base: cur ?? 'empty-tree', files, renames };
}

/**
 * Whether `old` (a peeled value) is an ancestor of the new value: among the ref's new commits, a
 * boundary of them, or (one git query) reachable from a boundary in the mirror.
 */
async function isAncestor(
  old: Oid,
  target: RefTarget,
  reach: ReadonlySet<Oid>,
  history: NewHistory,
  mirror: ObjectStore,
  input: BuildChangeSetInput,
): Promise<{ answer: boolean; gitQueries: number }> {
  if (target.peeled.type !== 'commit' || old === ZERO_OID) return { answer: false, gitQueries: 0 };
  const tip = target.peeled.oid;
  if (old === tip || reach.has(old)) return { answer: true, gitQueries: 0 };
  if (!mirror.has(old)) return { answer: false, gitQueries: 0 };
  const boundaries = new Set<Oid>();
  if (!reach.has(tip)) boundaries.add(tip);
  for (const oid of reach) {
    for (const p of history.commits.get(oid)!.commit.parents) if (!history.commits.has(p)) boundaries.add(p);
  }
  if (boundaries.has(old)) return { answer: true, gitQueries: 0 };
  if (boundaries.size === 0) return { answer: false, gitQueries: 0 };
  const listed = await revList(input.mirrorGitDir, ['-n', '1'], [old, ...[...boundaries].map((b) => `^${b}`)], input.signal);
  return { answer: listed.length === 0, gitQueries: 1 };
}
