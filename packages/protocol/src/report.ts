/**
 * Report status (gitprotocol-pack(5) "Report Status"), what receive-pack answers a push with:
 *
 *   report-status     = unpack-status 1*(command-status) flush-pkt
 *   unpack-status     = PKT-LINE("unpack" SP unpack-result)      ; "ok" / error-msg
 *   command-status    = PKT-LINE("ok" SP refname) / PKT-LINE("ng" SP refname SP error-msg)
 *
 * report-status-v2 follows an `ok` line with option lines (refs rewritten by proc-receive):
 *
 *   option-line       = *1(PKT-LINE("option" SP "refname" SP refname))
 *                       *1(PKT-LINE("option" SP "old-oid" SP obj-id))
 *                       *1(PKT-LINE("option" SP "new-oid" SP obj-id))
 *                       *1(PKT-LINE("option" SP "forced-update"))
 *
 * With side-band, receive-pack sends messages on band 2, the report's pkt-lines (its flush
 * included) inside band 1, then a final flush (receive-pack.c report(), cmd_receive_pack()).
 */
import { isOid, type Oid } from '@pushgate/core';
import {
  FLUSH,
  MAX_PKT_PAYLOAD_BYTES,
  PktLineError,
  PktLineReader,
  chompLf,
  demuxSideband,
  encodePkt,
  encodeSideband,
  errPacketMessage,
  singleLine,
  type SidebandPkt,
} from '@pushgate/pktline';
import type { Capabilities } from './capabilities';
import { ProtocolError } from './errors';

/** Whether the pack was unpacked. */
export type UnpackStatus = { readonly ok: true } | { readonly ok: false; readonly error: string };

/** What report-status-v2 says about a ref that a proc-receive hook rewrote. */
export interface RefStatusOptions {
  readonly refname?: string;
  readonly oldOid?: Oid;
  readonly newOid?: Oid;
  /** Present (true) only when the server sent `option forced-update`. */
  readonly forced?: true;
}

/** The outcome for one ref. A v2 report may list the same ref more than once (one per rewritten ref). */
export type RefStatus =
  | { readonly ref: string; readonly ok: true; readonly options?: RefStatusOptions }
  | { readonly ref: string; readonly ok: false; readonly reason: string };

/** A complete report. */
export interface ReportStatus {
  readonly unpack: UnpackStatus;
  readonly refs: readonly RefStatus[];
}

/** Options of encodeReportStatus. */
export interface ReportEncoding {
  /** Write report-status-v2 option lines; without it, options are left out. */
  readonly v2: boolean;
}

/** The report's pkt-lines and flush, as git's receive-pack writes them. */
export function encodeReportStatus(report: ReportStatus, encoding: ReportEncoding): Buffer {
  const parts: Buffer[] = [];
  parts.push(encodePkt(`unpack ${report.unpack.ok ? 'ok' : unpackError(report.unpack.error)}\n`));
  for (const status of report.refs) {
    assertRefForReport(status.ref);
    if (!status.ok) {
      parts.push(encodePkt(`ng ${status.ref} ${oneLine(status.reason, Buffer.byteLength(`ng ${status.ref} \n`), 'rejected')}\n`));
      continue;
    }
    parts.push(encodePkt(`ok ${status.ref}\n`));
    const options = status.options;
    if (!encoding.v2 || !options) continue;
    if (options.refname !== undefined) {
      assertRefForReport(options.refname);
      parts.push(encodePkt(`option refname ${options.refname}\n`));
    }
    if (options.oldOid !== undefined) parts.push(encodePkt(`option old-oid ${options.oldOid}\n`));
    if (options.newOid !== undefined) parts.push(encodePkt(`option new-oid ${options.newOid}\n`));
    if (options.forced) parts.push(encodePkt('option forced-update\n'));
  }
  parts.push(FLUSH);
  return Buffer.concat(parts);
}

/**
 * Reads a report from its pkt-lines, up to and including its flush. Unknown option keys are
 * skipped, as git's send-pack skips them; anything else malformed is PROTO_BAD_REPORT.
 */
