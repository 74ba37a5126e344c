/**
 * A reusable, synchronous, streaming zlib inflater (RFC 1950/1951 streams as stored in pack
 * entries, gitformat-pack(5): "compressed data"), used for every entry of every pushed pack.
 *
 * Why not `zlib.inflateSync`: it builds and tears down a zlib stream per call (~3-5 µs, a 16 KiB
 * output chunk, a copy when the output spans chunks) and needs the whole compressed entry in one
 * buffer, which a pack entry of unknown compressed length may not be. Packs hold hundreds of
 * thousands of small objects, so that overhead alone exceeded `git index-pack`'s per-object cost.
 * Here one native zlib handle is reset per entry (~0.4 µs), inflates straight into an output
 * buffer of exactly the declared size (+1 byte, which can only fill when the stream inflates to
 * more than declared — the deflate-bomb bound), and accepts input in pieces.
 *
 * This drives the handle behind `zlib.createInflate()` through `_handle.writeSync` and
 * `_writeState`, the calls Node's own `zlib.inflateSync` makes (lib/zlib.js, processChunkSync;
 * unchanged from Node 12 through 22). The shape is checked on construction: a Node without it
 * fails closed with an InternalError, never by accepting a pack unchecked.
 */
import { createInflate, constants } from 'node:zlib';
import { InternalError } from '@pushgate/core';
import { PackError } from './errors';

interface ZlibHandle {
  writeSync(flush: number, input: Uint8Array, inOff: number, inLen: number, out: Uint8Array, outOff: number, outLen: number): void;
  reset(): void;
  onerror: (message: string, errno: number, code?: string) => void;
}

interface InflateInternals {
  readonly _handle?: ZlibHandle;
  readonly _writeState?: Uint32Array;
  close(): void;
}

/** What one `step` of an Inflater ended with. */
export type InflateStatus =
  /** The zlib stream ended; input after it was left unconsumed. */
  | 'end'
  /** All input was consumed and the stream has not (visibly) ended: give it more input or `finish`. */
  | 'more'
  /** The output space is full and the stream continues (the entry inflates to more than declared). */
  | 'full';

/** A zlib error from a step, or undefined. */
interface ZlibFailure {
  readonly message: string;
  readonly code: string;
}

/** `_writeState` is [availOutAfter, availInAfter]; checked by shape since Jest's VM realm has other typed-array constructors. */
function isWriteState(state: unknown): state is Uint32Array {
  return ArrayBuffer.isView(state) && (state as Uint32Array).length === 2 && typeof (state as Uint32Array)[0] === 'number';
}

const NO_BYTES = new Uint8Array(0);

/** One zlib inflate stream, reset and reused for entry after entry. */
export class Inflater {
  /** Input bytes the last `step` consumed. */
  consumed = 0;
  /** Output bytes the last `step` produced. */
  produced = 0;
  private readonly stream: InflateInternals;
  private readonly handle: ZlibHandle;
  private readonly state: Uint32Array;
  private failure: ZlibFailure | undefined;
  /** Where `finish` lets a stream that had more to give write one byte. */
  private readonly spare = new Uint8Array(1);

  constructor() {
    const stream = createInflate() as unknown as InflateInternals;
    const handle = stream._handle;
    const state = stream._writeState;
    if (!handle || typeof handle.writeSync !== 'function' || typeof handle.reset !== 'function' || !isWriteState(state)) {
      stream.close();
      throw new InternalError(`this Node.js (${process.version}) does not expose the zlib handle pack inflation needs`);
    }
    this.stream = stream;
    this.handle = handle;
    this.state = state;
    handle.onerror = (message, _errno, code) => {
      this.failure = { message, code: code ?? 'Z_ERROR' };
    };
  }

  /** Starts a new zlib stream. */
  reset(): void {
    this.failure = undefined;
    this.handle.reset();
  }

  /**
   * Feeds `input[inStart, inEnd)`, writing into `out[outStart, outEnd)`. Sets `consumed` and
   * `produced`. A corrupt stream throws PACK_ZLIB_CORRUPT naming `offset` (the entry's offset).
   */
  step(input: Uint8Array, inStart: number, inEnd: number, out: Uint8Array, outStart: number, outEnd: number, offset: number): InflateStatus {
    const inLen = inEnd - inStart;
    const outLen = outEnd - outStart;
    this.handle.writeSync(constants.Z_SYNC_FLUSH, input, inStart, inLen, out, outStart, outLen);
    if (this.failure) this.fail(offset);
    const availOut = this.state[0];
    const availIn = this.state[1];
    this.consumed = inLen - availIn;
    this.produced = outLen - availOut;
    if (availOut === 0) return 'full';
    return availIn > 0 ? 'end' : 'more';
  }

  /**
   * After a step that said 'more' and with no input left: true when the stream had in fact
   * ended exactly at the end of the input, false when it is cut short.
   */
  finish(offset: number): boolean {
    this.handle.writeSync(constants.Z_FINISH, NO_BYTES, 0, 0, this.spare, 0, 1);
    const failure = this.failure;
    if (failure?.code === 'Z_BUF_ERROR') return false;
    if (failure) this.fail(offset);
    // A stream that still had output to give would have written it into `spare`.
    return this.state[0] === 1;
  }

  /**
   * Inflates one whole zlib stream at the start of `input` (more bytes after it are fine) that
   * must produce exactly `size` bytes. Errors name `offset`, the entry's pack offset.
   */
  inflateAll(input: Uint8Array, size: number, offset: number): Buffer {
    return this.inflateInto(input, 0, input.length, size, Buffer.allocUnsafe(size + 1), offset);
  }

  /**
   * Like inflateAll for the stream at `input[start, end)`, writing into `out` (at least `size` + 1
   * bytes, so a stream that inflates to more than declared is caught): returns the `size`-byte view
   * of `out`. A caller that reuses `out` for short-lived data (delta instructions) saves allocations.
   */
  inflateInto(input: Uint8Array, start: number, end: number, size: number, out: Buffer, offset: number): Buffer {
    if (out.length <= size) throw new InternalError(`inflate output of ${out.length} bytes cannot hold ${size} + 1`);
    this.reset();
    const status = this.step(input, start, end, out, 0, size + 1, offset);
    if (status === 'full') {
      throw new PackError('PACK_SIZE_MISMATCH', `entry at offset ${offset} inflates to more than its declared ${size} bytes`, {
        offset,
        expected: size,
      });
    }
    if (status === 'more' && !this.finish(offset)) {
      throw new PackError('PACK_TRUNCATED', `zlib stream of entry at offset ${offset} is cut short`, { offset });
    }
    if (this.produced !== size) {
      throw new PackError('PACK_SIZE_MISMATCH', `entry at offset ${offset} inflates to ${this.produced} bytes, its header says ${size}`, {
        offset,
        expected: size,
        actual: this.produced,
      });
    }
    return out.subarray(0, size);
  }

  /** Releases the native stream. */
  close(): void {
    this.stream.close();
  }

  private fail(offset: number): never {
    const failure = this.failure!;
    this.failure = undefined;
    throw new PackError('PACK_ZLIB_CORRUPT', `corrupt zlib stream in entry at offset ${offset}: ${failure.message}`, {
      offset,
      zlib: failure.code,
    });
  }
}
