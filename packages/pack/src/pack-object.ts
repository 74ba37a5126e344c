/** What indexing hands its caller for every object of a pack. */
import type { Oid } from '@pushgate/core';
import type { ObjectType } from './format';

/** One object of a pack with its full content, deltas resolved and id computed. */
export interface PackObject {
  readonly oid: Oid;
  readonly type: ObjectType;
  /** The content; do not modify it (it may be the base of objects resolved later). */
  readonly data: Buffer;
  /** Pack offset of the object's entry. */
  readonly offset: number;
  /**
   * For an object resolved from a delta: its base's id and the delta's instructions (valid only
   * during the call: the buffer is reused). See `deltaSeams`.
   */
  readonly delta?: { readonly base: Oid; readonly instructions: Buffer };
}

/**
 * Receives every object of a pack as it is indexed (strict object checks, collecting commits
 * and tags). It runs inside the indexing loop, so it should be quick; throwing aborts indexing
 * with that error.
 */
export type ObjectSink = (object: PackObject) => void;
