import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { PushgateError, type Oid } from '@pushgate/core';
import { PktLineReader, encodeSideband } from '@pushgate/pktline';
import { FLUSH, chunked, pkt } from '@pushgate/testkit';
import { oidArb, refArb } from './arbitraries.testing';
import {
  Capabilities,
  decodeReportResponse,
  decodeReportStatus,
  encodeReportResponse,
  encodeReportStatus,
  type RefStatus,
  type ReportStatus,
} from './index';

const A = 'a'.repeat(40) as Oid;
const B = 'b'.repeat(40) as Oid;

const decode = (bytes: Buffer, chunk = 3) => decodeReportStatus(new PktLineReader(chunked(bytes, chunk)));
const caps = (list: string) => Capabilities.parse(list);

const MIXED: ReportStatus = {
  unpack: { ok: true },
  refs: [
    { ref: 'refs/heads/main', ok: true },
    { ref: 'refs/heads/dev', ok: false, reason: 'non-fast-forward' },
    { ref: 'refs/for/main', ok: true, options: { refname: 'refs/changes/1', oldOid: A, newOid: B, forced: true } },
  ],
};

describe('report-status', () => {
  it('encodes as git receive-pack does, options only in v2', () => {
    expect(encodeReportStatus(MIXED, { v2: false })).toEqual(
      pkt('unpack ok\n', 'ok refs/heads/main\n', 'ng refs/heads/dev non-fast-forward\n', 'ok refs/for/main\n', FLUSH),
    );
    expect(encodeReportStatus(MIXED, { v2: true })).toEqual(
      pkt(
        'unpack ok\n',
        'ok refs/heads/main\n',
        'ng refs/heads/dev non-fast-forward\n',
        'ok refs/for/main\n',
        'option refname refs/changes/1\n',
        `option old-oid ${A}\n`,
        `option new-oid ${B}\n`,
        'option forced-update\n',
        FLUSH,
      ),
    );
  });

  it('keeps reasons on one line, non-empty, and within a packet', () => {
    const report: ReportStatus = {
      unpack: { ok: false, error: 'index-pack\nfailed' },
      refs: [
        { ref: 'refs/heads/a', ok: false, reason: 'denied by rule no-secrets:\r\nsecret in config.yml:3' },
        { ref: 'refs/heads/b', ok: false, reason: '' },
        { ref: 'refs/heads/c', ok: false, reason: 'ü'.repeat(40000) },
      ],
    };
    const bytes = encodeReportStatus(report, { v2: false });
    expect(bytes.subarray(0, 99).toString()).toBe('001dunpack index-pack failed\n0046ng refs/heads/a denied by rule no-secrets: secret in config.yml:3\n');
    expect(bytes.toString()).toContain('ng refs/heads/b rejected\n');
    const lengths: number[] = [];
    for (let at = 0; at < bytes.length; at += Math.max(4, parseInt(bytes.subarray(at, at + 4).toString(), 16))) {
      lengths.push(parseInt(bytes.subarray(at, at + 4).toString(), 16));
    }
    expect(Math.max(...lengths)).toBeLessThanOrEqual(65520);
    expect(encodeReportStatus({ unpack: { ok: false, error: 'ok' }, refs: [] }, { v2: false })).toEqual(pkt('unpack failed\n', FLUSH));
  });

  it('decodes reports, with or without LFs, tolerating what git tolerates', async () => {
    expect(await decode(encodeReportStatus(MIXED, { v2: true }))).toEqual(MIXED);
    expect(await decode(pkt('unpack ok', 'ok refs/heads/a', 'ng refs/heads/b', FLUSH))).toEqual({
      unpack: { ok: true },
      refs: [
        { ref: 'refs/heads/a', ok: true },
        { ref: 'refs/heads/b', ok: false, reason: '' },
      ],
    });
    expect(await decode(pkt('unpack error: index-pack died\n', 'ng refs/heads/a unpacker error\n', FLUSH))).toEqual({
      unpack: { ok: false, error: 'error: index-pack died' },
      refs: [{ ref: 'refs/heads/a', ok: false, reason: 'unpacker error' }],
    });
    // Unknown option keys are skipped, as git's send-pack skips them.
    expect(await decode(pkt('unpack ok\n', 'ok refs/heads/a\n', 'option future-thing 1\n', FLUSH))).toEqual({
      unpack: { ok: true },
      refs: [{ ref: 'refs/heads/a', ok: true, options: {} }],
    });
    // One ok line per ref a proc-receive hook rewrote.
    expect(
      await decode(pkt('unpack ok\n', 'ok refs/for/main\n', 'option refname refs/a\n', 'ok refs/for/main\n', 'option refname refs/b\n', FLUSH)),
    ).toEqual({
      unpack: { ok: true },
      refs: [
        { ref: 'refs/for/main', ok: true, options: { refname: 'refs/a' } },
        { ref: 'refs/for/main', ok: true, options: { refname: 'refs/b' } },
      ],
    });
  });

  it.each<[string, Buffer, string]>([
    ['no unpack line', pkt('ok refs/heads/a\n', FLUSH), 'PROTO_BAD_REPORT'],
    ['an unknown line', pkt('unpack ok\n', 'maybe refs/heads/a\n', FLUSH), 'PROTO_BAD_REPORT'],
    ['an option before any ok', pkt('unpack ok\n', 'option refname x\n', FLUSH), 'PROTO_BAD_REPORT'],
    ['an option after ng', pkt('unpack ok\n', 'ng refs/heads/a no\n', 'option forced-update\n', FLUSH), 'PROTO_BAD_REPORT'],
    ['a bad option id', pkt('unpack ok\n', 'ok refs/heads/a\n', 'option old-oid xyz\n', FLUSH), 'PROTO_BAD_REPORT'],
    ['a delim packet', Buffer.concat([pkt('unpack ok\n'), Buffer.from('0001')]), 'PROTO_BAD_REPORT'],
    ['no flush', pkt('unpack ok\n', 'ok refs/heads/a\n'), 'PROTO_TRUNCATED'],
    ['an ERR packet', pkt('ERR no space left\n'), 'PKT_ERR_PACKET'],
  ])('refuses a report with %s', async (_name, bytes, code) => {
    await expect(decode(bytes)).rejects.toMatchObject({ code });
  });

  const statusArb: fc.Arbitrary<RefStatus> = fc.oneof(
    fc.record({ ref: refArb, ok: fc.constant(true as const) }),
    fc.record(
      {
        ref: refArb,
        ok: fc.constant(true as const),
        options: fc
          .record({ refname: refArb, oldOid: oidArb, newOid: oidArb, forced: fc.constant(true as const) }, { requiredKeys: [] })
          .filter((o) => Object.keys(o).length > 0),
      },
      { requiredKeys: ['ref', 'ok', 'options'] },
    ),
    fc.record({ ref: refArb, ok: fc.constant(false as const), reason: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }).filter((s) => !/[\r\n\0]/.test(s)) }),
  );
  const reportArb: fc.Arbitrary<ReportStatus> = fc.record({
    unpack: fc.oneof(
      fc.constant({ ok: true as const }),
      fc.record({ ok: fc.constant(false as const), error: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }).filter((s) => s !== 'ok' && !/[\r\n\0]/.test(s)) }),
    ),
    refs: fc.array(statusArb, { maxLength: 6 }),
  });

  it('round-trips: decode(encode(x)) = x', async () => {
    await fc.assert(
      fc.asyncProperty(reportArb, fc.integer({ min: 1, max: 40 }), async (report, chunk) => {
        expect(await decode(encodeReportStatus(report, { v2: true }), chunk)).toEqual(report);
      }),
      { numRuns: 300 },
    );
  });

  it('round-trips whole responses in every framing', async () => {
    const capsArb = fc.constantFrom('report-status', 'report-status-v2', 'report-status side-band', 'report-status-v2 side-band-64k', 'report-status-v2 side-band');
    const lineArb = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }).filter((s) => !/[\r\n\0]/.test(s) && s.trim() === s);
    await fc.assert(
      fc.asyncProperty(reportArb, capsArb, fc.array(lineArb, { maxLength: 3 }), fc.integer({ min: 1, max: 40 }), async (report, list, progress, chunk) => {
        const capabilities = caps(list);
        const bytes = encodeReportResponse(report, { capabilities, progress });
        const got = await decodeReportResponse(chunked(bytes, chunk), { capabilities });
        const expected = capabilities.reportStatusV2 ? report : { ...report, refs: report.refs.map((r) => (r.ok ? { ref: r.ref, ok: true } : r)) };
        expect(got).toEqual({ kind: 'report', report: expected, messages: capabilities.sideband ? progress : [] });
      }),
      { numRuns: 200 },
    );
  });
});

