/**
 * Bounded inflate of one entry's zlib stream with native zlib. The declared size from the entry
 * header is the exact output bound: a stream that inflates to more is stopped at declared+1 bytes
 * (a deflate bomb cannot allocate more than that), to less is a size mismatch.
 */
import { inflateSync, type ZlibOptions } from 'node:zlib';
import { PackError } from './errors';

/** The inflated bytes and how many input bytes the zlib stream used. */
export interface Inflated {
  readonly data: Buffer;
  readonly consumed: number;
}

interface InflateInfo {
  buffer: Buffer;
  engine: { bytesWritten: number };
}

const inflateWithInfo = inflateSync as unknown as (buf: Uint8Array, opts: ZlibOptions & { info: true }) => InflateInfo;

/**
 * Inflates the zlib stream at the start of `input`, which must contain the whole stream (more
 * bytes after it are fine). `offset` is only for error messages.
 * Returns undefined when `input` ends before the stream does and `complete` is false.
 */
export function inflateEntry(input: Uint8Array, declaredSize: number, offset: number, complete = true): Inflated | undefined {
  let out: InflateInfo;
  try {
    out = inflateWithInfo(input, { info: true, maxOutputLength: Math.max(declaredSize, 1) + 1 });
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ERR_BUFFER_TOO_LARGE' || e instanceof RangeError) {
      throw new PackError(
        'PACK_SIZE_MISMATCH',
        `entry at offset ${offset} inflates to more than its declared ${declaredSize} bytes`,
        { offset, expected: declaredSize },
      );
    }
    if (code === 'Z_BUF_ERROR' && !complete) return undefined;
    if (code === 'Z_BUF_ERROR') {
      throw new PackError('PACK_TRUNCATED', `zlib stream of entry at offset ${offset} is cut short`, { offset }, e);
    }
    throw new PackError('PACK_ZLIB_CORRUPT', `corrupt zlib stream in entry at offset ${offset}: ${(e as Error).message}`, { offset }, e);
  }
  if (out.buffer.length !== declaredSize) {
    throw new PackError(
      'PACK_SIZE_MISMATCH',
      `entry at offset ${offset} inflates to ${out.buffer.length} bytes, its header says ${declaredSize}`,
      { offset, expected: declaredSize, actual: out.buffer.length },
    );
  }
  return { data: out.buffer, consumed: out.engine.bytesWritten };
}
