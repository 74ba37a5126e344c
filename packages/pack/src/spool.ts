/**
 * Spools a pack to disk as it arrives (the pack data of a receive-pack request,
 * gitprotocol-pack(5)), with backpressure: the next chunk is not read until the previous ones
 * are written, so memory stays at one staging buffer whatever the push's size. The pack is
 * refused (LIMIT_PACK_BYTES) the moment it passes `limits.maxPackBytes`; reading stops there.
 *
 * The SHA-1 of everything but the last 20 bytes is computed on the way through; for a well-formed
 * pack that is what its trailer must be (gitformat-pack(5)), so indexPack needs no second hash.
 */
import { createHash } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import { LimitError, Pacer, type Limits, type ProgressSink } from '@pushgate/core';
import { PACK_TRAILER_BYTES } from './format';

/** Options of spoolPack. */
export interface SpoolOptions {
  readonly limits: Pick<Limits, 'maxPackBytes'>;
  readonly onProgress?: ProgressSink;
  readonly signal?: AbortSignal;
}

/** A pack spooled to disk. */
export interface SpooledPack {
  readonly bytes: number;
  /**
   * SHA-1 of all but the last 20 bytes, hex: what a well-formed pack's trailer is. Undefined
   * for a file shorter than 20 bytes.
   */
  readonly checksum: string | undefined;
}

/** Bytes collected before each write: large writes, one bounded buffer. */
const STAGING_BYTES = 1 << 20;

/**
 * Writes `source` to a new file at `path` (which must not exist). On any failure — the limit,
 * the source failing, a write error — the partial file is removed and the error rethrown.
 */
export async function spoolPack(source: AsyncIterable<Uint8Array>, path: string, opts: SpoolOptions): Promise<SpooledPack> {
  const max = opts.limits.maxPackBytes;
  const pacer = new Pacer({ signal: opts.signal, onProgress: opts.onProgress });
  pacer.check();
  const fh = await open(path, 'wx');
  const hash = createHash('sha1');
  // The last 20 bytes seen so far are held back from the hash: they may be the trailer.
  const tail = Buffer.alloc(PACK_TRAILER_BYTES);
  let tailLen = 0;
  const staging = Buffer.allocUnsafe(STAGING_BYTES);
  let staged = 0;
  let bytes = 0;
  try {
    for await (const chunk of source) {
      if (bytes + chunk.length > max) {
        throw new LimitError('maxPackBytes', max, bytes + chunk.length, 'pack data received so far');
      }
      bytes += chunk.length;
      hashHoldingBack(hash, tail, tailLen, chunk);
      tailLen = Math.min(PACK_TRAILER_BYTES, tailLen + chunk.length);
      let at = 0;
      while (at < chunk.length) {
        const n = Math.min(chunk.length - at, staging.length - staged);
        staging.set(chunk.subarray(at, at + n), staged);
        staged += n;
        at += n;
        if (staged === staging.length) {
          await writeAll(fh, staging, staged);
          staged = 0;
        }
      }
      if (pacer.due()) await pacer.pause('receiving pack', bytes);
    }
    await writeAll(fh, staging, staged);
    await fh.close();
    pacer.progress('receiving pack', bytes, bytes);
    return { bytes, checksum: bytes >= PACK_TRAILER_BYTES ? hash.digest('hex') : undefined };
  } catch (e) {
    await fh.close().catch(() => undefined);
    await rm(path, { force: true });
    throw e;
  }
}

/**
 * Hashes everything of (held-back tail ++ chunk) except its last 20 bytes, and leaves those in
 * `tail` (right-aligned when fewer than 20 have been seen).
 */
function hashHoldingBack(hash: ReturnType<typeof createHash>, tail: Buffer, tailLen: number, chunk: Uint8Array): void {
  const held = tail.subarray(PACK_TRAILER_BYTES - tailLen);
  const total = tailLen + chunk.length;
  const release = Math.max(0, total - PACK_TRAILER_BYTES);
  if (release === 0) {
    const joined = Buffer.concat([held, chunk]);
    joined.copy(tail, PACK_TRAILER_BYTES - joined.length);
    return;
  }
  if (release <= tailLen) {
    hash.update(held.subarray(0, release));
    const joined = Buffer.concat([held.subarray(release), chunk]);
    joined.copy(tail, 0);
    return;
  }
  hash.update(held);
  hash.update(chunk.subarray(0, release - tailLen));
  tail.set(chunk.subarray(chunk.length - PACK_TRAILER_BYTES));
}

async function writeAll(fh: Awaited<ReturnType<typeof open>>, buf: Buffer, n: number): Promise<void> {
  let at = 0;
  while (at < n) {
    const { bytesWritten } = await fh.write(buf, at, n - at);
    at += bytesWritten;
  }
}
