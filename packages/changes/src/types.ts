/**
 * The change set of a push: what every ref update does, which commits are new to the repository
 * and what each of them changes at file level (paths, modes, ids, sizes, renames, and for merges
 * what differs from every parent) — eager, at the cost of `git log --raw -M`. Content (line diffs,
 * added lines, a merge's own lines) is read on demand through ChangeContent (content.ts). Policy
 * judges this; the audit record keeps its summary; reviewers see it. JSON-safe data (file changes
 * serialize as arrays; paths that are not UTF-8 appear with `\xNN` escapes and their exact bytes
 * in hex).
 */
import type { Oid, RefCategory } from '@pushgate/core';
import type { ExtraHeader, Ident, SignatureFormat } from '@pushgate/objects';
import type { ObjectType } from '@pushgate/pack';

/** What a path is on one side of a change. */
export type FileKind = 'regular' | 'executable' | 'symlink' | 'submodule';

/** One side (old or new) of a file change. */
export interface FileSide {
  /** The path, `/`-separated; bytes that are not UTF-8 are written `\xNN`. */
  readonly path: string;
  /** The exact path bytes in hex, present only when the path is not valid UTF-8. */
  readonly pathBytes?: string;
  /** The mode as git shows it, e.g. `100644`, `120000`, `160000`. */
  readonly mode: string;
  readonly kind: FileKind;
  /** The blob, or for a submodule the commit it points at. */
  readonly oid: Oid;
  /** Blob size in bytes (absent for submodules). */
  readonly size?: number;
  /** A symlink's target (absent for other kinds, or when the blob is too large to be a target). */
  readonly target?: string;
}

/** An added line and its number in the new file (1-based): what secret scanning reads. */
export interface AddedLine {
  readonly line: number;
  readonly text: string;
}

/** One unified-diff hunk (structuredPatch's shape; lines start with ` `, `+`, `-` or `\`). */
export interface DiffHunk {
  readonly oldStart: number;
  readonly oldLines: number;
  readonly newStart: number;
  readonly newLines: number;
  readonly lines: readonly string[];
}

/** Why content was not read or diffed; policy can refuse on any of these rather than pass unseen content. */
export type DiffSkipReason =
  /** A side is larger than `maxDiffFileBytes`. */
  | 'too-large'
  /** The content reader's budget (`maxDiffTotalBytes` of diff text) is spent. */
  | 'budget-exhausted';

/** The content change of a file, computed on demand (see ChangeContent). */
export type ContentDiff =
  /**
   * Text on both sides (an absent side is empty): hunks, counts and the added lines. `coarse`:
   * the diff's work bound was reached and some region is shown as replaced wholesale (still a
   * correct diff: every added line is in `addedLines`, possibly with lines that merely moved).
   */
  | {
      readonly kind: 'text';
      readonly added: number;
      readonly removed: number;
      readonly coarse: boolean;
      readonly hunks: readonly DiffHunk[];
      readonly addedLines: readonly AddedLine[];
    }
  /** A text file deleted: only how many lines went (deleted content is not kept). */
  | { readonly kind: 'removed-text'; readonly removed: number }
  /** git's heuristic: a NUL byte in the first 8000 bytes of a side. */
  | { readonly kind: 'binary' }
  | { readonly kind: 'skipped'; readonly reason: DiffSkipReason; readonly detail: string }
  /** Nothing to compare: the content is unchanged (renames, mode changes) or a side is a submodule only. */
  | { readonly kind: 'none' };

/** The added lines of a file change, computed on demand (a diff without its hunks). */
export type AddedContent =
  | { readonly kind: 'text'; readonly coarse: boolean; readonly lines: readonly AddedLine[] }
  | { readonly kind: 'binary' }
  | { readonly kind: 'skipped'; readonly reason: DiffSkipReason; readonly detail: string }
  /** Nothing added: a deletion, an unchanged blob, a submodule. */
  | { readonly kind: 'none' };