export async function decodeReportStatus(reader: PktLineReader): Promise<ReportStatus> {
  const first = await readLine(reader);
  if (first === undefined || !first.text.startsWith('unpack ')) {
    throw new ProtocolError('PROTO_BAD_REPORT', `report does not start with "unpack ": ${JSON.stringify(first?.text ?? 'flush')}`, {
      expected: 'unpack <status>',
      actual: first?.text ?? 'flush',
    });
  }
  const result = first.text.slice('unpack '.length);
  const unpack: UnpackStatus = result === 'ok' ? { ok: true } : { ok: false, error: result };
  const refs: RefStatus[] = [];
  let options: { refname?: string; oldOid?: Oid; newOid?: Oid; forced?: true } | undefined;
  const flushOptions = (): void => {
    const last = refs[refs.length - 1];
    if (options && last?.ok) refs[refs.length - 1] = { ...last, options };
    options = undefined;
  };
  for (;;) {
    const line = await readLine(reader);
    if (line === undefined) break;
    const { text, offset } = line;
    if (text.startsWith('ok ')) {
      flushOptions();
      refs.push({ ref: text.slice(3), ok: true });
    } else if (text.startsWith('ng ')) {
      flushOptions();
      const rest = text.slice(3);
      const space = rest.indexOf(' ');
      // git's send-pack accepts an ng line without a reason; so do we.
      refs.push(space < 0 ? { ref: rest, ok: false, reason: '' } : { ref: rest.slice(0, space), ok: false, reason: rest.slice(space + 1) });
    } else if (text.startsWith('option ')) {
      const last = refs[refs.length - 1];
      if (!last?.ok) {
        throw new ProtocolError('PROTO_BAD_REPORT', `option line at byte offset ${offset} does not follow an ok line`, { offset, actual: text });
      }
      options ??= {};
      const rest = text.slice('option '.length);
      const space = rest.indexOf(' ');
      const key = space < 0 ? rest : rest.slice(0, space);
      const value = space < 0 ? undefined : rest.slice(space + 1);
      if (key === 'refname' && value !== undefined) options.refname = value;
      else if ((key === 'old-oid' || key === 'new-oid') && value !== undefined) {
        if (!isOid(value)) {
          throw new ProtocolError('PROTO_BAD_REPORT', `option ${key} at byte offset ${offset} is not an object id: ${JSON.stringify(value)}`, {
            offset,
            actual: value,
          });
        }
        if (key === 'old-oid') options.oldOid = value;
        else options.newOid = value;
      } else if (key === 'forced-update' && value === undefined) options.forced = true;
    } else {
      throw new ProtocolError('PROTO_BAD_REPORT', `unexpected report line at byte offset ${offset}: ${JSON.stringify(text)}`, {
        offset,
        expected: 'ok <ref> / ng <ref> <reason> / option ...',
        actual: text,
      });
    }
  }
  flushOptions();
  return { unpack, refs };
}

/** Options of encodeReportResponse. */
export interface ReportResponseOptions {
  /** The capabilities of the push request: they choose the report flavour and the side-band framing. */
  readonly capabilities: Capabilities;
  /** Lines for the client's `remote:` output (no trailing LF); sent only with side-band, as git can only send them there. */
  readonly progress?: readonly string[];
}

/**
 * The complete receive-pack response body, framed as git's receive-pack frames it: with
 * side-band, each progress line on band 2, the report on band 1, and a final flush; without,
 * the bare report. No report when the client asked for none.
 */
export function encodeReportResponse(report: ReportStatus, options: ReportResponseOptions): Buffer {
  const format = options.capabilities.reportFormat;
  const body = format === 'none' ? Buffer.alloc(0) : encodeReportStatus(report, { v2: format === 'v2' });
  const mode = options.capabilities.sideband;
  if (!mode) return body;
  const parts = (options.progress ?? []).map((line) => encodeSideband(2, `${line}\n`, mode));
  parts.push(encodeSideband(1, body, mode), FLUSH);
  return Buffer.concat(parts);
}

/** What a receive-pack server answered. `messages` are its band-2 lines (the client's `remote:` lines). */
export type ReportResponse =
  | { readonly kind: 'report'; readonly report: ReportStatus; readonly messages: readonly string[] }
  /** The server aborted: a band-3 message, or an `ERR` packet. */
  | { readonly kind: 'fatal'; readonly message: string; readonly messages: readonly string[] }
  /** The request asked for no report. */
  | { readonly kind: 'no-report'; readonly messages: readonly string[] };

/** Options of decodeReportResponse. */
export interface ReportDecoding {
  /** The capabilities the push asked for: they say whether a report and side-band framing follow. */
  readonly capabilities: Capabilities;
  /**
   * Band-2 payloads as they arrive (for a pusher still listening); when given they are handed
   * over instead of kept, and `messages` is empty.
   */
  readonly onProgress?: (payload: Buffer) => void;
  /**
   * Bytes of the report (band 1 and band 3, or the whole body without side-band) read at most;
   * beyond it PROTO_REPORT_TOO_LARGE. Band 2 does not count: it is handed over as it arrives.
   */
  readonly maxReportBytes?: number;
}

/**
 * Decodes a receive-pack response body (an upstream's answer to a relayed push), streaming:
 * band-1 bytes go straight into a pkt-line reader for the report.
 */
