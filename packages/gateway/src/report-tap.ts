/**
 * Reading the upstream's answer to a relayed push (gitprotocol-pack(5) "Report Status", inside
 * side-band when the client asked for it) while it streams to the client unchanged, so the audit
 * record says what the real server answered for every ref. The tap copies nothing: it hands the
 * same chunks to a decoder, and stops tapping (the client still gets everything) past a bound.
 */
import { Transform } from 'node:stream';
import { isPushgateError } from '@pushgate/core';
import { decodeReportResponse, type Capabilities } from '@pushgate/protocol';
import type { UpstreamReportRecord } from '@pushgate/audit';

/**
 * Bytes of the answer the decoder reads at most. A report is one short line per ref (10,000 refs
 * fit in about 1 MiB); beyond that are only progress messages, which are not worth unbounded memory.
 */
export const MAX_TAPPED_REPORT_BYTES = 4 * 1024 * 1024;
/** `remote:` lines kept in the record, and characters of each. */
const MAX_MESSAGES = 50;
const MAX_MESSAGE_CHARS = 300;

/** A pass-through stream and the report decoded from what went through it. */
export interface ReportTap {
  readonly stream: Transform;
  /** Always settles: with the report, or with why it could not be read. */
  readonly report: Promise<UpstreamReportRecord>;
}

/** Taps a receive-pack answer for a push that asked for `capabilities`. */
export function tapReport(capabilities: Capabilities): ReportTap {
  const queue: Buffer[] = [];
  let wake: (() => void) | undefined;
  let state: 'open' | 'ended' | 'overflow' = 'open';
  let tapped = 0;
  const end = (how: 'ended' | 'overflow'): void => {
    if (state !== 'open') return;
    state = how;
    wake?.();
  };
  const source: AsyncIterable<Uint8Array> = {
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const next = queue.shift();
        if (next !== undefined) {
          yield next;
          continue;
        }
        if (state !== 'open') return;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    },
  };
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      if (state === 'open') {
        tapped += chunk.length;
        if (tapped > MAX_TAPPED_REPORT_BYTES) end('overflow');
        else {
          queue.push(chunk);
          wake?.();
        }
      }
      done(null, chunk);
    },
    flush(done) {
      end('ended');
      done();
    },
  });
  stream.once('close', () => end('ended'));

  const report = decodeReportResponse(source, { capabilities }).then(
    (r): UpstreamReportRecord => {
      const messages = r.messages.slice(0, MAX_MESSAGES).map((m) => m.slice(0, MAX_MESSAGE_CHARS));
      switch (r.kind) {
        case 'report':
          return {
            kind: 'report',
            unpack: r.report.unpack.ok ? 'ok' : r.report.unpack.error,
            refs: r.report.refs.map((s) => (s.ok ? { ref: s.ref, status: 'ok' as const } : { ref: s.ref, status: 'ng' as const, reason: s.reason })),
            messages,
          };
        case 'fatal':
          return { kind: 'fatal', message: r.message.slice(0, MAX_MESSAGE_CHARS), messages };
        case 'no-report':
          return { kind: 'no-report', messages };
      }
    },
    (e: unknown): UpstreamReportRecord => ({
      kind: 'unreadable',
      reason: state === 'overflow' ? `the answer exceeded ${MAX_TAPPED_REPORT_BYTES} bytes before its report ended` : isPushgateError(e) ? e.clientMessage() : String(e),
    }),
  );
  return { stream, report };
}