/** A changed path. Renames are exact (same blob) or similar (git's -M50% by default). */
export type FileChange =
  | { readonly status: 'added'; readonly new: FileSide }
  | { readonly status: 'deleted'; readonly old: FileSide }
  /** Same path, same kind family (content and/or mode changed, e.g. 100644 → 100755). */
  | { readonly status: 'modified'; readonly old: FileSide; readonly new: FileSide }
  /** `similarity` in percent, computed as git does (100 for an identical blob). */
  | { readonly status: 'renamed'; readonly old: FileSide; readonly new: FileSide; readonly similarity: number }
  /** Same path, different kind: regular ↔ symlink ↔ submodule. */
  | { readonly status: 'type-changed'; readonly old: FileSide; readonly new: FileSide };

/** What a file change's status is. */
export type FileStatus = FileChange['status'];

/**
 * The file changes of one diff. Stored column-wise in the change set's shared table (interned
 * paths and ids, typed arrays), so a push of tens of thousands of changes costs a few bytes per
 * change; each `FileChange` is made when read. Iterable; `toJSON()` gives the plain array.
 */
export interface FileChangeList extends Iterable<FileChange> {
  readonly length: number;
  /** The change at `index` (0 ≤ index < length). */
  at(index: number): FileChange;
  /**
   * What most readers of a large push need of each change — status, paths, new size, whether the
   * content changed — without making the FileChanges (two sides, a dozen fields each): policy walks
   * these, and makes a FileChange only for a change it reports.
   */
  summaries(): FileSummary[];
  /** Every change as a plain array. */
  toArray(): FileChange[];
  toJSON(): FileChange[];
}

/** A file change's summary (FileChangeList.summaries). */
export interface FileSummary {
  /** The change's position in its list (`at(index)` makes the whole FileChange). */
  readonly index: number;
  readonly status: FileStatus;
  /** The new side's path, or the old side's for a deletion. */
  readonly path: string;
  /** A rename's old path. */
  readonly renamedFrom: string | undefined;
  /** The new side's size; undefined for a deletion or a submodule (a commit id has no size). */
  readonly size: number | undefined;
  /** Whether both sides are the same object (a rename or mode change without an edit). */
  readonly sameObject: boolean;
  /** The new side's object and kind; undefined for a deletion. */
  readonly newOid: Oid | undefined;
  readonly newKind: FileKind | undefined;
}

/** How renames were looked for in one diff. */
export type RenameDetection =
  | { readonly kind: 'exact-and-similar' }
  /** git's rename limit was exceeded: only identical blobs were paired (as git does, with a warning). */
  | { readonly kind: 'exact-only'; readonly reason: 'rename-limit'; readonly sources: number; readonly destinations: number };

/** What a merge's result has that none of its parents has at a path (`git diff --cc`), on demand. */
export type MergeContent =
  /** Lines of the result added relative to every parent (git's `++` lines). */
  | { readonly kind: 'text'; readonly coarse: boolean; readonly introducedLines: readonly AddedLine[] }
  | { readonly kind: 'binary' }
  | { readonly kind: 'skipped'; readonly reason: DiffSkipReason; readonly detail: string }
  | { readonly kind: 'none' };

/** A path whose result differs from every parent of a merge (`git diff -c` lists these). */
export interface MergeChange {
  readonly path: string;
  readonly pathBytes?: string;
  /** The result, or undefined when the merge deleted the path. */
  readonly result?: FileSide;
  /** Each parent's version, in parent order (undefined where a parent has no such path). */
  readonly parents: readonly (FileSide | undefined)[];
}

/** A commit's signature: present or not (verification is policy's business). */
export type CommitSignature =
  | { readonly kind: 'unsigned' }
  | { readonly kind: 'signed'; readonly headers: readonly ('gpgsig' | 'gpgsig-sha256')[]; readonly format: SignatureFormat | 'unknown' };