export async function decodeReportResponse(source: AsyncIterable<Uint8Array>, options: ReportDecoding): Promise<ReportResponse> {
  const wantReport = options.capabilities.reportFormat !== 'none';
  const maxReportBytes = options.maxReportBytes ?? Number.POSITIVE_INFINITY;
  const outer = new PktLineReader(options.capabilities.sideband ? source : bounded(source, maxReportBytes));
  if (!options.capabilities.sideband) {
    if (!wantReport) return { kind: 'no-report', messages: [] };
    try {
      return { kind: 'report', report: await decodeReportStatus(outer), messages: [] };
    } catch (e) {
      if (e instanceof PktLineError && e.code === 'PKT_ERR_PACKET') return { kind: 'fatal', message: String(e.data?.message ?? ''), messages: [] };
      throw e;
    }
  }

  const bands = demuxSideband(outer);
  const progress: Buffer[] = [];
  let fatal: string | undefined;
  let ended = false;
  let reportBytes = 0;
  // Pulls the demuxer until the next band-1 payload, filing band 2 and 3 on the way.
  async function nextBand1(): Promise<Buffer | undefined> {
    while (!ended) {
      const next: IteratorResult<SidebandPkt> = await bands.next();
      if (next.done || next.value.kind === 'flush') {
        ended = true;
        return undefined;
      }
      const { band, payload } = next.value;
      if (band === 2) {
        if (options.onProgress) options.onProgress(payload);
        else progress.push(payload);
        continue;
      }
      reportBytes += payload.length;
      if (reportBytes > maxReportBytes) throw tooLarge(maxReportBytes);
      if (band === 1) return payload;
      fatal = (fatal ?? '') + payload.toString('utf8');
    }
    return undefined;
  }
  const band1: AsyncIterable<Uint8Array> = {
    async *[Symbol.asyncIterator]() {
      for (let payload = await nextBand1(); payload; payload = await nextBand1()) yield payload;
    },
  };

  let report: ReportStatus | undefined;
  try {
    if (wantReport) report = await decodeReportStatus(new PktLineReader(band1));
    // Whatever follows the report (late messages, the final flush) is read to the end.
    while (await nextBand1());
  } catch (e) {
    if (e instanceof PktLineError && e.code === 'PKT_ERR_PACKET') fatal = String(e.data?.message ?? '');
    // A server that dies mid-report says why on band 3; that, not the truncation, is the answer.
    else if (fatal === undefined || (e instanceof ProtocolError && e.code === 'PROTO_REPORT_TOO_LARGE')) throw e;
  }
  const messages = splitMessages(Buffer.concat(progress));
  if (fatal !== undefined) return { kind: 'fatal', message: chompText(fatal), messages };
  if (!report) return { kind: 'no-report', messages };
  return { kind: 'report', report, messages };
}

/** `source`, failing with PROTO_REPORT_TOO_LARGE past `max` bytes. */
async function* bounded(source: AsyncIterable<Uint8Array>, max: number): AsyncGenerator<Uint8Array> {
  let bytes = 0;
  for await (const chunk of source) {
    bytes += chunk.byteLength;
    if (bytes > max) throw tooLarge(max);
    yield chunk;
  }
}

function tooLarge(max: number): ProtocolError {
  return new ProtocolError('PROTO_REPORT_TOO_LARGE', `the report exceeds ${max} bytes`, { expected: max });
}

/** Band-2 text as lines: git redraws progress with CR and ends messages with LF. */
function splitMessages(bytes: Buffer): string[] {
  return bytes
    .toString('utf8')
    .split(/\r\n|\n|\r/)
    .filter((line) => line.length > 0);
}

function chompText(text: string): string {
  return text.endsWith('\n') ? text.slice(0, -1) : text;
}

/** One text line of a report, or undefined at its flush. */
async function readLine(reader: PktLineReader): Promise<{ text: string; offset: number } | undefined> {
  const offset = reader.position;
  const pkt = await reader.read();
  if (!pkt) {
    throw new ProtocolError('PROTO_TRUNCATED', `report ends at byte offset ${offset} before its flush`, { offset, expected: 'flush-pkt' });
  }
  if (pkt.kind === 'flush') return undefined;
  if (pkt.kind !== 'data') {
    throw new ProtocolError('PROTO_BAD_REPORT', `${pkt.kind} packet at byte offset ${offset} inside a report`, { offset, actual: pkt.kind });
  }
  const err = errPacketMessage(pkt);
  if (err !== undefined) throw new PktLineError('PKT_ERR_PACKET', `the server reported an error: ${err}`, { offset, message: err });
  return { text: chompLf(pkt.payload).toString('utf8'), offset };
}

/** A reason made one line that fits a packet after `reserved` bytes of the line, never empty. */
function oneLine(text: string, reserved: number, fallback: string): string {
  const line = singleLine(text, MAX_PKT_PAYLOAD_BYTES - reserved);
  // error-msg = 1*(OCTET): an empty reason would read back as a malformed line.
  return line.length > 0 ? line : fallback;
}

/** An unpack error that cannot be mistaken for success ("unpack ok"). */
function unpackError(error: string): string {
  const line = oneLine(error, 'unpack \n'.length, 'failed');
  return line === 'ok' ? 'failed' : line;
}

function assertRefForReport(ref: string): void {
  if (ref.length === 0 || /[ \0\r\n]/.test(ref)) {
    throw new ProtocolError('PROTO_BAD_REPORT', `cannot report on ref ${JSON.stringify(ref)}: it would not read back as one ref`, { ref });
  }
}
