/** Ref updates as a push states them: `<old> <new> <ref>` (gitprotocol-pack: update-request). */
import { ZERO_OID, type Oid } from './oid';

/** One command of a push. */
export interface RefUpdate {
  readonly ref: string;
  readonly oldOid: Oid;
  readonly newOid: Oid;
}

/** What a ref update does. */
export type RefUpdateKind = 'create' | 'update' | 'delete';

/**
 * Classifies an update by its zero ids. A zero new id is a delete whatever the old id: git sends
 * zero to zero for `git push <remote> :refs/heads/<name>` when the remote does not have the ref,
 * and its receive-pack treats that as deleting a ref that does not exist (a warning and `ok`).
 */
export function refUpdateKind(u: RefUpdate): RefUpdateKind {
  if (u.newOid === ZERO_OID) return 'delete';
  if (u.oldOid === ZERO_OID) return 'create';
  return 'update';
}

/** What kind of ref a name is. */
export type RefCategory = 'branch' | 'tag' | 'other';

/** Branch (`refs/heads/`), tag (`refs/tags/`) or anything else. */
export function refCategory(ref: string): RefCategory {
  if (ref.startsWith('refs/heads/')) return 'branch';
  if (ref.startsWith('refs/tags/')) return 'tag';
  return 'other';
}
