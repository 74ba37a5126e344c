/**
 * `POST git-receive-pack`: the push route, the composition root that reads like the data flow
 * (gitprotocol-pack(5) "Reference Update Request and Packfile Transfer"; gitprotocol-http(5)
 * "Smart Service git-receive-pack"):
 *
 *   decode request → record received → inspect (spool, mirror, index, change set)
 *   → decide (scan the content the rules need → evaluate: allow | deny | hold)
 *   → settle: allow → relay (the same commands and pack, the upstream's report read on its way back)
 *             deny, hold → `ng` per ref and `remote:` lines; nothing reaches the upstream
 *   → (the HTTP layer records the settlement)
 *
 * The upstream's refs are requested as soon as the commands are read, so that the mirror knows by
 * the time it is needed whether it must fetch; a fetch the push's ref advertisement already
 * started (the upstream had moved) is waited for, not repeated; once the upstream has accepted a
 * push, the mirror fetches what it added in the background, so the next push usually need not
 * (see @pushgate/mirror).
 *
 * Each step takes a typed input and returns a typed output; the decision is a value the settle
 * step switches on. A push that cannot be decoded is refused with 400; one the audit store cannot
 * record with 503; one that fails inspection, whose content cannot be scanned, or that the policy
 * denies or holds gets `unpack <reason>` / `ng <ref> <reason>` and `remote:` lines — in every case
 * nothing of it reaches the upstream (never fail open). A deny or hold of any ref refuses every ref
 * of the push: the upstream is sent all of a push or none of it.
 *
 * When the client asked for side-band progress the answer starts at once, so it can show
 * inspection progress while a large push is checked; a refusal found later can then only be told
 * inside the protocol, which is also how git itself reports a bad pack or a refused ref.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { createReadStream } from 'node:fs';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { PushgateError, ZERO_OID, isPushgateError, type Limits, type Oid } from '@pushgate/core';
import { PktLineReader, encodeSideband } from '@pushgate/pktline';
import { decodeReceivePackRequest, encodeReceivePackRequest, encodeReportResponse, type ReceivePackRequest, type ReportStatus } from '@pushgate/protocol';
import type { AuditRecorder, InspectionRecord, UpstreamReportRecord } from '@pushgate/audit';
import type { MirrorRefsSource } from '@pushgate/mirror';
import { UpstreamError } from '@pushgate/relay';
import type { ContentFindings, Decision } from '@pushgate/policy';
import { pickHeaders, type AllowDecision, type GitCall, type GitFacts, type GitOutcome, type PushSettlement, type PushTimings, type RefusingDecision } from './git';
import { inspectPush, mirrorSource, upstreamRefs, type InspectedPush, type InspectionContext } from './inspection';
import type { PushPolicy } from './policy';
import { ClientProgress } from './progress';
import { tapReport } from './report-tap';
import { allowNotes, decisionReport, decisionText } from './settle';

/** Codes of PushRequestError (listed in docs/ERRORS.md). */
export type PushRequestErrorCode = 'PUSH_UNSUPPORTED_ENCODING' | 'PUSH_BAD_BODY' | 'PUSH_POLICY_FAILED';

/** What a PushRequestError says about where. */
export interface PushRequestErrorData {
  readonly encoding?: string;
  readonly offset?: number;
  /** The policy step that failed. */
  readonly step?: 'scan' | 'evaluate';
}

