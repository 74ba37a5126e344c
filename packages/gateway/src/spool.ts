/**
 * A push's spooled pack, owned by one handle from the moment its directory is made until the file
 * is gone: inspection writes it, the relay reads it (`open()`), a hold hands it to the hold store
 * (`persist()`), and whatever happens `dispose()` removes it — once, however many paths lead there.
 *
 *   spooled → persisting → persisted      (the hold store has it; the file is removed)
 *           → disposed                     (relayed, refused, or the hold could not be stored)
 */
import { createReadStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

/** Where a spooled pack is in its life. */
export type SpoolState = { readonly kind: 'spooled' } | { readonly kind: 'persisting' } | { readonly kind: 'persisted' } | { readonly kind: 'disposed' };

/** Read size of the spooled pack: large enough that a relay or a hold is not paced by small reads. */
const READ_CHUNK_BYTES = 1 << 20;

/** The spooled pack of one push (see the module comment). */
export class SpooledPack {
  /** The directory of this push's spool (the pack and its index). */
  readonly dir: string;
  /** The pack file as received, byte for byte. */
  readonly path: string;
  #state: SpoolState = { kind: 'spooled' };
  #persisting: Promise<unknown> | undefined;
  #removed: Promise<void> | undefined;

  private constructor(dir: string) {
    this.dir = dir;
    this.path = join(dir, 'push.pack');
  }

  /** A handle for a new push's spool under `root` (`<dataDir>/spool`); its directory is created. */
  static async create(root: string, name: string): Promise<SpooledPack> {
    const spool = new SpooledPack(join(root, name));
    await mkdir(spool.dir, { recursive: true });
    return spool;
  }

  get state(): SpoolState {
    return this.#state;
  }

  /** The pack's bytes as a stream, from the start (for the relay, or for a retry of it). */
  open(): AsyncIterable<Uint8Array> {
    if (this.#state.kind !== 'spooled') throw new Error(`the spooled pack is ${this.#state.kind}: it can no longer be read`);
    return createReadStream(this.path, { highWaterMark: READ_CHUNK_BYTES });
  }

  /**
   * Hands the pack to `store` as a stream and, once it resolves (the hold is stored), removes the
   * file. When `store` rejects, the pack is kept for `dispose()`, which the owner calls anyway.
   */
  async persist<T>(store: (pack: AsyncIterable<Uint8Array>) => Promise<T>): Promise<T> {
    if (this.#state.kind !== 'spooled') throw new Error(`the spooled pack is ${this.#state.kind}: it cannot be persisted`);
    this.#state = { kind: 'persisting' };
    let stored: T;
    try {
      const storing = store(createReadStream(this.path, { highWaterMark: READ_CHUNK_BYTES }));
      this.#persisting = storing;
      stored = await storing;
    } catch (e) {
      this.#state = { kind: 'spooled' };
      throw e;
    }
    this.#state = { kind: 'persisted' };
    await this.#remove();
    return stored;
  }

  /** Removes the spool unless it was persisted (which removed it already). Idempotent. */
  async dispose(): Promise<void> {
    // The store is still reading the file: it is removed once the store is done with it.
    if (this.#state.kind === 'persisting') await this.#persisting?.catch(() => undefined);
    if (this.#state.kind === 'spooled') this.#state = { kind: 'disposed' };
    await this.#remove();
  }

  #remove(): Promise<void> {
    this.#removed ??= rm(this.dir, { recursive: true, force: true });
    return this.#removed;
  }
}
