/** Options of buildChangeSet: the bounds on diff work and memory for one push, each with its reason. */

/** Tunables of a change set build; every field has a default. */
export interface ChangeSetOptions {
  /**
   * Largest blob (either side) whose text diff is computed on demand. Larger files are reported
   * with a `too-large` skip. 1 MiB: well above source files; a diff's cost grows with size.
   */
  readonly maxDiffFileBytes?: number;
  /**
   * Bytes of diff text (hunk lines and added lines) one content reader produces for a push; once
   * spent, further diffs are `budget-exhausted`. 32 MiB bounds what any pusher can make the
   * gateway compute and hold for one push.
   */
  readonly maxDiffTotalBytes?: number;
  /**
   * Work bound of one line diff (records compared while searching for an alignment); past it a
   * region is diffed coarsely (replaced wholesale) instead. 4,000,000: a few tens of milliseconds.
   */
  readonly maxDiffWork?: number;
  /** Context lines around hunks (git's default is 3). */
  readonly contextLines?: number;
  /**
   * Rename detection gives up similarity matching when sources × destinations exceeds this
   * squared (git's diff.renameLimit, default 1000 since git 2.27); exact renames are always found.
   */
  readonly renameLimit?: number;
  /** Minimum similarity for a rename, percent (git's -M default, 50). */
  readonly renameScore?: number;
  /**
   * Largest blob whose similarity is estimated for rename detection; larger files can still be
   * exact renames. 8 MiB: similarity hashing is linear in size and runs per candidate blob.
   */
  readonly maxRenameBlobBytes?: number;
  /** Bytes of parsed trees kept in the LRU cache. */
  readonly treeCacheBytes?: number;
  /**
   * Bytes of blob content kept in an LRU: a file changed in one commit is usually the old side of
   * a later change, and re-reading it resolves its delta chain again.
   */
  readonly blobCacheBytes?: number;
}

/** The options with defaults filled in. */
export type ResolvedOptions = Required<ChangeSetOptions>;

/** The defaults (see each field's reason above). */
export const DEFAULT_CHANGESET_OPTIONS: ResolvedOptions = Object.freeze({
  maxDiffFileBytes: 1024 * 1024,
  maxDiffTotalBytes: 32 * 1024 * 1024,
  maxDiffWork: 4_000_000,
  contextLines: 3,
  renameLimit: 1000,
  renameScore: 50,
  maxRenameBlobBytes: 8 * 1024 * 1024,
  treeCacheBytes: 64 * 1024 * 1024,
  blobCacheBytes: 32 * 1024 * 1024,
});

/** Fills in defaults. */
export function resolveOptions(options: ChangeSetOptions | undefined): ResolvedOptions {
  return { ...DEFAULT_CHANGESET_OPTIONS, ...stripUndefined(options ?? {}) };
}

function stripUndefined(o: ChangeSetOptions): ChangeSetOptions {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as ChangeSetOptions;
}
