/**
 * Test support: small change sets and inputs built by hand, for the pure table tests of
 * precedence, modes, exemptions and scopes (the condition tests use real repositories).
 */
import { summarizeFileChange, type ChangeSet, type CommitChange, type FileChange, type FileChangeList, type FileSide, type RefChange } from '@pushgate/changes';
import type { Identity, Oid } from '@pushgate/core';
import type { ContentFindings, PolicyInput } from './types';

/** A 40-hex id made from a seed. */
export function oid(seed: string): Oid {
  let hex = '';
  for (const ch of seed) hex += ch.charCodeAt(0).toString(16).padStart(2, '0');
  return (hex + '0'.repeat(40)).slice(0, 40) as Oid;
}

/** A FileChangeList over an array. */
export function fileList(changes: readonly FileChange[]): FileChangeList {
  return {
    length: changes.length,
    at: (i) => changes[i],
    summaries: () => changes.map(summarizeFileChange),
    toArray: () => [...changes],
    toJSON: () => [...changes],
    [Symbol.iterator]: () => changes[Symbol.iterator](),
  };
}

/** A regular file side. */
export function side(path: string, size = 10, blob = `b:${path}`): FileSide {
  return { path, mode: '100644', kind: 'regular', oid: oid(blob), size };
}

const ident = (email: string) => ({ name: email.split('@')[0], email, timestamp: 0, timezone: '+0000', timezoneOffset: 0 });

/** A commit with the given files (all regular files added unless given otherwise). */
export function commit(seed: string, o: { files?: FileChange[]; message?: string; author?: string; committer?: string; signed?: boolean; merge?: boolean; refs?: string[] } = {}): CommitChange {
  return {
    oid: oid(seed),
    tree: oid(`t${seed}`),
    parents: o.merge ? [oid(`p1${seed}`), oid(`p2${seed}`)] : [oid(`p${seed}`)],
    author: ident(o.author ?? 'dev@acme.com'),
    committer: ident(o.committer ?? o.author ?? 'dev@acme.com'),
    message: o.message ?? `commit ${seed}\n`,
    signature: o.signed ? { kind: 'signed', headers: ['gpgsig'], format: 'openpgp' } : { kind: 'unsigned' },
    mergetags: [],
    extraHeaders: [],
    merge: o.merge ? { kind: 'merge', introduced: [] } : { kind: 'not-merge' },
    files: fileList(o.files ?? []),
    renames: { kind: 'exact-and-similar' },
    refs: o.refs ?? ['refs/heads/main'],
  };
}

const target = (newOid: Oid) => ({ type: 'commit' as const, tags: [], peeled: { oid: newOid, type: 'commit' as const } });

/** A fast-forward (or, with `force`, a non-fast-forward) update of `ref` bringing `commits`. */
export function update(ref: string, commits: readonly CommitChange[], o: { force?: boolean } = {}): RefChange {
  const newOid = commits.at(-1)?.oid ?? oid(`new${ref}`);
  return {
    ref,
    category: ref.startsWith('refs/tags/') ? 'tag' : ref.startsWith('refs/heads/') ? 'branch' : 'other',
    upstreamOid: oid(`old${ref}`),
    kind: 'update',
    oldOid: oid(`old${ref}`),
    newOid,
    target: target(newOid),
    fastForward: o.force !== true,
    commits: commits.map((c) => c.oid),
    net: { kind: 'files', base: oid(`base${ref}`), files: fileList(commits.flatMap((c) => c.files.toArray())), renames: { kind: 'exact-and-similar' } },
  };
}

/** The creation of `ref` bringing `commits`. */
export function create(ref: string, commits: readonly CommitChange[]): RefChange {
  const newOid = commits.at(-1)?.oid ?? oid(`new${ref}`);
  return {
    ref,
    category: ref.startsWith('refs/tags/') ? 'tag' : ref.startsWith('refs/heads/') ? 'branch' : 'other',
    kind: 'create',
    newOid,
    target: target(newOid),
    commits: commits.map((c) => c.oid),
    net: { kind: 'files', base: 'empty-tree', files: fileList(commits.flatMap((c) => c.files.toArray())), renames: { kind: 'exact-and-similar' } },
  };
}

/** The deletion of `ref`. */
export function remove(ref: string): RefChange {
  return { ref, category: ref.startsWith('refs/tags/') ? 'tag' : 'branch', upstreamOid: oid(`old${ref}`), kind: 'delete', oldOid: oid(`old${ref}`) };
}

/** A change set of the given refs and commits. */
export function changeSet(refs: readonly RefChange[], commits: readonly CommitChange[] = []): ChangeSet {
  return { refs, commits, stats: { commits: commits.length, merges: 0, fileChanges: 0, paths: 0, gitQueries: 0, durationMs: 0 } };
}

/** Content findings with nothing found. */
export const NO_CONTENT: ContentFindings = { secrets: [], unscanned: [], scannedBytes: 0, durationMs: 0 };

/** A human developer in group `dev`. */
export const DEV: Identity = { sub: 'dev', issuer: 'https://idp.example.com', email: 'dev@acme.com', groups: ['dev'], agent: false };

/** A policy input for `acme/app.git` at upstream `github`. */
export function input(cs: ChangeSet, o: { identity?: Identity; content?: ContentFindings; pushOptions?: string[]; upstream?: string; repo?: string } = {}): PolicyInput {
  return { upstream: o.upstream ?? 'github', repo: o.repo ?? 'acme/app.git', identity: o.identity ?? DEV, pushOptions: o.pushOptions ?? [], changeSet: cs, content: o.content ?? NO_CONTENT };
}
