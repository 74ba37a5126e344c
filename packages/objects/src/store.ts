/**
 * Object stores: where pushgate reads git objects from. A push is inspected over two layers, the
 * objects the client sent (its pack) over the upstream mirror, so that a thin pack's bases, old
 * trees and parents all resolve without cloning anything per push.
 *
 * Reads are synchronous (local files, usually in the page cache); a caller that reads many
 * objects yields to the event loop itself.
 */
import type { Oid } from '@pushgate/core';
import type { ObjectHeader, RawObject } from '@pushgate/pack';

/** An object's type and content, and its type and size alone (as @pushgate/pack reads them). */
export type { ObjectHeader, RawObject };

/** Read access to git objects by id. */
export interface ObjectStore {
  /** The object, or undefined when the store does not have it. */
  read(oid: Oid): RawObject | undefined;
  /** True when the store has the object. */
  has(oid: Oid): boolean;
  /**
   * Type and size without reading the content (a pack entry's header, the start of a delta):
   * how a huge blob's size is learnt without holding it, and how entry types are checked cheaply.
   */
  header(oid: Oid): ObjectHeader | undefined;
}

/** Several stores read as one, the first that has an object answering (pushed objects, then mirror). */
export class LayeredObjectStore implements ObjectStore {
  readonly layers: readonly ObjectStore[];

  constructor(layers: readonly ObjectStore[]) {
    this.layers = layers;
  }

  read(oid: Oid): RawObject | undefined {
    for (const layer of this.layers) {
      const obj = layer.read(oid);
      if (obj) return obj;
    }
    return undefined;
  }

  has(oid: Oid): boolean {
    return this.layers.some((layer) => layer.has(oid));
  }

  header(oid: Oid): ObjectHeader | undefined {
    for (const layer of this.layers) {
      const h = layer.header(oid);
      if (h) return h;
    }
    return undefined;
  }
}
