/**
 * The object database of a git directory (gitrepository-layout(5): `objects/pack/*.pack` with
 * their `.idx`, and loose `objects/xx/<38 hex>`), read without git and without loading packs
 * into memory: each pack is read through its index, entry by entry.
 *
 * The upstream mirror keeps fetched objects as packs (transfer.unpackLimit=1), so loose objects
 * are rare; they are listed when the store opens or refreshes, which makes `has` a memory lookup.
 * A fetch adds a pack; `refresh()` picks it up (and drops packs a repack removed). Alternates
 * (`objects/info/alternates`) and multi-pack indexes are not read: every pack still has its own
 * `.idx`, and the mirror has no alternates.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Limits, Oid } from '@pushgate/core';
import { PackCache, type RawObject } from '@pushgate/pack';
import { StoreError } from './errors';
import { readLoose, readLooseHeader } from './loose';
import { PackSource } from './pack-source';
import type { ObjectHeader, ObjectStore } from './store';

/** Options of GitDirObjectStore.open. */
export interface GitDirObjectStoreOptions {
  /** maxObjectBytes bounds what is materialised; maxDeltaDepth the chains followed. */
  readonly limits: Pick<Limits, 'maxObjectBytes' | 'maxDeltaDepth'>;
  /** Bytes of resolved objects kept for all the store's packs together (default 32 MiB). */
  readonly cacheBytes?: number;
  /** Bytes of pack files kept in memory, as 64 KiB windows, for all packs together (default 32 MiB). */
  readonly windowBytes?: number;
}

/** The store's default budgets: a mirror is read for thin bases and old sides, far less than a push. */
const DEFAULT_STORE_CACHE_BYTES = 32 * 1024 * 1024;
const DEFAULT_STORE_WINDOW_BYTES = 32 * 1024 * 1024;

/** What a refresh changed. */
export interface RefreshResult {
  readonly added: number;
  readonly removed: number;
}

const LOOSE_NAME = /^[0-9a-f]{38}$/;
const FANOUT_DIR = /^[0-9a-f]{2}$/;

/** The objects of one git directory (packs and loose objects). */
export class GitDirObjectStore implements ObjectStore {
  readonly gitDir: string;
  private readonly objectsDir: string;
  private readonly options: GitDirObjectStoreOptions;
  /** What the packs keep in memory, under one budget however many packs there are. */
  private readonly cache: PackCache;
  /** Most recently useful first: consecutive reads tend to hit the same pack. */
  private packs: PackSource[] = [];
  private loose = new Set<string>();
  private closed = false;

  private constructor(gitDir: string, options: GitDirObjectStoreOptions) {
    this.gitDir = gitDir;
    this.objectsDir = join(gitDir, 'objects');
    this.options = options;
    this.cache = new PackCache({
      objectBytes: options.cacheBytes ?? DEFAULT_STORE_CACHE_BYTES,
      windowBytes: options.windowBytes ?? DEFAULT_STORE_WINDOW_BYTES,
    });
  }

  /** Opens the object database of `gitDir` (a bare repository or a `.git` directory). */
  static open(gitDir: string, options: GitDirObjectStoreOptions): GitDirObjectStore {
    const store = new GitDirObjectStore(gitDir, options);
    if (!existsSync(store.objectsDir)) {
      throw new StoreError('OBJ_STORE_UNREADABLE', `${gitDir} has no objects directory`, { path: store.objectsDir });
    }
    store.refresh();
    return store;
  }

  /** Number of packs currently open. */
  get packCount(): number {
    return this.packs.length;
  }

