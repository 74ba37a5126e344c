/**
 * `POST git-receive-pack`: the push route, the composition root that reads like the data flow
 * (gitprotocol-pack(5) "Reference Update Request and Packfile Transfer"; gitprotocol-http(5)
 * "Smart Service git-receive-pack"):
 *
 *   decode request → record received → inspect (spool, mirror, index, change set) → judge
 *   → relay (the same commands and pack, the upstream's report read on its way back)
 *   → (the HTTP layer records the outcome)
 *
 * The upstream's refs are requested as soon as the commands are read, so that the mirror knows by
 * the time it is needed whether it must fetch; a fetch the push's ref advertisement already
 * started (the upstream had moved) is waited for, not repeated; once the upstream has accepted a
 * push, the mirror fetches what it added in the background, so the next push usually need not
 * (see @pushgate/mirror).
 *
 * Each step takes a typed input and returns a typed output. A push that cannot be decoded is
 * refused with 400; one the audit store cannot record with 503; one that fails inspection or is
 * denied gets `unpack <reason>` / `ng <ref> <reason>` and `remote:` lines — in every case nothing
 * of it reaches the upstream (never fail open).
 *
 * When the client asked for side-band progress the answer starts at once, so it can show
 * inspection progress while a large push is checked; a refusal found later can then only be told
 * inside the protocol, which is also how git itself reports a bad pack or a refused ref.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { createReadStream } from 'node:fs';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { PushgateError, ZERO_OID, isPushgateError, type Limits, type Oid } from '@pushgate/core';
import { PktLineReader, encodeSideband } from '@pushgate/pktline';
import { decodeReceivePackRequest, encodeReceivePackRequest, encodeReportResponse, type ReceivePackRequest, type ReportStatus } from '@pushgate/protocol';
import type { AuditRecorder, InspectionRecord, UpstreamReportRecord } from '@pushgate/audit';
import type { MirrorRefsSource } from '@pushgate/mirror';
import { UpstreamError } from '@pushgate/relay';
import { pickHeaders, type GitCall, type GitFacts, type GitOutcome, type PushSettlement, type PushTimings } from './git';
import { inspectPush, mirrorSource, upstreamRefs, type InspectedPush, type InspectionContext } from './inspection';
import { ClientProgress } from './progress';
import { tapReport } from './report-tap';
import type { Judge, VerdictReason } from './verdict';

/** Codes of PushRequestError (listed in docs/ERRORS.md). */
export type PushRequestErrorCode = 'PUSH_UNSUPPORTED_ENCODING' | 'PUSH_BAD_BODY' | 'PUSH_DENIED';

/** A receive-pack body the gateway cannot read, or a push the judge denied. */
export class PushRequestError extends PushgateError<PushRequestErrorCode, { encoding?: string; offset?: number; reasons?: readonly VerdictReason[] }> {
  constructor(code: PushRequestErrorCode, message: string, data: { encoding?: string; offset?: number; reasons?: readonly VerdictReason[] }, status: number, cause?: unknown) {
    super(code, message, { data, cause, delivery: code === 'PUSH_DENIED' ? { kind: 'ng' } : { kind: 'http', status } });
  }
}

/** The result of decoding a push body. */
export type DecodedPush =
  /** Commands to apply, and the rest of the body (the pack, possibly empty) still streaming. */
  | { readonly kind: 'push'; readonly request: ReceivePackRequest; readonly pack: AsyncIterable<Uint8Array> }
  /** No commands at all: git's receive-pack answers such a body with nothing, and so do we. */
  | { readonly kind: 'no-commands' };

/** What the push route needs besides the call. */
export interface PushDeps {
  readonly limits: Limits;
  readonly audit: AuditRecorder;
  readonly inspection: InspectionContext;
  readonly judge: Judge;
}

/** How the work on a push ended: relayed (the upstream's answer streaming back) or refused. */
type PushEnd =
  | {
      readonly kind: 'relayed';
      readonly status: number;
      readonly headers: Readonly<Record<string, string>>;
      /** The upstream's answer, tapped for its report. */
      readonly body: Readable;
      readonly report: Promise<UpstreamReportRecord>;
      readonly inspection: InspectionRecord;
      /** performance.now() when the push was sent upstream. */
      readonly relayStarted: number;
      readonly mirror: MirrorRefsSource;
      readonly dispose: () => Promise<void>;
    }
  | { readonly kind: 'refused'; readonly error: unknown; readonly inspection: InspectionRecord; readonly mirror?: MirrorRefsSource };

