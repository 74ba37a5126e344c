/**
 * `POST git-receive-pack`: the push route, the composition root that reads like the data flow
 * (gitprotocol-pack(5) "Reference Update Request and Packfile Transfer"; gitprotocol-http(5)
 * "Smart Service git-receive-pack"):
 *
 *   decode request → record received → inspect (spool, mirror, index, change set)
 *   → decide (scan the content the rules need → evaluate: allow | deny | hold)
 *   → settle: allow → relay: `relayPush` (@pushgate/relay) sends the commands and the spooled pack
 *                      as a push of its own and reads the upstream's whole answer; the client's
 *                      answer is then encoded from it, with the client's capabilities
 *             deny → `ng` per ref and `remote:` lines; nothing reaches the upstream
 *             hold → stored with its pack (hold.ts; a stale push is refused instead), `ng <ref>
 *                    held for approval (<id>)` and the review link; with `-o wait` the answer
 *                    stays open until the hold is decided and relayed (or the wait ends)
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
 *
 * The relay is not bound to the client's connection: once it has started it runs to the end of
 * the upstream's answer even if the client leaves (only the gateway's shutdown stops it), and the
 * settlement the HTTP layer records carries the upstream's report. The upstream's progress reaches
 * a client that asked for it (side-band, not quiet) as it arrives; the capabilities the upstream
 * advertised to the client moments before are reused, so a live push costs one request upstream.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { createReadStream } from 'node:fs';
import { PassThrough, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { PushgateError, ZERO_OID, isPushgateError, type Limits, type Oid } from '@pushgate/core';
import { PktLineReader, encodeErrPkt, encodeSideband } from '@pushgate/pktline';
import { decodeReceivePackRequest, encodeReportResponse, type Capabilities, type ReceivePackRequest, type ReportStatus } from '@pushgate/protocol';
import type { AuditRecorder, InspectionRecord, UpstreamReportRecord } from '@pushgate/audit';
import type { MirrorRefsSource } from '@pushgate/mirror';
import { UpstreamError, relayPush, type RelayResult, type StoredPush } from '@pushgate/relay';
import { relayedPushOptions, type HoldRecord } from '@pushgate/holds';
import type { ContentFindings, Decision } from '@pushgate/policy';
import type { AdvertisedCapabilities } from './advertised';
import type { AllowDecision, GitCall, GitFacts, GitOutcome, PushSettlement, PushTimings, RefusingDecision } from './git';
import { inspectPush, mirrorSource, upstreamRefs, type InspectedPush, type InspectionContext } from './inspection';
import { HeldPushError, answerAfterWait, heldAnswer, holdPush, waitRequest, type HoldContext, type HoldDecision, type WaitRequest } from './hold';
import type { PushPolicy } from './policy';
import { ClientProgress } from './progress';
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
  /** What upstream repositories advertised for receive-pack lately (the client's advertisement): the relay's capabilities. */
  readonly advertised: AdvertisedCapabilities;
  /** Aborted when the gateway stops waiting at shutdown: the only thing that stops a relay. */
  readonly shutdown: AbortSignal;
  /** Where held pushes are kept (absent: a held push is refused with PUSH_HOLD_NOT_STORED). */
  readonly holding?: HoldContext;
}

/** A relay's answer (a report, or the upstream aborting the push). */
export type RelayAnswer = Exclude<RelayResult, { kind: 'failed' }>;

/** How the work on a push ended: relayed (the upstream's answer read), not relayed (the relay failed), decided against, or refused. */
type PushEnd =
  | {
      readonly kind: 'relayed';
      readonly answer: RelayAnswer;
      readonly inspection: InspectionRecord;
      readonly decision: AllowDecision;
      readonly relayMs: number;
      readonly mirror: MirrorRefsSource;
    }
  | {
      readonly kind: 'relay-failed';
      readonly failure: Extract<RelayResult, { kind: 'failed' }>;
      readonly inspection: InspectionRecord;
      readonly decision: AllowDecision;
      readonly relayMs: number;
      readonly mirror: MirrorRefsSource;
    }
  | { readonly kind: 'decided'; readonly decision: RefusingDecision; readonly inspection: InspectionRecord; readonly mirror: MirrorRefsSource }
  /** Held, and the hold stored. */
  | { readonly kind: 'held'; readonly hold: HoldRecord; readonly decision: HoldDecision; readonly inspection: InspectionRecord; readonly mirror: MirrorRefsSource }
  | { readonly kind: 'refused'; readonly error: unknown; readonly inspection: InspectionRecord; readonly decision?: Decision; readonly mirror?: MirrorRefsSource };