/** A receive-pack body the gateway cannot read, or a push the policy could not be applied to. */
export class PushRequestError extends PushgateError<PushRequestErrorCode, PushRequestErrorData> {
  constructor(code: PushRequestErrorCode, message: string, data: PushRequestErrorData, status: number, cause?: unknown) {
    // A policy failure is found after the pack was read whole, so it is told per ref, like a denial.
    super(code, message, { data, cause, delivery: code === 'PUSH_POLICY_FAILED' ? { kind: 'ng' } : { kind: 'http', status } });
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
  /** Decides about inspected pushes. */
  readonly policy: PushPolicy;
}

/** How the work on a push ended: relayed (the upstream's answer streaming back), decided against, or refused. */
type PushEnd =
  | {
      readonly kind: 'relayed';
      readonly status: number;
      readonly headers: Readonly<Record<string, string>>;
      /** The upstream's answer, tapped for its report. */
      readonly body: Readable;
      readonly report: Promise<UpstreamReportRecord>;
      readonly inspection: InspectionRecord;
      readonly decision: AllowDecision;
      /** performance.now() when the push was sent upstream. */
      readonly relayStarted: number;
      readonly mirror: MirrorRefsSource;
      readonly dispose: () => Promise<void>;
    }
  | { readonly kind: 'decided'; readonly decision: RefusingDecision; readonly inspection: InspectionRecord; readonly mirror: MirrorRefsSource }
  | { readonly kind: 'refused'; readonly error: unknown; readonly inspection: InspectionRecord; readonly decision?: Decision; readonly mirror?: MirrorRefsSource };

/** The policy step's result: a decision, with what the content scan read, or why none could be taken. */
type Decided =
  | { readonly kind: 'decided'; readonly decision: Decision; readonly findings: ContentFindings; readonly decideMs: number }
  | { readonly kind: 'failed'; readonly error: PushRequestError; readonly findings?: ContentFindings };

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
  const timings = timingsOf(receivedMs, end);
  switch (end.kind) {
    case 'refused': {
      const settlement: PushSettlement = { kind: 'refused', inspection: end.inspection, error: end.error, decision: end.decision, timings };
      // A client that asked for no report (no real git does) can only be told by HTTP status.
      if (caps.reportFormat === 'none') return { kind: 'failed', error: end.error, facts: { ...facts, push: Promise.resolve(settlement) } };
      const { report, lines } = refusal(request, end.error, call.requestId);
      return {
        kind: 'replied',
        reply: { kind: 'bytes', status: 200, headers: RESULT_HEADERS, body: encodeReportResponse(report, { capabilities: caps, progress: lines }) },
        facts: { ...facts, push: Promise.resolve(settlement) },
      };
    }
    case 'decided': {
      const settlement: PushSettlement = { kind: 'decided', inspection: end.inspection, decision: end.decision, timings };
      if (caps.reportFormat === 'none') {
        // Not an error of the request: the policy's answer, told in the only way left.
        const text = `${decisionText(end.decision).join('\n')}\npushgate: nothing was sent to the upstream (request id ${call.requestId})\n`;
        return {
          kind: 'replied',
          reply: { kind: 'bytes', status: 403, headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-cache' }, body: Buffer.from(text, 'utf8') },
          facts: { ...facts, push: Promise.resolve(settlement) },
        };
      }
      const { report, lines } = decisionReport(request.commands.map((c) => c.ref), end.decision, call.requestId);
      return {
        kind: 'replied',
        reply: { kind: 'bytes', status: 200, headers: RESULT_HEADERS, body: encodeReportResponse(report, { capabilities: caps, progress: lines }) },
        facts: { ...facts, push: Promise.resolve(settlement) },
      };
    }
    case 'relayed': {
      end.body.once('close', () => void end.dispose());
      const settled = end.report.then((upstreamReport): PushSettlement => ({ kind: 'relayed', inspection: end.inspection, decision: end.decision, upstreamReport, timings: timingsOf(receivedMs, end) }));
      // The policy's notes (dry-run rules, exemptions) go first, on the side band the upstream's answer uses.
      const notes = allowNotes(end.decision);
      const body = sideband !== undefined && end.status === 200 && notes.length > 0 ? prefixed(notes.map((line) => encodeSideband(2, `${line}\n`, sideband)), end.body) : end.body;
      return { kind: 'replied', reply: { kind: 'stream', status: end.status, headers: end.headers, body }, facts: { ...facts, push: settled } };
    }
  }
}

/** `head` then `rest`, as one stream; a failure of `rest` fails it, and its end (or a cut) ends `rest`. */
function prefixed(head: readonly Buffer[], rest: Readable): Readable {
  async function* both(): AsyncGenerator<Buffer> {
    yield* head;
    yield* rest;
  }
  const out = Readable.from(both(), { objectMode: false });
  // Cut before `rest` was reached, the generator never touches it: `rest` must still close, or
  // the spool would stay and the upstream's report would never settle.
  out.once('close', () => rest.destroy());
  return out;
}

/** Inspect → decide → settle (relay, or stop here). Never throws: anything that stops the push is `refused` or `decided`. */
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
  const decided = await decide(call, push.request, inspection, deps.policy);
  // Decided: the relay needs neither the pushed objects nor the mirror, and the mirror's refresh
  // after the relay must not wait for this push's hold on it.
  inspection.closeContent();
  const record = withPolicyStep(inspection.record, decided);
  if (decided.kind === 'failed') {
    await inspection.dispose();
    return { kind: 'refused', error: decided.error, inspection: record, mirror: inspection.mirror };
  }
  const { decision } = decided;
  switch (decision.kind) {
    case 'deny':
    case 'hold':
      // Holds are not stored yet: the spooled pack goes with the answer, nothing is kept to relay later.
      await inspection.dispose();
      return { kind: 'decided', decision, inspection: record, mirror: inspection.mirror };
    case 'allow':
      try {
        const end = await relay(call, push.request, inspection, record, decision);
        void end.report.then((report) => refreshMirror(call, push.request, report, deps.inspection));
        return end;
      } catch (error) {
        await inspection.dispose();
        return { kind: 'refused', error, decision, inspection: record, mirror: inspection.mirror };
      }
    default:
      return unreachable(decision);
  }
}

/**
 * The policy step: the content the rules need is scanned, then the pure evaluation decides.
 * Content that cannot be read (a store read error, the client gone) refuses the push: a push
 * whose content was not checked is never let through.
 */