describe('report responses', () => {
  const report: ReportStatus = { unpack: { ok: true }, refs: [{ ref: 'refs/heads/main', ok: false, reason: 'held for review' }] };

  it('frames progress on band 2, the report on band 1, then a flush', () => {
    const bytes = encodeReportResponse(report, { capabilities: caps('report-status side-band-64k'), progress: ['pushgate: held', 'approve at https://x/h/1'] });
    expect(bytes).toEqual(
      Buffer.concat([
        encodeSideband(2, 'pushgate: held\n', 'side-band-64k'),
        encodeSideband(2, 'approve at https://x/h/1\n', 'side-band-64k'),
        encodeSideband(1, encodeReportStatus(report, { v2: false }), 'side-band-64k'),
        FLUSH,
      ]),
    );
  });

  it('sends the bare report without side-band, and nothing when no report was asked for', () => {
    expect(encodeReportResponse(report, { capabilities: caps('report-status'), progress: ['dropped'] })).toEqual(encodeReportStatus(report, { v2: false }));
    expect(encodeReportResponse(report, { capabilities: caps('') })).toEqual(Buffer.alloc(0));
    expect(encodeReportResponse(report, { capabilities: caps('side-band'), progress: ['x'] })).toEqual(
      Buffer.concat([encodeSideband(2, 'x\n', 'side-band'), FLUSH]),
    );
  });

  it('splits a long report into 1000-byte packets in side-band mode', async () => {
    const many: ReportStatus = { unpack: { ok: true }, refs: Array.from({ length: 100 }, (_, i) => ({ ref: `refs/heads/branch-${i}`, ok: true as const })) };
    const capabilities = caps('report-status side-band');
    const bytes = encodeReportResponse(many, { capabilities });
    expect(bytes.subarray(0, 5).toString('latin1')).toBe('03e8\x01');
    expect(await decodeReportResponse(chunked(bytes, 100), { capabilities })).toEqual({ kind: 'report', report: many, messages: [] });
  });

  it('reports a fatal band-3 message or ERR packet instead of a report', async () => {
    const capabilities = caps('report-status side-band-64k');
    const dying = Buffer.concat([encodeSideband(2, 'Resolving deltas:  50% (1/2)\rResolving', 'side-band-64k'), encodeSideband(2, ' deltas: 100% (2/2)\n', 'side-band-64k'), encodeSideband(3, 'fatal: out of memory\n', 'side-band-64k')]);
    expect(await decodeReportResponse(chunked(dying, 9), { capabilities })).toEqual({
      kind: 'fatal',
      message: 'fatal: out of memory',
      messages: ['Resolving deltas:  50% (1/2)', 'Resolving deltas: 100% (2/2)'],
    });
    expect(await decodeReportResponse(chunked(pkt('ERR denied\n'), 4), { capabilities: caps('report-status') })).toEqual({
      kind: 'fatal',
      message: 'denied',
      messages: [],
    });
    expect(await decodeReportResponse(chunked(Buffer.concat([encodeSideband(2, 'hi\n', 'side-band-64k'), pkt('ERR denied\n')]), 4), { capabilities })).toEqual({
      kind: 'fatal',
      message: 'denied',
      messages: ['hi'],
    });
  });

  it('hands band 2 over as it arrives when asked, instead of keeping it', async () => {
    const capabilities = caps('report-status side-band-64k');
    const bytes = encodeReportResponse(report, { capabilities, progress: ['one', 'two'] });
    const seen: string[] = [];
    expect(await decodeReportResponse(chunked(bytes, 7), { capabilities, onProgress: (p) => seen.push(p.toString('utf8')) })).toEqual({ kind: 'report', report, messages: [] });
    expect(seen.join('')).toBe('one\ntwo\n');
  });

  it('bounds the report, not the progress around it', async () => {
    const many: ReportStatus = { unpack: { ok: true }, refs: Array.from({ length: 100 }, (_, i) => ({ ref: `refs/heads/branch-${i}`, ok: true as const })) };
    const chatty = Buffer.concat([encodeSideband(2, 'x'.repeat(10_000), 'side-band-64k'), encodeReportResponse(report, { capabilities: caps('report-status side-band-64k') })]);
    const sideband = caps('report-status side-band-64k');
    expect(await decodeReportResponse(chunked(chatty, 100), { capabilities: sideband, maxReportBytes: 1000, onProgress: () => undefined })).toMatchObject({ kind: 'report', report });
    for (const capabilities of [sideband, caps('report-status')]) {
      await expect(decodeReportResponse(chunked(encodeReportResponse(many, { capabilities }), 100), { capabilities, maxReportBytes: 1000 })).rejects.toMatchObject({ code: 'PROTO_REPORT_TOO_LARGE' });
    }
  });

  it('never throws anything but PushgateError on random bytes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), fc.constantFrom('report-status', 'report-status-v2 side-band-64k', 'side-band'), async (bytes, list) => {
        try {
          await decodeReportResponse(chunked(bytes, 5), { capabilities: caps(list) });
        } catch (e) {
          expect(e).toBeInstanceOf(PushgateError);
        }
      }),
      { numRuns: 400 },
    );
  });
});
