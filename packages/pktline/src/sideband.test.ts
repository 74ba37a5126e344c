import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { PushgateError } from '@pushgate/core';
import { DELIM, FLUSH, chunked, pkt } from '@pushgate/testkit';
import { PktLineReader, demuxSideband, encodeProgress, encodeSideband, type Band, type SidebandMode, type SidebandPkt } from './index';

async function demux(bytes: Uint8Array, chunk = 7): Promise<SidebandPkt[]> {
  const out: SidebandPkt[] = [];
  for await (const p of demuxSideband(new PktLineReader(chunked(bytes, chunk)))) out.push(p);
  return out;
}

describe('side-band', () => {
  it('frames each band with its byte, as git does', () => {
    expect(encodeSideband(1, 'abc', 'side-band-64k')).toEqual(pkt(Buffer.from('\x01abc')));
    expect(encodeProgress('Resolving: 50%\r', 'side-band')).toEqual(pkt('\x02Resolving: 50%\r'));
    expect(encodeSideband(3, 'fatal\n', 'side-band')).toEqual(pkt('\x03fatal\n'));
    expect(encodeSideband(1, '', 'side-band')).toEqual(Buffer.alloc(0));
  });

  it.each([
    ['side-band', 1000],
    ['side-band-64k', 65520],
  ] as const)('splits %s data into packets of at most %d bytes including header and band byte', async (mode, max) => {
    const perPacket = max - 5;
    const bytes = Buffer.alloc(perPacket * 2 + 1, 7);
    const out = encodeSideband(1, bytes, mode);
    const lengths: number[] = [];
    for (let at = 0; at < out.length; ) {
      const length = parseInt(out.subarray(at, at + 4).toString(), 16);
      lengths.push(length);
      expect(out[at + 4]).toBe(1);
      at += length;
    }
    expect(lengths).toEqual([max, max, 6]);
    const back = await demux(out, 333);
    expect(Buffer.concat(back.map((p) => (p.kind === 'band' ? p.payload : Buffer.alloc(0))))).toEqual(bytes);
  });

  it('demultiplexes bands and stops at the flush', async () => {
    const bytes = Buffer.concat([encodeProgress('hi\n', 'side-band'), encodeSideband(1, 'data', 'side-band'), FLUSH, pkt('after')]);
    expect(await demux(bytes)).toEqual([
      { kind: 'band', band: 2, payload: Buffer.from('hi\n') },
      { kind: 'band', band: 1, payload: Buffer.from('data') },
      { kind: 'flush' },
    ]);
  });

  it.each([
    ['band 0', pkt('\x00x'), 'PKT_BAD_BAND'],
    ['band 4', pkt('\x04x'), 'PKT_BAD_BAND'],
    ['an empty packet', Buffer.from('0004'), 'PKT_BAD_BAND'],
    ['a delim packet', pkt(DELIM), 'PKT_BAD_BAND'],
    ['an ERR packet', pkt('ERR upload-pack: not our ref\n'), 'PKT_ERR_PACKET'],
  ])('rejects %s', async (_name, bytes, code) => {
    await expect(demux(bytes)).rejects.toMatchObject({ code });
  });

  it('round-trips any bytes on any band and mode', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.constantFrom<Band>(1, 2, 3), fc.uint8Array({ minLength: 1, maxLength: 3000 }))),
        fc.constantFrom<SidebandMode>('side-band', 'side-band-64k'),
        async (messages, mode) => {
          const bytes = Buffer.concat([...messages.map(([band, b]) => encodeSideband(band, b, mode)), FLUSH]);
          const out = await demux(bytes, 512);
          for (const band of [1, 2, 3] as const) {
            const sent = Buffer.concat(messages.filter(([b]) => b === band).map(([, b]) => Buffer.from(b)));
            const got = Buffer.concat(out.flatMap((p) => (p.kind === 'band' && p.band === band ? [p.payload] : [])));
            expect(got).toEqual(sent);
          }
          expect(out[out.length - 1]).toEqual({ kind: 'flush' });
        },
      ),
      { numRuns: 100 },
    );
  });

  it('never throws anything but PushgateError on random bytes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 200 }), async (bytes) => {
        try {
          await demux(bytes, 3);
        } catch (e) {
          expect(e).toBeInstanceOf(PushgateError);
        }
      }),
      { numRuns: 300 },
    );
  });
});
