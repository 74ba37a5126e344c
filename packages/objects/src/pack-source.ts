/**
 * One pack file and its v2 index as an object store: content, and headers (type and size), through
 * @pushgate/pack's PackReader. A header comes from the entry header (gitformat-pack(5): a base
 * entry's header holds its size; a delta's data starts with the base and result sizes,
 * "Deltified representation"), so a 100 MB blob's size costs a few bytes of inflation.
 */
import type { Limits, Oid } from '@pushgate/core';
import { PackReader, type PackCache, type RawObject } from '@pushgate/pack';
import type { ObjectHeader, ObjectStore } from './store';

/** Options of a PackSource. */
export interface PackSourceOptions {
  readonly limits: Pick<Limits, 'maxObjectBytes' | 'maxDeltaDepth'>;
  /** Where REF_DELTA bases outside this pack come from (a thin pack's bases: the mirror). */
  readonly external?: ObjectStore;
  /** Memory shared with the other packs of a store (windows, resolved objects); else the reader's own: */
  readonly cache?: PackCache;
  /** Bytes of resolved objects the reader keeps (without `cache`). */
  readonly cacheBytes?: number;
  /** Bytes of the pack file the reader keeps in memory as 64 KiB windows (without `cache`). */
  readonly windowBytes?: number;
}

/** A pack and its index, read as an ObjectStore. */
export class PackSource implements ObjectStore {
  readonly packPath: string;
  readonly reader: PackReader;

  private constructor(packPath: string, reader: PackReader) {
    this.packPath = packPath;
    this.reader = reader;
  }

  /** Opens a pack with its index (both checked to belong together by PackReader). */
  static open(packPath: string, idxPath: string, options: PackSourceOptions): PackSource {
    const external = options.external;
    const reader = PackReader.open(packPath, idxPath, {
      maxObjectBytes: options.limits.maxObjectBytes,
      maxDeltaDepth: options.limits.maxDeltaDepth,
      ...(external ? { external: (oid: Oid) => external.read(oid), externalHeader: (oid: Oid) => external.header(oid) } : {}),
      ...(options.cache !== undefined ? { cache: options.cache } : {}),
      ...(options.cacheBytes !== undefined ? { cacheBytes: options.cacheBytes } : {}),
      ...(options.windowBytes !== undefined ? { windowBytes: options.windowBytes } : {}),
    });
    return new PackSource(packPath, reader);
  }

  /** Number of objects in the pack. */
  get count(): number {
    return this.reader.index.count;
  }

  read(oid: Oid): RawObject | undefined {
    return this.reader.read(oid);
  }

  has(oid: Oid): boolean {
    return this.reader.has(oid);
  }

  header(oid: Oid): ObjectHeader | undefined {
    return this.reader.header(oid);
  }

  /** Releases the files. */
  close(): void {
    this.reader.close();
  }
}
