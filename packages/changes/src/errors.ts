/**
 * Why a push's change set could not be built. Each of these refuses the push (never fail open);
 * they reach the client as `ng <ref> <reason>` because the pack itself was readable.
 */
import { PushgateError, type Oid } from '@pushgate/core';

/** Codes of ChangesError. */
export type ChangesErrorCode =
  /** An object a new commit, tree or tag needs is neither in the push nor in the mirror. */
  | 'CHANGES_MISSING_OBJECT'
  /** An object exists but is not what its referrer says it is (a tree entry naming a commit as a blob). */
  | 'CHANGES_WRONG_OBJECT_TYPE'
  /** A branch would point at something other than a commit (git's receive-pack refuses this too). */
  | 'CHANGES_NON_COMMIT_BRANCH'
  /** Asking git about the mirror failed; the push cannot be judged without the answer. */
  | 'CHANGES_MIRROR_QUERY_FAILED'
  /** The caller gave up (the request ended, the gateway is shutting down). */
  | 'CHANGES_ABORTED';

/** What a ChangesError says about where. */
export interface ChangesErrorData {
  readonly oid?: Oid;
  /** The object that referenced `oid` (commit, tree or tag), or the ref. */
  readonly referencedBy?: string;
  /** The path of the tree entry, when a tree referenced it. */
  readonly path?: string;
  readonly ref?: string;
  readonly expected?: string;
  readonly actual?: string;
  readonly detail?: string;
}

/** The change set of a push could not be built. */
export class ChangesError extends PushgateError<ChangesErrorCode, ChangesErrorData> {
  constructor(code: ChangesErrorCode, message: string, data: ChangesErrorData = {}, cause?: unknown) {
    super(code, message, { data, cause, delivery: { kind: 'ng', ...(data.ref ? { refs: [data.ref] } : {}) } });
  }
}