  /**
   * Re-reads the pack directory and the loose objects: new packs are opened, vanished ones closed.
   * Closing is immediate, so call it where no build reads the store: after the mirror's fetch,
   * under the mirror lock (a repack only runs under the exclusive lock, so a pack can only vanish
   * while no lease, and so no build, is outstanding).
   */
  refresh(): RefreshResult {
    if (this.closed) throw new StoreError('OBJ_STORE_UNREADABLE', `object store of ${this.gitDir} is closed`, { path: this.gitDir });
    const packDir = join(this.objectsDir, 'pack');
    let names: string[] = [];
    try {
      names = readdirSync(packDir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new StoreError('OBJ_STORE_UNREADABLE', `cannot list ${packDir}: ${(e as Error).message}`, { path: packDir }, e);
      }
    }
    // git writes the .idx after the .pack is complete, so a pack with an index is whole.
    const present = new Set(names.filter((n) => n.endsWith('.idx') && names.includes(`${n.slice(0, -4)}.pack`)).map((n) => join(packDir, `${n.slice(0, -4)}.pack`)));
    const kept: PackSource[] = [];
    let removed = 0;
    for (const p of this.packs) {
      if (present.has(p.packPath)) {
        kept.push(p);
        present.delete(p.packPath);
      } else {
        p.close();
        removed++;
      }
    }
    let added = 0;
    const fresh: PackSource[] = [];
    for (const packPath of present) {
      try {
        fresh.push(
          PackSource.open(packPath, `${packPath.slice(0, -5)}.idx`, { limits: this.options.limits, cache: this.cache }),
        );
        added++;
      } catch (e) {
        // A repack may delete a pack between the listing and the open; anything else is real.
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
        for (const p of fresh) p.close();
        throw new StoreError('OBJ_STORE_UNREADABLE', `cannot open pack ${packPath}: ${(e as Error).message}`, { path: packPath }, e);
      }
    }
    // Newest packs first: a fetch's pack holds what the next push most likely builds on.
    this.packs = [...fresh, ...kept];
    this.loose = this.listLoose();
    return { added, removed };
  }

  private listLoose(): Set<string> {
    const out = new Set<string>();
    let dirs: string[];
    try {
      dirs = readdirSync(this.objectsDir);
    } catch (e) {
      throw new StoreError('OBJ_STORE_UNREADABLE', `cannot list ${this.objectsDir}: ${(e as Error).message}`, { path: this.objectsDir }, e);
    }
    for (const d of dirs) {
      if (!FANOUT_DIR.test(d)) continue;
      let files: string[];
      try {
        files = readdirSync(join(this.objectsDir, d));
      } catch {
        continue;
      }
      for (const f of files) if (LOOSE_NAME.test(f)) out.add(d + f);
    }
    return out;
  }

  private loosePath(oid: Oid): string {
    return join(this.objectsDir, oid.slice(0, 2), oid.slice(2));
  }

  /** Asks each pack in turn (one index lookup each), moving the pack that answers to the front. */
  private fromPacks<T>(ask: (pack: PackSource) => T | undefined): T | undefined {
    const packs = this.packs;
    for (let i = 0; i < packs.length; i++) {
      const answer = ask(packs[i]);
      if (answer !== undefined) {
        if (i > 0) packs.unshift(...packs.splice(i, 1));
        return answer;
      }
    }
    return undefined;
  }

  read(oid: Oid): RawObject | undefined {
    const packed = this.fromPacks((p) => p.read(oid));
    if (packed) return packed;
    if (this.loose.has(oid)) return readLoose(this.loosePath(oid), oid, this.options.limits.maxObjectBytes);
    return undefined;
  }

  has(oid: Oid): boolean {
    return this.fromPacks((p) => (p.has(oid) ? true : undefined)) === true || this.loose.has(oid);
  }

  header(oid: Oid): ObjectHeader | undefined {
    const packed = this.fromPacks((p) => p.header(oid));
    if (packed) return packed;
    if (this.loose.has(oid)) return readLooseHeader(this.loosePath(oid), oid);
    return undefined;
  }

  /** Closes every pack. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.packs) p.close();
    this.packs = [];
    this.loose.clear();
    this.cache.close();
  }
}
