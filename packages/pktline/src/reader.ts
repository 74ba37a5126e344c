/**
 * A streaming pkt-line reader (gitprotocol-common(5) "pkt-line Format") over any
 * `AsyncIterable<Uint8Array>`, such as a Node request stream.
 *
 * Packets may be split across chunks anywhere (1-byte chunks work); a payload that lies inside one
 * chunk is returned as a view of that chunk, so bytes are copied only when a packet straddles
 * chunks. The reader never pulls more from the source than it needs to finish the current packet,
 * and `remainder()` hands over everything after the last packet returned, buffered bytes first:
 * a receive-pack body is pkt-lines followed by a raw pack that must not pass through here.
 *
 * Chunks are kept by reference, so a source must not reuse a chunk's memory after yielding it
 * (Node streams do not).
 */
import { InternalError, LimitError, MAX_PKT_LINE_BYTES } from '@pushgate/core';
import { PktLineError, REQUEST_PARSE_DELIVERY } from './errors';
import { PKT_HEADER_BYTES, errPacketMessage, type Pkt } from './pkt';

/** What the reader does with an `ERR <message>` packet. */
export type ErrPacketHandling =
  /** Return it as an ordinary data packet (where such a payload is legal, or the caller checks). */
  | 'data'
  /** Throw PKT_ERR_PACKET carrying the message, as git does where normal output is expected. */
  | 'error';

/** Options of a PktLineReader. */
export interface PktLineReaderOptions {
  /** Defaults to 'data'. */
  readonly errPackets?: ErrPacketHandling;
}

const FLUSH_PKT: Pkt = Object.freeze({ kind: 'flush' });
const DELIM_PKT: Pkt = Object.freeze({ kind: 'delim' });
const RESPONSE_END_PKT: Pkt = Object.freeze({ kind: 'response-end' });

/** How long a caller may parse already-buffered packets before the reader yields to the event loop. */
const YIELD_AFTER_MS = 10;

type ReaderState =
  | { readonly kind: 'reading' }
  | { readonly kind: 'failed'; readonly error: unknown }
  | { readonly kind: 'handed-over' };

/** Reads pkt-lines from a byte stream and can hand over the bytes after them. */
export class PktLineReader implements AsyncIterable<Pkt> {
  private readonly source: AsyncIterator<Uint8Array>;
  private readonly errPackets: ErrPacketHandling;
  /** Unread chunks; the first starts at `head`. */
  private readonly chunks: Buffer[] = [];
  private head = 0;
  private buffered = 0;
  private sourceDone = false;
  private offset = 0;
  private consumed = 0;
  private header = '';
  private state: ReaderState = { kind: 'reading' };
  private lastYield = performance.now();

  constructor(source: AsyncIterable<Uint8Array>, options: PktLineReaderOptions = {}) {
    this.source = source[Symbol.asyncIterator]();
    this.errPackets = options.errPackets ?? 'data';
  }

  /** Bytes consumed as pkt-lines so far, headers included. */
  get bytesConsumed(): number {
    return this.consumed;
  }

  /** Byte offset in the stream of the next unread byte. */
  get position(): number {
    return this.offset;
  }

  /** The four header characters of the packet returned last, as they were on the wire. */
  get lastHeader(): string {
    return this.header;
  }

  /** The next packet, or undefined when the stream ends cleanly between packets. */
  async read(): Promise<Pkt | undefined> {
    this.assertReading();
    try {
      return await this.readPkt();
    } catch (e) {
      this.state = { kind: 'failed', error: e };
      throw e;
    }
  }

  /** Up to `n` of the next bytes without consuming them; fewer only when the stream ends first. */
  async peek(n: number): Promise<Buffer> {
    this.assertReading();
    await this.fill(n);
    return this.copyOut(Math.min(n, this.buffered), false);
  }