/** A client listening on side-band while its push runs: inspection progress, then the upstream's. */
interface Listener {
  readonly progress: ClientProgress;
  /** Text for band 2, as given (the upstream's own lines and redraws). */
  readonly band2: (text: string) => void;
}

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
  // `-o wait` needs side-band (keep-alives are side-band packets); without it the push gets the
  // normal held answer, as it would from a gateway that did not know the option.
  const wait: WaitRequest = deps.holding === undefined || sideband === undefined ? { kind: 'none' } : waitRequest(request.pushOptions, deps.holding.maxWaitMs);
  if (sideband !== undefined && (!caps.quiet || wait.kind === 'wait')) {
    // Answer now and show progress while inspecting (and the upstream's while relaying); the end
    // follows. A quiet push that may wait is answered now too, for its keep-alives, but shown nothing.
    const out = new PassThrough();
    const write = (bytes: Buffer): void => {
      if (out.writable) out.write(bytes);
    };
    const band2 = (text: string): void => write(encodeSideband(2, text, sideband));
    const listener: Listener | undefined = caps.quiet ? undefined : { progress: new ClientProgress(band2), band2 };
    const settled = runPush(call, push, deps, listener).then(async (end) => {
      if (end.kind === 'held' && wait.kind === 'wait' && deps.holding !== undefined) {
        listener?.progress.finish();
        // The hold is stored: from here on the answer is read from the hold, not from this request.
        const bytes = await answerAfterWait({ hold: end.hold, decision: end.decision, request, requestId: call.requestId, context: deps.holding, ms: wait.ms, client: { write, gone: call.signal }, logger: call.logger });
        if (out.writable) out.end(bytes);
        return heldSettlement(end, receivedMs);
      }
      const { answer, settlement } = settle(end, call, request, receivedMs, listener, deps, wait);
      if (out.writable) out.end(answer.kind === 'bytes' ? answer.body : undefined);
      return settlement;
    });
    return { kind: 'replied', reply: { kind: 'stream', status: 200, headers: RESULT_HEADERS, body: out }, facts: { ...facts, push: settled } };
  }

  const end = await runPush(call, push, deps, undefined);
  const { answer, settlement } = settle(end, call, request, receivedMs, undefined, deps, wait);
  const pushed = { ...facts, push: Promise.resolve(settlement) };
  switch (answer.kind) {
    case 'bytes':
      return { kind: 'replied', reply: { kind: 'bytes', status: 200, headers: RESULT_HEADERS, body: answer.body }, facts: pushed };
    case 'text':
      return {
        kind: 'replied',
        reply: { kind: 'bytes', status: answer.status, headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-cache' }, body: Buffer.from(answer.text, 'utf8') },
        facts: pushed,
      };
    case 'error':
      return { kind: 'failed', error: answer.error, facts: pushed };
  }
}

/** What the client is answered: a receive-pack result, or — for a client that asked for no report — an HTTP status. */
type ClientAnswer =
  | { readonly kind: 'bytes'; readonly body: Buffer }
  | { readonly kind: 'text'; readonly status: number; readonly text: string }
  | { readonly kind: 'error'; readonly error: unknown };

/**
 * The end of a push as the client's answer and the settlement to record. `listener` is the
 * client already being answered on side-band (its progress and notes were sent as they came).
 */
