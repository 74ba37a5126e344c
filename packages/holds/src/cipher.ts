/**
 * Held packs at rest: AES-256-GCM per chunk (NIST SP 800-38D), a fresh random 96-bit nonce per
 * chunk, and additional authenticated data binding each chunk to its hold, its position and
 * whether it is the last one. So a chunk that is altered, moved to another position, copied into
 * another hold, or a pack cut short after any chunk, fails authentication instead of decrypting.
 * Random nonces are safe here: a key encrypts far fewer than 2^32 chunks (SP 800-38D §8.3).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { HoldKey } from './key';
import { HoldError } from './errors';

/** Plaintext bytes per chunk: small enough to hold two in memory per held push, large enough that rows are few. */
export const DEFAULT_CHUNK_BYTES = 4 * 1024 * 1024;

const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const AAD_DOMAIN = 'pushgate-hold-pack-v1';

/** One encrypted chunk as stored: `data` is the ciphertext followed by the GCM tag. */
export interface SealedChunk {
  readonly nonce: Buffer;
  readonly data: Buffer;
}

function aad(holdId: string, seq: number, last: boolean): Buffer {
  const position = Buffer.alloc(5);
  position.writeUInt32BE(seq, 0);
  position[4] = last ? 1 : 0;
  return Buffer.concat([Buffer.from(`${AAD_DOMAIN}\0${holdId}\0`, 'utf8'), position]);
}

/** Encrypts chunk `seq` of hold `holdId`. */
export function sealChunk(key: HoldKey, holdId: string, seq: number, last: boolean, plaintext: Uint8Array): SealedChunk {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key.key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad(holdId, seq, last));
  const data = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  return { nonce, data };
}

/** Decrypts chunk `seq` of hold `holdId`; throws HoldError HOLD_PACK_CORRUPT when it does not authenticate as that. */
export function openChunk(key: HoldKey, holdId: string, seq: number, last: boolean, chunk: SealedChunk): Buffer {
  const corrupt = (why: string): HoldError =>
    new HoldError('HOLD_PACK_CORRUPT', `chunk ${seq} of hold ${holdId}'s pack ${why}`, { holdId, seq });
  if (chunk.nonce.length !== NONCE_BYTES || chunk.data.length < TAG_BYTES) throw corrupt('is malformed');
  try {
    const decipher = createDecipheriv('aes-256-gcm', key.key, chunk.nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(aad(holdId, seq, last));
    decipher.setAuthTag(chunk.data.subarray(chunk.data.length - TAG_BYTES));
    return Buffer.concat([decipher.update(chunk.data.subarray(0, chunk.data.length - TAG_BYTES)), decipher.final()]);
  } catch (e) {
    throw new HoldError('HOLD_PACK_CORRUPT', `chunk ${seq} of hold ${holdId}'s pack does not authenticate (altered, misplaced or truncated)`, { holdId, seq }, e);
  }
}

/**
 * Cuts a byte stream into chunks of `size` bytes (the last may be shorter, or empty for an empty
 * stream: there is always one, so the last-chunk marker always exists). One chunk is kept back
 * until the next byte arrives, to know whether it is the last: at most two chunks in memory.
 */
export async function* chunked(source: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<{ readonly plaintext: Buffer; readonly last: boolean }> {
  let pending: Buffer | undefined;
  let parts: Buffer[] = [];
  let filled = 0;
  for await (const piece of source) {
    let offset = 0;
    while (offset < piece.length) {
      const take = Math.min(size - filled, piece.length - offset);
      parts.push(Buffer.from(piece.subarray(offset, offset + take)));
      filled += take;
      offset += take;
      if (filled === size) {
        if (pending !== undefined) yield { plaintext: pending, last: false };
        pending = Buffer.concat(parts, filled);
        parts = [];
        filled = 0;
      }
    }
  }
  if (filled > 0) {
    if (pending !== undefined) yield { plaintext: pending, last: false };
    pending = Buffer.concat(parts, filled);
  }
  yield { plaintext: pending ?? Buffer.alloc(0), last: true };
}
