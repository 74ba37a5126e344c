import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { LimitError, MAX_PKT_LINE_BYTES, PushgateError } from '@pushgate/core';
import { DELIM, FLUSH, RESPONSE_END, chunked, pkt, pktLine } from '@pushgate/testkit';
import { PktLineReader, encodeErrPkt, encodePkt, errPacketMessage, singleLine, type Pkt } from './index';

async function readAll(bytes: Uint8Array, chunkSize = bytes.length || 1, reader?: PktLineReader): Promise<Pkt[]> {
  const r = reader ?? new PktLineReader(chunked(bytes, chunkSize));
  const out: Pkt[] = [];
  for await (const p of r) out.push(p);
  return out;
}

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

async function errorOf(promise: Promise<unknown>): Promise<PushgateError> {
  try {
    await promise;
  } catch (e) {
    if (e instanceof PushgateError) return e;
    throw e;
  }
  throw new Error('expected a PushgateError');
}

const data = (s: string): Pkt => ({ kind: 'data', payload: Buffer.from(s) });

describe('PktLineReader', () => {
  it.each([
    ['a data packet', pkt('hello\n'), [data('hello\n')]],
    ['the three special packets', pkt(FLUSH, DELIM, RESPONSE_END), [{ kind: 'flush' }, { kind: 'delim' }, { kind: 'response-end' }]],
    ['an empty data packet (0004), as git reads it', Buffer.from('0004'), [data('')]],
    ['uppercase hex lengths, as git reads them', Buffer.from('000Ahello\n'), [data('hello\n')]],
    ['binary payloads, 8-bit clean', pkt(Buffer.from([0, 255, 10, 13])), [{ kind: 'data', payload: Buffer.from([0, 255, 10, 13]) }]],
    ['a mixed sequence', pkt('a', FLUSH, 'b\n', DELIM, 'c'), [data('a'), { kind: 'flush' }, data('b\n'), { kind: 'delim' }, data('c')]],
    ['nothing at all', Buffer.alloc(0), []],
  ])('reads %s', async (_name, bytes, expected) => {
    for (const size of [1, 2, 3, 5, 1000]) {
      expect(await readAll(bytes, size)).toEqual(expected);
    }
  });

  it.each([
    ['0003', 'PKT_INVALID_LENGTH'],
    ['gorka', 'PKT_INVALID_LENGTH'],
    ['00g1', 'PKT_INVALID_LENGTH'],
    [' 004', 'PKT_INVALID_LENGTH'],
    ['fff5', 'LIMIT_PKT_LINE'],
    ['fff1', 'LIMIT_PKT_LINE'],
    ['000', 'PKT_TRUNCATED'],
    ['0009abc', 'PKT_TRUNCATED'],
  ])('rejects %j with %s', async (bytes, code) => {
    const e = await errorOf(readAll(Buffer.from(bytes), 1));
    expect(e.code).toBe(code);
    expect(e.delivery).toEqual({ kind: 'http', status: 400 });
  });

  it('accepts the largest packet and names the offset of one that is too large', async () => {
    const max = pktLine(Buffer.alloc(MAX_PKT_LINE_BYTES - 4, 0x61));
    expect(max.subarray(0, 4).toString()).toBe('fff0');
    const pkts = await readAll(Buffer.concat([max, FLUSH]), 4096);
    expect(pkts).toHaveLength(2);
    expect((pkts[0] as { payload: Buffer }).payload.length).toBe(MAX_PKT_LINE_BYTES - 4);

    const e = await errorOf(readAll(Buffer.concat([pkt('x'), Buffer.from('fff1')])));
    expect(e).toBeInstanceOf(LimitError);
    expect(e.code).toBe('LIMIT_PKT_LINE');
    expect(e.data).toEqual({ limit: 'pktLine', max: 65520, actual: 0xfff1 });
    expect(e.message).toContain('byte offset 5');
  });

  it('reports where a truncated packet starts and how much of it arrived', async () => {
    const e = await errorOf(readAll(Buffer.concat([pkt('abc', FLUSH), Buffer.from('0010abc')]), 2));
    expect(e.code).toBe('PKT_TRUNCATED');
    expect(e.data).toEqual({ offset: 11, expected: 12, actual: 3 });
  });

  it('keeps failing with the same error once it has failed', async () => {
    const r = new PktLineReader(chunked(Buffer.from('0003'), 4));
    const first = await errorOf(r.read());
    expect(await errorOf(r.read())).toBe(first);
  });

  it('returns views of the source chunk instead of copies when a packet lies inside one chunk', async () => {
    const bytes = pkt('hello', 'world');
    const r = new PktLineReader(chunked(bytes, bytes.length));
    const p = await r.read();
    expect(p?.kind === 'data' && p.payload.buffer).toBe(bytes.buffer);
  });

  it('hands over the rest of the stream after the last packet, buffered bytes first', async () => {
    const tail = Buffer.from('PACK\0\0\0\x02\0\0\0\0 and more bytes that are not pkt-lines');
    const body = Buffer.concat([pkt('one\n', 'two\n', FLUSH), tail]);
    for (const size of [1, 3, 7, 16, body.length]) {
      const r = new PktLineReader(chunked(body, size));
      expect(await r.read()).toEqual(data('one\n'));
      expect(await r.read()).toEqual(data('two\n'));
      expect(await r.read()).toEqual({ kind: 'flush' });
      expect(r.bytesConsumed).toBe(4 + 8 + 8);
      expect((await r.peek(4)).toString()).toBe('PACK');
      expect(await collect(r.remainder())).toEqual(tail);
      await expect(r.read()).rejects.toThrow('handed over');
    }
  });

  it('peeks fewer bytes only at the end of the stream', async () => {
    const r = new PktLineReader(chunked(pkt(FLUSH, 'x'), 1));
    expect((await r.peek(8)).toString()).toBe('00000005');
    expect(await r.read()).toEqual({ kind: 'flush' });
    expect((await r.peek(100)).toString()).toBe('0005x');
    expect(await r.read()).toEqual(data('x'));
    expect((await r.peek(4)).length).toBe(0);
    expect(await collect(r.remainder())).toEqual(Buffer.alloc(0));
  });

  it('does not pull the source further than the packet it returns', async () => {
    let pulled = 0;
    async function* source(): AsyncGenerator<Uint8Array> {
      for (const part of [pkt('a', FLUSH), Buffer.from('PACK'), Buffer.from('rest')]) {
        pulled++;
        yield part;
      }
    }
    const r = new PktLineReader(source());
    await r.read();
    await r.read();
    expect(pulled).toBe(1);
    expect((await collect(r.remainder())).toString()).toBe('PACKrest');
  });

  it('releases the source when the consumer of the remainder stops early', async () => {
    let finalized = false;
    async function* source(): AsyncGenerator<Uint8Array> {
      try {
        yield pkt(FLUSH);
        for (;;) yield Buffer.from('more');
      } finally {
        finalized = true;
      }
    }
    const r = new PktLineReader(source());
    await r.read();
    for await (const chunk of r.remainder()) {
      expect(chunk.length).toBeGreaterThan(0);
      break;
    }
    expect(finalized).toBe(true);
  });

  it('turns ERR packets into PKT_ERR_PACKET only when asked to', async () => {
    const bytes = pkt('ERR access denied\n');
    expect(await readAll(bytes)).toEqual([data('ERR access denied\n')]);
    const e = await errorOf(readAll(bytes, 3, new PktLineReader(chunked(bytes, 3), { errPackets: 'error' })));
    expect(e.code).toBe('PKT_ERR_PACKET');
    expect(e.data).toEqual({ offset: 0, message: 'access denied' });
    // Only "ERR " counts, as in git's packet reader.
    expect(await readAll(pkt('ERRATA\n'), 3, new PktLineReader(chunked(pkt('ERRATA\n'), 3), { errPackets: 'error' }))).toEqual([
      data('ERRATA\n'),
    ]);
  });

  it('yields to the event loop while parsing a long buffered stream', async () => {
    const many = Buffer.concat(Array.from({ length: 200_000 }, (_, i) => pktLine(`line ${i}\n`)));
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    try {
      const r = new PktLineReader(chunked(many, many.length));
      let n = 0;
      while (await r.read()) n++;
      expect(n).toBe(200_000);
    } finally {
      clearInterval(timer);
    }
    expect(ticks).toBeGreaterThan(0);
  });

  it('never throws anything but PushgateError on random bytes, and always ends', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 1, max: 17 }), async (bytes, size) => {
        try {
          await readAll(bytes, size);
        } catch (e) {
          expect(e).toBeInstanceOf(PushgateError);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('reads back what encodePkt wrote, however the stream is chunked', async () => {
    const packet = fc.oneof(
      fc.uint8Array({ maxLength: 200 }).map((b): Pkt => ({ kind: 'data', payload: Buffer.from(b) })),
      fc.constantFrom<Pkt>({ kind: 'flush' }, { kind: 'delim' }, { kind: 'response-end' }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(packet, { maxLength: 30 }), fc.integer({ min: 1, max: 50 }), async (pkts, size) => {
        const bytes = Buffer.concat(
          pkts.map((p) => (p.kind === 'data' ? encodePkt(p.payload) : p.kind === 'flush' ? FLUSH : p.kind === 'delim' ? DELIM : RESPONSE_END)),
        );
        expect(await readAll(bytes, size)).toEqual(pkts);
      }),
      { numRuns: 300 },
    );
  });
});

describe('encodePkt', () => {
  it('counts bytes, not characters', () => {
    expect(encodePkt('héllo\n').toString()).toBe('000bhéllo\n');
    expect(encodePkt('a\n')).toEqual(pkt('a\n'));
    expect(encodePkt(new Uint8Array([1, 2]))).toEqual(Buffer.from([0x30, 0x30, 0x30, 0x36, 1, 2]));
  });

  it('refuses a payload that would exceed 65520 bytes', () => {
    expect(encodePkt('a'.repeat(65516)).length).toBe(65520);
    expect(() => encodePkt('a'.repeat(65517))).toThrow(expect.objectContaining({ code: 'LIMIT_PKT_LINE' }));
    // 21845 three-byte characters are 65535 bytes, far over the limit, though the string is short.
    expect(() => encodePkt('€'.repeat(21845))).toThrow(expect.objectContaining({ code: 'LIMIT_PKT_LINE' }));
    expect(() => encodePkt('a'.repeat(65517))).toThrow(LimitError);
  });

  it('writes ERR packets on one line that fit a packet, and reads their message back', () => {
    expect(encodeErrPkt('no\r\naccess')).toEqual(pkt('ERR no access\n'));
    const long = encodeErrPkt('é'.repeat(40000));
    expect(long.length).toBeLessThanOrEqual(65520);
    const message = errPacketMessage({ kind: 'data', payload: long.subarray(4) });
    expect(message).toBe('é'.repeat((65516 - 5) >> 1));
    expect(errPacketMessage({ kind: 'flush' })).toBeUndefined();
    expect(errPacketMessage(data('ERROR'))).toBeUndefined();
  });

  it('cuts single-line text on a character boundary', () => {
    expect(singleLine('a\n\nb\rc\0d', 100)).toBe('a b c d');
    expect(singleLine('aé', 2)).toBe('a');
    expect(singleLine('aé', 3)).toBe('aé');
    expect(singleLine('€€', 5)).toBe('€');
  });
});
