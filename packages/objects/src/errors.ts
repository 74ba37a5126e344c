/**
 * Errors about git objects. ObjectError is what a strict check (git's fsck message ids, see
 * check.ts) or a parser finds wrong in an object a client sent: always a client error, refused
 * before anything reaches the upstream. StoreError is the gateway's own object database (the
 * upstream mirror) being unreadable: not the client's fault, but the push is refused all the same.
 */
import { PushgateError, type Oid } from '@pushgate/core';

/**
 * Codes of ObjectError. Each maps to one of git's fsck message ids (fsck.c, git-fsck(1) "FSCK
 * MESSAGES"), upper-snake-cased after `OBJ_`, plus a few of pushgate's own (SHA-256 ids, types).
 */
export type ObjectErrorCode =
  // trees
  | 'OBJ_BAD_TREE'
  | 'OBJ_NULL_SHA1'
  | 'OBJ_FULL_PATHNAME'
  | 'OBJ_EMPTY_NAME'
  | 'OBJ_HAS_DOT'
  | 'OBJ_HAS_DOTDOT'
  | 'OBJ_HAS_DOTGIT'
  | 'OBJ_ZERO_PADDED_FILEMODE'
  | 'OBJ_BAD_FILEMODE'
  | 'OBJ_DUPLICATE_ENTRIES'
  | 'OBJ_TREE_NOT_SORTED'
  | 'OBJ_GITMODULES_SYMLINK'
  // commit and tag headers
  | 'OBJ_NUL_IN_HEADER'
  | 'OBJ_UNTERMINATED_HEADER'
  | 'OBJ_MISSING_TREE'
  | 'OBJ_BAD_TREE_SHA1'
  | 'OBJ_BAD_PARENT_SHA1'
  | 'OBJ_MISSING_AUTHOR'
  | 'OBJ_MULTIPLE_AUTHORS'
  | 'OBJ_MISSING_COMMITTER'
  | 'OBJ_NUL_IN_COMMIT'
  // identities (author, committer, tagger)
  | 'OBJ_MISSING_NAME_BEFORE_EMAIL'
  | 'OBJ_BAD_NAME'
  | 'OBJ_MISSING_EMAIL'
  | 'OBJ_MISSING_SPACE_BEFORE_EMAIL'
  | 'OBJ_BAD_EMAIL'
  | 'OBJ_MISSING_SPACE_BEFORE_DATE'
  | 'OBJ_ZERO_PADDED_DATE'
  | 'OBJ_BAD_DATE_OVERFLOW'
  | 'OBJ_BAD_DATE'
  | 'OBJ_BAD_TIMEZONE'
  // tags
  | 'OBJ_MISSING_OBJECT'
  | 'OBJ_BAD_OBJECT_SHA1'
  | 'OBJ_MISSING_TYPE_ENTRY'
  | 'OBJ_MISSING_TYPE'
  | 'OBJ_BAD_TYPE'
  | 'OBJ_MISSING_TAG_ENTRY'
  | 'OBJ_MISSING_TAG'
  | 'OBJ_BAD_TAG_NAME'
  | 'OBJ_MISSING_TAGGER_ENTRY'
  | 'OBJ_EXTRA_HEADER_ENTRY'
  // pushgate's own
  | 'OBJ_SHA256_ID'
  | 'OBJ_UNKNOWN_TYPE';

/** What an ObjectError says about where the problem is. */
export interface ObjectErrorData {
  /** The object, when the caller knows its id. */
  readonly oid?: Oid;
  /** The tree entry name (trees), in the escaped form of names.ts. */
  readonly path?: string;
  /** The header field (commits, tags), e.g. `author`, `parent`, `tag`. */
  readonly field?: string;
  /** Byte offset in the object's content, when it helps. */
  readonly offset?: number;
  readonly expected?: string;
  readonly actual?: string;
}

/** An object a client sent breaks git's rules for well-formed objects. */
export class ObjectError extends PushgateError<ObjectErrorCode, ObjectErrorData> {
  constructor(code: ObjectErrorCode, message: string, data: ObjectErrorData = {}) {
    super(code, message, { data, delivery: { kind: 'unpack' } });
  }
}

/** Codes of StoreError. */
export type StoreErrorCode = 'OBJ_STORE_CORRUPT' | 'OBJ_STORE_UNREADABLE';

/** The gateway's own object store (the upstream mirror) could not be read. */
export class StoreError extends PushgateError<StoreErrorCode, { path: string; oid?: Oid }> {
  constructor(code: StoreErrorCode, message: string, data: { path: string; oid?: Oid }, cause?: unknown) {
    super(code, message, { data, cause, delivery: { kind: 'http', status: 500 } });
  }
}
