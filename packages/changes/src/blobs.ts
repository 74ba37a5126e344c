/**
 * Blob reads for one push: sizes from object headers (cached), contents through a byte-bounded
 * LRU (a file changed in one commit is usually the old side of a later change, and re-reading it
 * resolves its delta chain again), and the refusals when an object is missing or mistyped.
 */
import type { Oid } from '@pushgate/core';
import type { ObjectStore } from '@pushgate/objects';
import { ChangesError } from './errors';
import { ByteLru } from './lru';
import { describePath } from './paths';

/** Reads blobs of one push. */
export class Blobs {
  private readonly sizes = new Map<Oid, number>();
  private readonly cache: ByteLru<Oid, Buffer>;

  constructor(
    readonly store: ObjectStore,
    private readonly cacheBytes: number,
  ) {
    this.cache = new ByteLru(cacheBytes);
  }

  /**
   * A blob's size from its header (cached); CHANGES_MISSING_OBJECT / WRONG_OBJECT_TYPE otherwise.
   * `path` is only built when there is something to report.
   */
  size(oid: Oid, referencedBy?: string, path?: () => Buffer): number {
    const hit = this.sizes.get(oid);
    if (hit !== undefined) return hit;
    const h = this.store.header(oid);
    if (!h || h.type !== 'blob') {
      const where = path ? describePath(path()) : undefined;
      const data = { oid, ...(referencedBy ? { referencedBy } : {}), ...(where ? { path: where } : {}) };
      const at = `${where ? ` (${where})` : ''}${referencedBy ? ` referenced by ${referencedBy}` : ''}`;
      if (!h) throw new ChangesError('CHANGES_MISSING_OBJECT', `blob ${oid}${at} is in neither the push nor the upstream`, data);
      throw new ChangesError('CHANGES_WRONG_OBJECT_TYPE', `${oid}${at} is a ${h.type}, not a blob`, { ...data, expected: 'blob', actual: h.type });
    }
    this.sizes.set(oid, h.size);
    return h.size;
  }

  /** A blob's content. */
  read(oid: Oid): Buffer {
    const hit = this.cache.get(oid);
    if (hit) return hit;
    const obj = this.store.read(oid);
    if (!obj) throw new ChangesError('CHANGES_MISSING_OBJECT', `blob ${oid} is in neither the push nor the upstream`, { oid });
    if (obj.type !== 'blob') throw new ChangesError('CHANGES_WRONG_OBJECT_TYPE', `${oid} is a ${obj.type}, not a blob`, { oid, expected: 'blob', actual: obj.type });
    if (obj.data.length <= this.cacheBytes / 16) this.cache.set(oid, obj.data, obj.data.length);
    return obj.data;
  }
}