/** Whether a commit is a merge, and what the merge itself introduces. */
export type MergeInfo = { readonly kind: 'not-merge' } | { readonly kind: 'merge'; readonly introduced: readonly MergeChange[] };

/** A commit new to the repository. */
export interface CommitChange {
  readonly oid: Oid;
  readonly tree: Oid;
  readonly parents: readonly Oid[];
  readonly author: Ident;
  readonly committer: Ident;
  readonly message: string;
  readonly encoding?: string;
  readonly signature: CommitSignature;
  /** `mergetag` headers (tags merged by this commit), as stored. */
  readonly mergetags: readonly string[];
  readonly extraHeaders: readonly ExtraHeader[];
  readonly merge: MergeInfo;
  /** Changes against the first parent (a root commit: against the empty tree). */
  readonly files: FileChangeList;
  readonly renames: RenameDetection;
  /** The pushed refs that bring this commit. */
  readonly refs: readonly string[];
}

/** An annotated tag a ref points at. */
export interface AnnotatedTag {
  readonly oid: Oid;
  /** The name inside the tag object (may differ from the ref). */
  readonly name: string;
  readonly tagger?: Ident;
  readonly message: string;
  readonly target: Oid;
  readonly targetType: ObjectType;
  readonly signature: { readonly kind: 'unsigned' } | { readonly kind: 'signed'; readonly format: SignatureFormat };
}

/** What a ref's new value is. */
export interface RefTarget {
  readonly type: ObjectType;
  /** The annotated tag(s) when the value is a tag object, outermost first. */
  readonly tags: readonly AnnotatedTag[];
  /** The object after peeling tags. */
  readonly peeled: { readonly oid: Oid; readonly type: ObjectType };
}

/**
 * The net file changes of a ref: from a base tree to the new tip's tree.
 * - update: base = the old value's tree (peeled), so a force-push shows what really differs;
 * - create: base = the first commit on the new tip's first-parent line that the upstream already
 *   has (where the new branch forks off), or the empty tree when the history is entirely new;
 *   a ref created at an existing commit changes nothing.
 */
export type NetChange =
  | { readonly kind: 'files'; readonly base: Oid | 'empty-tree'; readonly files: FileChangeList; readonly renames: RenameDetection }
  | { readonly kind: 'not-applicable'; readonly reason: 'delete' | 'not-a-commit' | 'old-object-missing' };

interface RefChangeBase {
  readonly ref: string;
  readonly category: RefCategory;
  /** The ref's value at the upstream when the push was inspected (undefined: no such ref). */
  readonly upstreamOid?: Oid;
}

/** One ref update of the push. */
export type RefChange =
  | (RefChangeBase & {
      readonly kind: 'create';
      readonly newOid: Oid;
      readonly target: RefTarget;
      /** New commits this ref brings (`<new> --not <all upstream refs>`), parents first. */
      readonly commits: readonly Oid[];
      readonly net: NetChange;
    })
  | (RefChangeBase & {
      readonly kind: 'update';
      readonly oldOid: Oid;
      readonly newOid: Oid;
      readonly target: RefTarget;
      /** Whether the old value (peeled) is an ancestor of the new one. */
      readonly fastForward: boolean;
      readonly commits: readonly Oid[];
      readonly net: NetChange;
    })
  | (RefChangeBase & { readonly kind: 'delete'; readonly oldOid: Oid });

/** Totals of a change set. */
export interface ChangeSetStats {
  readonly commits: number;
  readonly merges: number;
  /** File changes across all commits (a path changed in three commits counts three times). */
  readonly fileChanges: number;
  /** Distinct paths in the change set's path table. */
  readonly paths: number;
  /** Times git was asked about the mirror. */
  readonly gitQueries: number;
  readonly durationMs: number;
}

/** The change set of one push. */
export interface ChangeSet {
  readonly refs: readonly RefChange[];
  /** Every commit new to the repository, parents before children. */
  readonly commits: readonly CommitChange[];
  readonly stats: ChangeSetStats;
}