async function decide(call: GitCall, request: ReceivePackRequest, inspection: InspectedPush, policy: PushPolicy): Promise<Decided> {
  let findings: ContentFindings;
  try {
    findings = await policy.scan(inspection.changeSet, inspection.content);
  } catch (e) {
    const why = isPushgateError(e) ? ` (${e.code})` : '';
    if (!isPushgateError(e)) call.logger.error('scanning a push for policy failed', { error: e instanceof Error ? e.stack : String(e) });
    const error = new PushRequestError('PUSH_POLICY_FAILED', `the push's content could not be scanned for policy${why}; it was refused, not let through unchecked`, { step: 'scan' }, 503, e);
    return { kind: 'failed', error };
  }
  const started = performance.now();
  try {
    const decision = policy.evaluate({
      upstream: call.route.upstream,
      repo: call.route.repoPath,
      identity: call.identity,
      pushOptions: request.pushOptions,
      changeSet: inspection.changeSet,
      content: findings,
    });
    return { kind: 'decided', decision, findings, decideMs: Math.round(performance.now() - started) };
  } catch (e) {
    call.logger.error('evaluating the policy failed', { error: e instanceof Error ? e.stack : String(e) });
    const error = new PushRequestError('PUSH_POLICY_FAILED', 'the policy could not be evaluated for this push; it was refused, not let through unchecked', { step: 'evaluate' }, 500, e);
    return { kind: 'failed', error, findings };
  }
}

/** The inspection record with the policy step's timings and what the content scan read. */
function withPolicyStep(record: InspectionRecord, decided: Decided): InspectionRecord {
  const findings = decided.findings;
  return {
    ...record,
    timings: {
      ...record.timings,
      ...(findings === undefined ? {} : { scanMs: Math.round(findings.durationMs) }),
      ...(decided.kind === 'decided' ? { decideMs: decided.decideMs } : {}),
    },
    ...(findings === undefined ? {} : { scan: { scannedBytes: findings.scannedBytes, secrets: findings.secrets.length, unscanned: findings.unscanned.length } }),
  };
}

function unreachable(value: never): never {
  throw new Error(`unhandled case: ${JSON.stringify(value)}`);
}

/** Has the mirror fetch, in the background, what the upstream just accepted (see the module comment). */
function refreshMirror(call: GitCall, request: ReceivePackRequest, report: UpstreamReportRecord, ctx: InspectionContext): void {
  if (report.kind !== 'report') return;
  const accepted = new Set(report.refs.filter((r) => r.status === 'ok').map((r) => r.ref));
  const oids = request.commands.filter((c) => accepted.has(c.ref) && c.newOid !== ZERO_OID).map((c) => c.newOid);
  if (oids.length > 0) void ctx.mirrors.refresh(mirrorSource(call.upstream, call.route.repoPath), oids);
}

/** Sends the same commands and the spooled pack to the upstream with the gateway's credential. */
async function relay(call: GitCall, request: ReceivePackRequest, inspection: InspectedPush, record: InspectionRecord, decision: AllowDecision): Promise<Extract<PushEnd, { kind: 'relayed' }>> {
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
    inspection: record,
    decision,
    relayStarted,
    mirror: inspection.mirror,
    dispose: inspection.dispose,
  };
}

async function* relayBody(commands: Buffer, packPath: string | undefined): AsyncGenerator<Uint8Array> {
  yield commands;
  if (packPath !== undefined) yield* createReadStream(packPath, { highWaterMark: 1 << 20 });
}

/** Finishes a streamed answer: the upstream's answer appended, or why the push stopped, as git reports it. */
async function streamEnd(end: PushEnd, out: PassThrough, call: GitCall, request: ReceivePackRequest, progress: ClientProgress, receivedMs: number): Promise<PushSettlement> {
  const sideband = request.capabilities.sideband;
  switch (end.kind) {
    case 'refused': {
      progress.abandon();
      const { report, lines } = refusal(request, end.error, call.requestId);
      if (out.writable) out.end(encodeReportResponse(report, { capabilities: request.capabilities, progress: lines }));
      return { kind: 'refused', inspection: end.inspection, error: end.error, decision: end.decision, timings: timingsOf(receivedMs, end) };
    }
    case 'decided': {
      progress.finish();
      const { report, lines } = decisionReport(request.commands.map((c) => c.ref), end.decision, call.requestId);
      if (out.writable) out.end(encodeReportResponse(report, { capabilities: request.capabilities, progress: lines }));
      return { kind: 'decided', inspection: end.inspection, decision: end.decision, timings: timingsOf(receivedMs, end) };
    }
    case 'relayed': {
      progress.finish();
      if (sideband !== undefined && out.writable) for (const line of allowNotes(end.decision)) out.write(encodeSideband(2, `${line}\n`, sideband));
      try {
        await pipeline(end.body, out);
      } catch {
        // The client or the upstream went away; the HTTP layer sees the cut and the tap says what arrived.
      } finally {
        await end.dispose();
      }
      const upstreamReport = await end.report;
      return { kind: 'relayed', inspection: end.inspection, decision: end.decision, upstreamReport, timings: timingsOf(receivedMs, end) };
    }
  }
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