  /**
   * The rest of the stream after the last packet returned: buffered bytes first, then the
   * untouched rest of the source. The reader cannot be read from afterwards.
   */
  remainder(): AsyncIterable<Uint8Array> {
    this.assertReading();
    this.state = { kind: 'handed-over' };
    const chunks = this.chunks.splice(0);
    if (chunks.length > 0) chunks[0] = chunks[0].subarray(this.head);
    this.head = 0;
    this.buffered = 0;
    const source = this.source;
    const sourceDone = this.sourceDone;
    return {
      async *[Symbol.asyncIterator]() {
        let finished = sourceDone;
        try {
          for (const chunk of chunks) yield chunk;
          while (!finished) {
            const next = await source.next();
            if (next.done) {
              finished = true;
            } else {
              yield next.value;
            }
          }
        } finally {
          // A consumer that stops early releases the source (for a Node stream: destroys it).
          if (!finished) await source.return?.();
        }
      },
    };
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Pkt> {
    for (;;) {
      const pkt = await this.read();
      if (!pkt) return;
      yield pkt;
    }
  }

  private async readPkt(): Promise<Pkt | undefined> {
    await this.maybeYield();
    const start = this.offset;
    await this.fill(PKT_HEADER_BYTES);
    if (this.buffered === 0) return undefined;
    if (this.buffered < PKT_HEADER_BYTES) {
      throw new PktLineError('PKT_TRUNCATED', `stream ends inside the pkt-line header at byte offset ${start}`, {
        offset: start,
        expected: PKT_HEADER_BYTES,
        actual: this.buffered,
      });
    }
    const headerBytes = this.copyOut(PKT_HEADER_BYTES, true);
    const header = headerBytes.toString('latin1');
    const length = parseLength(headerBytes);
    if (length < 0 || length === 3) {
      throw new PktLineError('PKT_INVALID_LENGTH', `invalid pkt-line length ${JSON.stringify(header)} at byte offset ${start}`, {
        offset: start,
        actual: header,
      });
    }
    if (length > MAX_PKT_LINE_BYTES) {
      throw new LimitError('pktLine', MAX_PKT_LINE_BYTES, length, `pkt-line at byte offset ${start}`, REQUEST_PARSE_DELIVERY);
    }
    this.header = header;
    let pkt: Pkt;
    if (length === 0) {
      pkt = FLUSH_PKT;
    } else if (length === 1) {
      pkt = DELIM_PKT;
    } else if (length === 2) {
      pkt = RESPONSE_END_PKT;
    } else {
      // 0004 is an empty data packet: the spec only says senders SHOULD NOT send it, git's own
      // reader accepts it, and `git push -o ""` sends one.
      const size = length - PKT_HEADER_BYTES;
      await this.fill(size);
      if (this.buffered < size) {
        throw new PktLineError(
          'PKT_TRUNCATED',
          `stream ends inside the pkt-line at byte offset ${start}: ${size} payload bytes declared, ${this.buffered} present`,
          { offset: start, expected: size, actual: this.buffered },
        );
      }
      pkt = { kind: 'data', payload: this.take(size) };
    }
    this.consumed += length === 0 || length === 1 || length === 2 ? PKT_HEADER_BYTES : length;
    if (this.errPackets === 'error') {
      const message = errPacketMessage(pkt);
      if (message !== undefined) {
        throw new PktLineError('PKT_ERR_PACKET', `the peer reported an error: ${message}`, { offset: start, message });
      }
    }
    return pkt;
  }

  /** Pulls chunks until `n` bytes are buffered or the source ends. */
  private async fill(n: number): Promise<void> {
    while (this.buffered < n && !this.sourceDone) {
      const next = await this.source.next();
      if (next.done) {
        this.sourceDone = true;
        break;
      }
      const chunk = next.value;
      if (chunk.byteLength === 0) continue;
      this.chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      this.buffered += chunk.byteLength;
    }
  }

  /** Consumes `n` buffered bytes: a view when they lie in one chunk, else one copy. */
  private take(n: number): Buffer {
    const first = this.chunks[0];
    if (first && first.length - this.head >= n) {
      const view = first.subarray(this.head, this.head + n);
      this.advance(n);
      return view;
    }
    return this.copyOut(n, true);
  }

  /** Copies the next `n` buffered bytes, consuming them when `consume` is set. */
  private copyOut(n: number, consume: boolean): Buffer {
    const out = Buffer.allocUnsafe(n);
    let written = 0;
    let at = this.head;
    for (let i = 0; written < n; i++) {
      const chunk = this.chunks[i];
      const count = Math.min(n - written, chunk.length - at);
      chunk.copy(out, written, at, at + count);
      written += count;
      at = 0;
    }
    if (consume) this.advance(n);
    return out;
  }

  private advance(n: number): void {
    this.buffered -= n;
    this.offset += n;
    let left = n;
    while (left > 0) {
      const available = this.chunks[0].length - this.head;
      if (available > left) {
        this.head += left;
        return;
      }
      left -= available;
      this.chunks.shift();
      this.head = 0;
    }
  }

  /** Parsing packets that are already buffered never awaits I/O; give other requests a turn. */
  private async maybeYield(): Promise<void> {
    const now = performance.now();
    if (now - this.lastYield < YIELD_AFTER_MS) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.lastYield = performance.now();
  }

  private assertReading(): void {
    if (this.state.kind === 'failed') throw this.state.error;
    if (this.state.kind === 'handed-over') {
      throw new InternalError('PktLineReader: the stream was handed over with remainder() and cannot be read');
    }
  }
}

/** The value of a 4-digit hex length header, or -1 when it is not hex. */
function parseLength(header: Buffer): number {
  let value = 0;
  for (let i = 0; i < PKT_HEADER_BYTES; i++) {
    const c = header[i];
    let digit: number;
    if (c >= 0x30 && c <= 0x39) digit = c - 0x30;
    else if (c >= 0x61 && c <= 0x66) digit = c - 0x57;
    else if (c >= 0x41 && c <= 0x46) digit = c - 0x37;
    else return -1;
    value = value * 16 + digit;
  }
  return value;
}