function settle(
  end: PushEnd,
  call: GitCall,
  request: ReceivePackRequest,
  receivedMs: number,
  listener: Listener | undefined,
  deps: PushDeps,
  wait: WaitRequest,
): { answer: ClientAnswer; settlement: PushSettlement } {
  const caps = request.capabilities;
  const timings = timingsOf(receivedMs, end);
  // A client that asked for no report (no real git does) can only be told by HTTP status.
  const noReport = caps.reportFormat === 'none' && listener === undefined;
  switch (end.kind) {
    case 'refused': {
      listener?.progress.abandon();
      const settlement: PushSettlement = { kind: 'refused', inspection: end.inspection, error: end.error, decision: end.decision, timings };
      if (noReport) return { answer: { kind: 'error', error: end.error }, settlement };
      const { report, lines } = refusal(request, end.error, call.requestId);
      return { answer: { kind: 'bytes', body: encodeReportResponse(report, { capabilities: caps, progress: lines }) }, settlement };
    }
    case 'decided': {
      listener?.progress.finish();
      const settlement: PushSettlement = { kind: 'decided', inspection: end.inspection, decision: end.decision, timings };
      if (noReport) {
        // Not an error of the request: the policy's answer, told in the only way left.
        return { answer: { kind: 'text', status: 403, text: `${decisionText(end.decision).join('\n')}\npushgate: nothing was sent to the upstream (request id ${call.requestId})\n` }, settlement };
      }
      const { report, lines } = decisionReport(request.commands.map((c) => c.ref), end.decision, call.requestId);
      return { answer: { kind: 'bytes', body: encodeReportResponse(report, { capabilities: caps, progress: lines }) }, settlement };
    }
    case 'held': {
      listener?.progress.finish();
      const settlement = heldSettlement(end, receivedMs);
      const publicUrl = deps.holding?.publicUrl() ?? '';
      if (noReport) {
        const text = `${decisionText(end.decision, { id: end.hold.id, publicUrl }).join('\n')}\npushgate: nothing was sent to the upstream yet (request id ${call.requestId})\n`;
        return { answer: { kind: 'text', status: 403, text }, settlement };
      }
      const note = wait.kind === 'invalid' ? `pushgate: push option ${wait.option} ignored: give the seconds to wait (wait=<seconds>) or just wait` : undefined;
      const { report, lines } = heldAnswer(request.commands.map((c) => c.ref), end.decision, end.hold, publicUrl, call.requestId, note);
      return { answer: { kind: 'bytes', body: encodeReportResponse(report, { capabilities: caps, progress: lines }) }, settlement };
    }
    case 'relayed': {
      const upstreamReport = reportRecord(end.answer);
      const settlement: PushSettlement = { kind: 'relayed', inspection: end.inspection, decision: end.decision, upstreamReport, timings };
      // A listening client has had the notes and the upstream's lines already; anyone else gets them now (side-band only).
      const lines = listener === undefined ? [...allowNotes(end.decision), ...end.answer.messages] : [];
      return { answer: { kind: 'bytes', body: relayedAnswer(end.answer, request, caps, lines) }, settlement };
    }
    case 'relay-failed': {
      const { error, sent } = end.failure;
      const settlement: PushSettlement = {
        kind: 'refused',
        inspection: end.inspection,
        error,
        decision: end.decision,
        timings,
        ...(sent ? { upstreamReport: { kind: 'unreadable', reason: `the push was sent, and may have been applied: ${error.clientMessage()}` } } : {}),
      };
      // Refused before any answer, a client without side-band learns most from the HTTP status.
      if (noReport || (!sent && caps.sideband === undefined)) return { answer: { kind: 'error', error }, settlement };
      const { report, lines } = sent ? lostAnswer(request, error, call.requestId) : refusal(request, error, call.requestId);
      return { answer: { kind: 'bytes', body: encodeReportResponse(report, { capabilities: caps, progress: lines }) }, settlement };
    }
  }
}

/**
 * A held push as the HTTP layer records it: decided by the policy (outcome `held`, whatever the
 * wait brought: the hold's own events record its approval and relay), with the hold's id.
 */
function heldSettlement(end: Extract<PushEnd, { kind: 'held' }>, receivedMs: number): PushSettlement {
  return { kind: 'decided', inspection: end.inspection, decision: end.decision, holdId: end.hold.id, timings: timingsOf(receivedMs, end) };
}

/**
 * The client's answer to a relayed push, encoded from the upstream's parsed answer with the
 * client's capabilities (gitprotocol-pack(5) "Report Status"): one status per command the client
 * sent, in its order, as the upstream reported it. The upstream was asked for report-status (v1),
 * so a client that asked for report-status-v2 gets no option lines: there are none to give.
 * An upstream that aborted the push is shown as git's receive-pack would show it: on band 3 with
 * side-band (git prints `remote error: …`), an `ERR` packet without.
 */
