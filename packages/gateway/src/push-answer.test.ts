/**
 * The client's answer to a relayed push, encoded from the upstream's parsed answer with the
 * client's capabilities, read back with the decoder git's answers are read with.
 */
import { describe, expect, it } from '@jest/globals';
import { ZERO_OID, type Oid } from '@pushgate/core';
import { Capabilities, decodeReportResponse, type ReceivePackRequest } from '@pushgate/protocol';
import { relayedAnswer } from './push';

const A = 'a'.repeat(40) as Oid;
const B = 'b'.repeat(40) as Oid;

async function* bytesOf(bytes: Buffer): AsyncGenerator<Uint8Array> {
  yield bytes;
}

function requestWith(caps: string[]): ReceivePackRequest {
  return { commands: [{ ref: 'refs/heads/main', oldOid: A, newOid: B }, { ref: 'refs/heads/gone', oldOid: A, newOid: ZERO_OID }], capabilities: Capabilities.parse(caps.join(' ')), shallow: [], pushOptions: [] };
}

describe('the answer to a relayed push', () => {
  const answer = { kind: 'report', unpack: 'ok', refs: [{ ref: 'refs/heads/main', status: 'ok' }], messages: ['hook said hi'], droppedPushOptions: false } as const;

  it.each([['report-status side-band-64k'], ['report-status-v2 side-band'], ['report-status']])('is one status per command, in the client\'s framing (%s)', async (list) => {
    const request = requestWith(list.split(' '));
    const bytes = relayedAnswer(answer, request, request.capabilities, ['pushgate: a note', 'hook said hi']);
    const decoded = await decodeReportResponse(bytesOf(bytes), { capabilities: Capabilities.parse(list) });
    expect(decoded).toEqual({
      kind: 'report',
      report: { unpack: { ok: true }, refs: [{ ref: 'refs/heads/main', ok: true }, { ref: 'refs/heads/gone', ok: false, reason: 'the upstream did not report on this ref' }] },
      // Lines reach only a client with side-band.
      messages: list.includes('side-band') ? ['pushgate: a note', 'hook said hi'] : [],
    });
  });

  it('shows an upstream that aborted as git would: band 3 with side-band, ERR without', async () => {
    const fatal = { kind: 'fatal', message: 'fatal: the disk is full', messages: [] } as const;
    for (const list of ['report-status side-band-64k', 'report-status']) {
      const request = requestWith(list.split(' '));
      const decoded = await decodeReportResponse(bytesOf(relayedAnswer(fatal, request, request.capabilities, ['before'])), { capabilities: Capabilities.parse(list) });
      expect(decoded).toEqual({ kind: 'fatal', message: 'fatal: the disk is full', messages: list.includes('side-band') ? ['before'] : [] });
    }
  });
});