const RESULT_HEADERS = { 'content-type': 'application/x-git-receive-pack-result', 'cache-control': 'no-cache' };

/** Serves one push (see the module comment). */
export async function serveReceivePack(call: GitCall, deps: PushDeps): Promise<GitOutcome> {
  const decoded = await decodePush(call.body, call.headers, deps.limits);
  if (decoded.kind === 'no-commands') {
    return { kind: 'replied', reply: { kind: 'bytes', status: 200, headers: RESULT_HEADERS, body: Buffer.alloc(0) }, facts: { refUpdates: [] } };
  }
  const { request } = decoded;
  const facts: GitFacts = { refUpdates: request.commands, pushOptions: request.pushOptions };
  // Only read from the upstream, and while the audit write runs; it is awaited (and used) by inspection only.
  const advertised = upstreamRefs(call.upstream, call.route.repoPath, call.signal);
  advertised.catch(() => undefined);
  const receiving = performance.now();
  try {
    await recordReceived(call, request, deps.audit);
  } catch (error) {
    return { kind: 'failed', error, facts };
  }
  const receivedMs = Math.round(performance.now() - receiving);
  const push = { ...decoded, advertised };

  const caps = request.capabilities;
  const sideband = caps.sideband;
  if (sideband !== undefined && !caps.quiet) {
    // Answer now and show progress while inspecting; the end (relayed answer or refusal) follows.
    const out = new PassThrough();
    const write = (bytes: Buffer): void => {
      if (out.writable) out.write(bytes);
    };
    const progress = new ClientProgress((text) => write(encodeSideband(2, text, sideband)));
    const settled = runPush(call, push, deps, progress).then((end) => streamEnd(end, out, call, request, progress, receivedMs));
    return { kind: 'replied', reply: { kind: 'stream', status: 200, headers: RESULT_HEADERS, body: out }, facts: { ...facts, push: settled } };
  }

  const end = await runPush(call, push, deps, undefined);
  if (end.kind === 'refused') {
    const settlement: PushSettlement = { inspection: end.inspection, refusal: end.error, timings: timingsOf(receivedMs, end) };
    // A client that asked for no report (no real git does) can only be told by HTTP status.
    if (caps.reportFormat === 'none') return { kind: 'failed', error: end.error, facts: { ...facts, push: Promise.resolve(settlement) } };
    const { report, lines } = refusal(request, end.error, call.requestId);
    return {
      kind: 'replied',
      reply: { kind: 'bytes', status: 200, headers: RESULT_HEADERS, body: encodeReportResponse(report, { capabilities: caps, progress: lines }) },
      facts: { ...facts, push: Promise.resolve(settlement) },
    };
  }
  end.body.once('close', () => void end.dispose());
  const settled = end.report.then((upstreamReport): PushSettlement => ({ inspection: end.inspection, upstreamReport, timings: timingsOf(receivedMs, end) }));
  return { kind: 'replied', reply: { kind: 'stream', status: end.status, headers: end.headers, body: end.body }, facts: { ...facts, push: settled } };
}

/** Inspect → judge → relay. Never throws: anything that stops the push is `refused`. */
async function runPush(
  call: GitCall,
  push: Extract<DecodedPush, { kind: 'push' }> & { readonly advertised: Promise<ReadonlyMap<string, Oid>> },
  deps: PushDeps,
  progress: ClientProgress | undefined,
): Promise<PushEnd> {
  const inspection = await inspectPush(
    {
      request: push.request,
      pack: push.pack,
      upstream: call.upstream,
      repoPath: call.route.repoPath,
      signal: call.signal,
      onProgress: progress?.sink ?? (() => undefined),
      advertised: push.advertised,
    },
    deps.inspection,
  );
  if (inspection.kind === 'refused') return { kind: 'refused', error: inspection.error, inspection: inspection.record, mirror: inspection.mirror };
  progress?.finish();
  try {
    const verdict = deps.judge(inspection.changeSet, call.identity);
    // Judged: the relay needs neither the pushed objects nor the mirror, and the mirror's
    // refresh after the relay must not wait for this push's hold on it.
    inspection.closeContent();
    if (verdict.kind === 'deny') {
      throw new PushRequestError('PUSH_DENIED', verdict.reasons.map((r) => `${r.rule}: ${r.message}`).join('; '), { reasons: verdict.reasons }, 403);
    }
    const end = await relay(call, push.request, inspection);
    void end.report.then((report) => refreshMirror(call, push.request, report, deps.inspection));
    return end;
  } catch (error) {
    await inspection.dispose();
    return { kind: 'refused', error, inspection: inspection.record, mirror: inspection.mirror };
  }
}