export function relayedAnswer(answer: RelayAnswer, request: ReceivePackRequest, caps: Capabilities, lines: readonly string[]): Buffer {
  if (answer.kind === 'fatal') {
    const mode = caps.sideband;
    if (mode === undefined) return encodeErrPkt(answer.message);
    return Buffer.concat([...lines.map((line) => encodeSideband(2, `${line}\n`, mode)), encodeSideband(3, `${answer.message}\n`, mode)]);
  }
  const byRef = new Map(answer.refs.map((r) => [r.ref, r]));
  const report: ReportStatus = {
    unpack: answer.unpack === 'ok' ? { ok: true } : { ok: false, error: answer.unpack },
    refs: request.commands.map((c) => {
      const status = byRef.get(c.ref);
      if (status === undefined) return { ref: c.ref, ok: false as const, reason: 'the upstream did not report on this ref' };
      return status.status === 'ok' ? { ref: c.ref, ok: true as const } : { ref: c.ref, ok: false as const, reason: status.reason };
    }),
  };
  return encodeReportResponse(report, { capabilities: caps, progress: lines });
}

/** The upstream's answer as the audit record keeps it. */
function reportRecord(answer: RelayAnswer): UpstreamReportRecord {
  switch (answer.kind) {
    case 'report':
      return { kind: 'report', unpack: answer.unpack, refs: answer.refs, messages: answer.messages };
    case 'fatal':
      return { kind: 'fatal', message: answer.message, messages: answer.messages };
  }
}

