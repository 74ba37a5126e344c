/**
 * The objects of a push: its pack (spooled and indexed by @pushgate/pack) read through the index,
 * with REF_DELTA bases the client left out (a thin pack, gitformat-pack(5) "thin pack") resolved
 * from the base store, the upstream mirror. Layer it over the mirror with LayeredObjectStore to
 * see pack ∪ mirror.
 */
import type { Limits, Oid } from '@pushgate/core';
import type { RawObject } from '@pushgate/pack';
import { PackSource } from './pack-source';
import { LayeredObjectStore, type ObjectHeader, type ObjectStore } from './store';

/** Options of PushedPackStore.open. */
export interface PushedPackStoreOptions {
  readonly limits: Pick<Limits, 'maxObjectBytes' | 'maxDeltaDepth'>;
  /** The store thin-pack bases come from (the mirror). */
  readonly base: ObjectStore;
  /** Bytes of resolved objects the pack's reader keeps (PackReader's default, 16 MiB, when unset). */
  readonly cacheBytes?: number;
}

/** The objects a client pushed (only those: use `withBase()` for pack ∪ mirror). */
export class PushedPackStore implements ObjectStore {
  private readonly source: PackSource;
  readonly base: ObjectStore;

  private constructor(source: PackSource, base: ObjectStore) {
    this.source = source;
    this.base = base;
  }

  /** Opens a pushed pack and its index. */
  static open(packPath: string, idxPath: string, options: PushedPackStoreOptions): PushedPackStore {
    const source = PackSource.open(packPath, idxPath, {
      limits: options.limits,
      external: options.base,
      ...(options.cacheBytes !== undefined ? { cacheBytes: options.cacheBytes } : {}),
    });
    return new PushedPackStore(source, options.base);
  }

  /** Number of objects in the pushed pack. */
  get count(): number {
    return this.source.count;
  }

  /** The ids of every object in the pushed pack, in index order. */
  *oids(): IterableIterator<Oid> {
    const index = this.source.reader.index;
    for (let i = 0; i < index.count; i++) yield index.oidAt(i);
  }

  read(oid: Oid): RawObject | undefined {
    return this.source.read(oid);
  }

  has(oid: Oid): boolean {
    return this.source.has(oid);
  }

  header(oid: Oid): ObjectHeader | undefined {
    return this.source.header(oid);
  }

  /** The pushed objects over the base store: what a push's change set is built from. */
  withBase(): LayeredObjectStore {
    return new LayeredObjectStore([this, this.base]);
  }

  /** Releases the pack files (the base store stays open). */
  close(): void {
    this.source.close();
  }
}