/** Has the mirror fetch, in the background, what the upstream just accepted (see the module comment). */
function refreshMirror(call: GitCall, request: ReceivePackRequest, report: UpstreamReportRecord, ctx: InspectionContext): void {
  if (report.kind !== 'report') return;
  const accepted = new Set(report.refs.filter((r) => r.status === 'ok').map((r) => r.ref));
  const oids = request.commands.filter((c) => accepted.has(c.ref) && c.newOid !== ZERO_OID).map((c) => c.newOid);
  if (oids.length > 0) void ctx.mirrors.refresh(mirrorSource(call.upstream, call.route.repoPath), oids);
}

/** Sends the same commands and the spooled pack to the upstream with the gateway's credential. */
async function relay(call: GitCall, request: ReceivePackRequest, inspection: InspectedPush): Promise<Extract<PushEnd, { kind: 'relayed' }>> {
  const relayStarted = performance.now();
  const commands = encodeReceivePackRequest(request);
  const res = await call.upstream.request({
    method: 'POST',
    repoPath: call.route.repoPath,
    endpoint: 'git-receive-pack',
    headers: {
      ...pickHeaders(call.headers, ['accept', 'user-agent', 'git-protocol']),
      'content-type': 'application/x-git-receive-pack-request',
      // Known exactly now: the upstream need not read a chunked body.
      'content-length': String(commands.length + inspection.packBytes),
    },
    body: relayBody(commands, inspection.packPath),
    requestId: call.requestId,
    signal: call.signal,
  });
  const tap = tapReport(request.capabilities);
  // A failure on either side destroys both: the client sees the cut, the tap reports it.
  pipeline(res.body, tap.stream).catch(() => undefined);
  return {
    kind: 'relayed',
    status: res.status,
    headers: res.headers,
    body: tap.stream,
    report: tap.report,
    inspection: inspection.record,
    relayStarted,
    mirror: inspection.mirror,
    dispose: inspection.dispose,
  };
}

async function* relayBody(commands: Buffer, packPath: string | undefined): AsyncGenerator<Uint8Array> {
  yield commands;
  if (packPath !== undefined) yield* createReadStream(packPath, { highWaterMark: 1 << 20 });
}

/** Finishes a streamed answer: the upstream's answer appended, or the refusal as git reports it. */
async function streamEnd(end: PushEnd, out: PassThrough, call: GitCall, request: ReceivePackRequest, progress: ClientProgress, receivedMs: number): Promise<PushSettlement> {
  if (end.kind === 'refused') {
    progress.abandon();
    const { report, lines } = refusal(request, end.error, call.requestId);
    if (out.writable) out.end(encodeReportResponse(report, { capabilities: request.capabilities, progress: lines }));
    return { inspection: end.inspection, refusal: end.error, timings: timingsOf(receivedMs, end) };
  }
  progress.finish();
  try {
    await pipeline(end.body, out);
  } catch {
    // The client or the upstream went away; the HTTP layer sees the cut and the tap says what arrived.
  } finally {
    await end.dispose();
  }
  const upstreamReport = await end.report;
  return { inspection: end.inspection, upstreamReport, timings: timingsOf(receivedMs, end) };
}

/** The push's timings once it has ended (relayed: once the upstream's answer has). */
function timingsOf(receivedMs: number, end: PushEnd): PushTimings {
  const relayMs = end.kind === 'relayed' ? Math.round(performance.now() - end.relayStarted) : undefined;
  return { receivedMs, ...(relayMs === undefined ? {} : { relayMs }), ...(end.mirror === undefined ? {} : { mirror: end.mirror }) };
}

/**
 * The report for a refused push. Errors of the pack (and anything not about particular refs) fail
 * `unpack` and every ref; errors about refs leave `unpack ok`. Either way no ref was applied:
 * nothing reached the upstream, atomic or not.
 */
