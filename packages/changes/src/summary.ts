/** A compact summary of a change set for the audit record: counts per ref and in total. */
import type { RefCategory } from '@pushgate/core';
import type { ChangeSet, CommitChange, FileChange, RefChange } from './types';

/** Counts for one ref update. */
export interface RefSummary {
  readonly ref: string;
  readonly kind: RefChange['kind'];
  readonly category: RefCategory;
  /** For updates: whether the old value is an ancestor of the new one. */
  readonly fastForward?: boolean;
  readonly commits: number;
  /** File changes across the ref's new commits (a path changed twice counts twice). */
  readonly fileChanges: number;
  /** Distinct paths those commits touch. */
  readonly paths: number;
  /** Bytes of the new blobs those commits add or change. */
  readonly bytes: number;
}

/** The summary of a change set. */
export interface ChangeSetSummary {
  readonly refs: readonly RefSummary[];
  readonly commits: number;
  readonly merges: number;
  readonly fileChanges: number;
  /** Distinct paths the change set names. */
  readonly paths: number;
}

function newSize(f: FileChange): number {
  return f.status === 'deleted' ? 0 : (f.new.size ?? 0);
}

function pathOf(f: FileChange): string {
  return f.status === 'deleted' ? f.old.path : f.new.path;
}

/** Counts of commits, files, paths and bytes per ref and in total (file level: no line diff is made for the audit record). */
export function summarize(changeSet: ChangeSet): ChangeSetSummary {
  const byOid = new Map<string, CommitChange>(changeSet.commits.map((c) => [c.oid, c]));
  const refs = changeSet.refs.map((r): RefSummary => {
    const base = { ref: r.ref, kind: r.kind, category: r.category, ...(r.kind === 'update' ? { fastForward: r.fastForward } : {}) };
    if (r.kind === 'delete') return { ...base, commits: 0, fileChanges: 0, paths: 0, bytes: 0 };
    let fileChanges = 0;
    let bytes = 0;
    const paths = new Set<string>();
    for (const oid of r.commits) {
      const c = byOid.get(oid);
      if (!c) continue;
      for (const f of c.files) {
        fileChanges++;
        bytes += newSize(f);
        paths.add(pathOf(f));
      }
    }
    return { ...base, commits: r.commits.length, fileChanges, paths: paths.size, bytes };
  });
  const s = changeSet.stats;
  return { refs, commits: s.commits, merges: s.merges, fileChanges: s.fileChanges, paths: s.paths };
}