/** Inspect → decide → settle (relay, or stop here). Never throws: anything that stops the push is `refused` or `decided`. */
async function runPush(
  call: GitCall,
  push: Extract<DecodedPush, { kind: 'push' }> & { readonly advertised: Promise<ReadonlyMap<string, Oid>> },
  deps: PushDeps,
  listener: Listener | undefined,
): Promise<PushEnd> {
  const progress = listener?.progress;
  const inspection = await inspectPush(
    {
      request: push.request,
      pack: push.pack,
      upstream: call.upstream,
      repoPath: call.route.repoPath,
      signal: call.signal,
      onProgress: progress?.sink ?? (() => undefined),
      advertised: push.advertised,
      prescan: deps.policy.prescan === undefined ? undefined : (bytes) => deps.policy.prescan?.(bytes),
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
      await inspection.dispose();
      return { kind: 'decided', decision, inspection: record, mirror: inspection.mirror };
    case 'hold': {
      let step;
      try {
        step = await holdPush(
          {
            requestId: call.requestId,
            upstream: call.route.upstream,
            repo: call.route.repoPath,
            identity: call.identity,
            clientAddr: call.clientAddr,
            userAgent: headerValue(call.headers['user-agent']),
            request: push.request,
            inspection,
            decision,
          },
          deps.holding?.holds,
          call.logger,
        );
      } finally {
        // Persisted, the spool is gone already; otherwise this removes it.
        await inspection.dispose();
      }
      if (step.kind === 'refused') return { kind: 'refused', error: step.error, decision, inspection: record, mirror: inspection.mirror };
      return { kind: 'held', hold: step.hold, decision, inspection: record, mirror: inspection.mirror };
    }
    case 'allow': {
      // The policy's notes (dry-run rules, exemptions) go first, before anything of the upstream's.
      if (listener !== undefined) for (const line of allowNotes(decision)) listener.progress.line(line);
      const started = performance.now();
      let result: RelayResult;
      try {
        result = await relayPush(storedPush(call, push.request, inspection, deps, listener));
      } finally {
        await inspection.dispose();
      }
      const relayMs = Math.round(performance.now() - started);
      if (result.kind === 'failed') {
        if (result.sent) call.logger.warn('the relayed push may have reached the upstream, whose answer was lost', { code: result.error.code });
        return { kind: 'relay-failed', failure: result, inspection: record, decision, relayMs, mirror: inspection.mirror };
      }
      refreshMirror(call, push.request, result, deps.inspection);
      return { kind: 'relayed', answer: result, inspection: record, decision, relayMs, mirror: inspection.mirror };
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
    // What was scanned beside the inspection; the rest is read and scanned now.
    const prescanned = await inspection.prescan?.finish();
    findings = await policy.scan(inspection.changeSet, inspection.content, prescanned);
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
    ...(findings === undefined
      ? {}
      : {
          scan: {
            scannedBytes: findings.scannedBytes,
            ...(findings.scannedAhead !== undefined ? { scannedAhead: findings.scannedAhead } : {}),
            secrets: findings.secrets.length,
            unscanned: findings.unscanned.length,
          },
        }),
  };
}

function unreachable(value: never): never {
  throw new Error(`unhandled case: ${JSON.stringify(value)}`);
}

/** Has the mirror fetch, in the background, what the upstream just accepted (see the module comment). */
function refreshMirror(call: GitCall, request: ReceivePackRequest, report: RelayAnswer, ctx: InspectionContext): void {
  if (report.kind !== 'report') return;
  const accepted = new Set(report.refs.filter((r) => r.status === 'ok').map((r) => r.ref));
  const oids = request.commands.filter((c) => accepted.has(c.ref) && c.newOid !== ZERO_OID).map((c) => c.newOid);
  if (oids.length > 0) void ctx.mirrors.refresh(mirrorSource(call.upstream, call.route.repoPath), oids);
}

/**
 * The live push as a stored push: the client's commands, atomic flag and push options, the
 * spooled pack (read from disk as it is sent, never buffered), and the capabilities the upstream
 * advertised to this client moments before, when the gateway still has them.
 */
function storedPush(call: GitCall, request: ReceivePackRequest, inspection: InspectedPush, deps: PushDeps, listener: Listener | undefined): StoredPush {
  const packPath = inspection.packPath;
  const capabilities = deps.advertised.recall(call.route.upstream, call.route.repoPath);
  return {
    upstream: call.upstream,
    repoPath: call.route.repoPath,
    commands: request.commands,
    atomic: request.capabilities.atomic,
    // The gateway's own options (`wait`) are not the upstream's business.
    pushOptions: relayedPushOptions(request.pushOptions),
    pack: packPath === undefined ? undefined : { bytes: inspection.packBytes, open: () => createReadStream(packPath, { highWaterMark: 1 << 20 }) },
    // The relay needs what the upstream offers, not its refs (the old ids are in the commands).
    ...(capabilities === undefined ? {} : { advertised: { refs: NO_REFS, capabilities } }),
    requestId: call.requestId,
    ...(listener === undefined ? {} : { onProgress: listener.band2 }),
    signal: deps.shutdown,
  };
}

const NO_REFS: ReadonlyMap<string, Oid> = new Map();

/**
 * The report for a push that was sent but whose answer was lost (cut, unreadable): it may have
 * been applied, and the pusher must not be told that nothing was sent.
 */
function lostAnswer(request: ReceivePackRequest, error: UpstreamError, requestId: string): { report: ReportStatus; lines: string[] } {
  const message = refusalMessage(error);
  return {
    report: { unpack: { ok: false, error: message }, refs: request.commands.map((c) => ({ ref: c.ref, ok: false as const, reason: message })) },
    lines: [
      `pushgate: the upstream's answer to the push was lost: ${message}`,
      `pushgate: the push may have reached the upstream: fetch to see whether it did before pushing again (request id ${requestId})`,
    ],
  };
}

/** The push's timings once it has ended (relayed: once the upstream's answer has). */
function timingsOf(receivedMs: number, end: PushEnd): PushTimings {
  const relayMs = end.kind === 'relayed' || end.kind === 'relay-failed' ? end.relayMs : undefined;
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
    // A held push found stale names where each moved ref is, on its own line.
    const reasonOf = (ref: string): string => (error instanceof HeldPushError ? (error.refReason(ref) ?? message) : message);
    return {
      report: {
        unpack: { ok: true },
        refs: request.commands.map((c) => ({ ref: c.ref, ok: false as const, reason: named === undefined || named.has(c.ref) ? reasonOf(c.ref) : 'not applied: another ref of this push was refused' })),
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