export function refusal(request: ReceivePackRequest, error: unknown, requestId: string): { report: ReportStatus; lines: string[] } {
  const message = refusalMessage(error);
  const lines = [`pushgate: push refused: ${message}`];
  if (error instanceof PushRequestError && error.data?.reasons) {
    lines.length = 0;
    for (const r of error.data.reasons) lines.push(`pushgate: denied (${r.rule}): ${r.message}`);
  }
  lines.push(`pushgate: nothing was sent to the upstream (request id ${requestId})`);
  const delivery = isPushgateError(error) ? error.delivery : undefined;
  if (delivery?.kind === 'ng') {
    const named = delivery.refs === undefined ? undefined : new Set(delivery.refs);
    return {
      report: {
        unpack: { ok: true },
        refs: request.commands.map((c) => ({ ref: c.ref, ok: false as const, reason: named === undefined || named.has(c.ref) ? message : 'not applied: another ref of this push was refused' })),
      },
      lines,
    };
  }
  return { report: { unpack: { ok: false, error: message }, refs: request.commands.map((c) => ({ ref: c.ref, ok: false as const, reason: message })) }, lines };
}

/** One line for git: the code and message, never internals. */
function refusalMessage(error: unknown): string {
  if (error instanceof UpstreamError || isPushgateError(error)) {
    return error.code === 'INTERNAL' ? 'INTERNAL: internal error' : error.clientMessage();
  }
  return 'INTERNAL: internal error';
}

/** Decodes the command section of a push body, leaving the pack streaming. */
export async function decodePush(body: Readable, headers: IncomingHttpHeaders, limits: Limits): Promise<DecodedPush> {
  const source = decodedBody(body, headers['content-encoding']);
  const reader = new PktLineReader(source);
  let request: ReceivePackRequest;
  try {
    request = await decodeReceivePackRequest(reader, limits);
  } catch (e) {
    if (isPushgateError(e, 'PROTO_NO_COMMANDS')) return { kind: 'no-commands' };
    throw asClientError(e, reader.position);
  }
  return { kind: 'push', request, pack: guarded(reader.remainder(), reader.position) };
}

/** Writes the `push.received` audit event; throws AUDIT_UNAVAILABLE when it cannot. */
async function recordReceived(call: GitCall, request: ReceivePackRequest, audit: AuditRecorder): Promise<void> {
  await audit.recordPushReceived({
    occurredAt: new Date(),
    requestId: call.requestId,
    identity: call.identity,
    clientAddr: call.clientAddr,
    userAgent: headerValue(call.headers['user-agent']),
    upstream: call.route.upstream,
    repo: call.route.repoPath,
    refUpdates: request.commands,
    pushOptions: request.pushOptions,
    capabilities: request.capabilities.entries.map((e) => (e.value === true ? e.name : `${e.name}=${e.value}`)),
  });
}

/** The body as bytes of pkt-lines and pack: gzip (git compresses large request bodies) is undone here. */
function decodedBody(body: Readable, encoding: string | undefined): AsyncIterable<Uint8Array> {
  const enc = (encoding ?? 'identity').trim().toLowerCase();
  if (enc === 'identity' || enc === '') return body;
  if (enc === 'gzip' || enc === 'x-gzip') {
    const gunzip = createGunzip();
    body.once('error', (e) => gunzip.destroy(e));
    return body.pipe(gunzip);
  }
  throw new PushRequestError('PUSH_UNSUPPORTED_ENCODING', `Content-Encoding ${JSON.stringify(enc.slice(0, 40))} is not supported for pushes (use gzip or none)`, { encoding: enc.slice(0, 40) }, 415);
}

/** Failures reading the rest of the body become client errors naming the offset. */
async function* guarded(rest: AsyncIterable<Uint8Array>, start: number): AsyncGenerator<Uint8Array> {
  let offset = start;
  try {
    for await (const chunk of rest) {
      offset += chunk.byteLength;
      yield chunk;
    }
  } catch (e) {
    throw asClientError(e, offset);
  }
}

function asClientError(e: unknown, offset: number): unknown {
  if (isPushgateError(e)) return e;
  const code = (e as NodeJS.ErrnoException).code;
  if (typeof code === 'string' && code.startsWith('Z_')) {
    return new PushRequestError('PUSH_BAD_BODY', `the gzip-encoded push body is corrupt near byte ${offset} of its decoded content (${code})`, { offset }, 400, e);
  }
  return e;
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
