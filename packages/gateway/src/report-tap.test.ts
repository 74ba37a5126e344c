import { describe, expect, it } from '@jest/globals';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Capabilities, encodeReportResponse, type ReportStatus } from '@pushgate/protocol';
import { MAX_TAPPED_REPORT_BYTES, tapReport } from './report-tap';

const REPORT: ReportStatus = {
  unpack: { ok: true },
  refs: [
    { ref: 'refs/heads/main', ok: true },
    { ref: 'refs/heads/blocked', ok: false, reason: 'pre-receive hook declined' },
  ],
};

/** Streams `chunks` through a tap; returns what came out and what the tap read. */
async function through(caps: string, chunks: Buffer[]) {
  const tap = tapReport(Capabilities.parse(caps));
  const out: Buffer[] = [];
  await pipeline(
    Readable.from(chunks),
    tap.stream,
    new Writable({
      write(c: Buffer, _e, done) {
        out.push(c);
        done();
      },
    }),
  );
  return { out: Buffer.concat(out), report: await tap.report };
}

function split(bytes: Buffer, size: number): Buffer[] {
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) parts.push(bytes.subarray(i, i + size));
  return parts;
}

describe('tapReport', () => {
  it('passes a side-band answer through unchanged and reads its report and remote: lines, whatever the chunking', async () => {
    const body = encodeReportResponse(REPORT, { capabilities: Capabilities.parse('report-status side-band-64k'), progress: ['hook says hi'] });
    for (const size of [1, 7, body.length]) {
      const { out, report } = await through('report-status side-band-64k', split(body, size));
      expect(out.equals(body)).toBe(true);
      expect(report).toEqual({
        kind: 'report',
        unpack: 'ok',
        refs: [
          { ref: 'refs/heads/main', status: 'ok' },
          { ref: 'refs/heads/blocked', status: 'ng', reason: 'pre-receive hook declined' },
        ],
        messages: ['hook says hi'],
      });
    }
  });

  it('reads a bare report, and knows when none was asked for', async () => {
    const bare = encodeReportResponse(REPORT, { capabilities: Capabilities.parse('report-status') });
    expect((await through('report-status', [bare])).report).toMatchObject({ kind: 'report', unpack: 'ok' });
    expect((await through('', [])).report).toEqual({ kind: 'no-report', messages: [] });
  });

  it('says why when the answer is cut off or far too long, and still passes every byte', async () => {
    const body = encodeReportResponse(REPORT, { capabilities: Capabilities.parse('report-status') });
    const cut = await through('report-status', [body.subarray(0, 20)]);
    expect(cut.report.kind).toBe('unreadable');
    const chatty = Buffer.concat(Array.from({ length: 80 }, () => encodeReportResponse({ unpack: { ok: true }, refs: [] }, { capabilities: Capabilities.parse('side-band-64k'), progress: ['x'.repeat(60_000)] })));
    expect(chatty.length).toBeGreaterThan(MAX_TAPPED_REPORT_BYTES);
    const long = await through('report-status side-band-64k', split(chatty, 65536));
    expect(long.out.length).toBe(chatty.length);
    expect(long.report).toMatchObject({ kind: 'unreadable', reason: expect.stringContaining('exceeded') });
  });
});
