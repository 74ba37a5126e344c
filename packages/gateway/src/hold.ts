/**
 * Holding a push: the settle step of a push the policy decided to `hold`, and `git push -o wait`.
 *
 *   hold decision → stale? (an old id is not the upstream's ref as inspection saw it) → refused
 *                 → stored (commands, capabilities, options, summary, decision, identity, and the
 *                   spooled pack handed over by `spool.persist()`) → `ng <ref> held for approval (<id>)`
 *                 → with `-o wait` and side-band: the answer stays open (keep-alives on band 1,
 *                   progress on band 2) until the hold is decided and relayed, or the wait ends
 *
 * A held push is answered inside the protocol (gitprotocol-pack(5) "Report Status": `unpack ok`,
 * then `ng <ref> <reason>` for every ref, and `remote:` lines on side-band 2), not with an HTTP
 * error: git then prints the reason per ref and the review link, which an error body would not give.
 *
 * A push whose old ids no longer match the upstream is refused, not held: approving it could only
 * end in `stale`, and the pusher would learn that hours later instead of now.
 *
 * The wait reads the hold, never the connection: the client leaving changes nothing about the hold
 * (its approval, relay and notifications go on), and a gateway shutting down ends every wait with
 * the answer of a wait that timed out, so no request keeps the drain waiting.
 */
import { PushgateError, ZERO_OID, isPushgateError, type Identity, type Logger, type Oid, type RefUpdate } from '@pushgate/core';
import { isFinalHoldState, type HoldRecord, type HoldStore, type MovedRef, type NewHold, type Person, type RelayReport } from '@pushgate/holds';
import { encodeSideband } from '@pushgate/pktline';
import { encodeReportResponse, type ReceivePackRequest, type RefStatus, type ReportStatus } from '@pushgate/protocol';
import type { JsonObject } from '@pushgate/store';
import type { RefusingDecision } from './git';
import type { InspectedPush } from './inspection';
import { decisionReport, decisionText } from './settle';

/** A hold decision. */
export type HoldDecision = Extract<RefusingDecision, { kind: 'hold' }>;

/** Codes of HeldPushError (listed in docs/ERRORS.md). */
export type HeldPushErrorCode = 'PUSH_STALE' | 'PUSH_HOLD_NOT_STORED';

/** What a HeldPushError says about the refs. */
export interface HeldPushErrorData {
  /** PUSH_STALE: the refs whose old id is not the upstream's. */
  readonly moved?: readonly MovedRef[];
}

/**
 * A push the policy held that could not be held: stale (refused so the pusher can rebase now
 * rather than after an approval), or the hold store failed (refused, never let through).
 */
export class HeldPushError extends PushgateError<HeldPushErrorCode, HeldPushErrorData> {
  constructor(code: HeldPushErrorCode, message: string, data: HeldPushErrorData, cause?: unknown) {
    super(code, message, { data, cause, delivery: { kind: 'ng', refs: data.moved?.map((m) => m.ref) } });
  }

  /** The `ng` reason of `ref`: PUSH_STALE names where each moved ref is; other refs get undefined. */
  refReason(ref: string): string | undefined {
    const moved = this.data?.moved?.find((m) => m.ref === ref);
    return moved === undefined ? undefined : staleReason(moved);
  }
}

/** What holding needs from the gateway. */
export interface HoldContext {
  readonly holds: HoldStore;
  /** The base of review links (publicUrl, known once the gateway listens). */
  readonly publicUrl: () => string;
  /** The longest `-o wait` (and the wait of `-o wait` without a value). */
  readonly maxWaitMs: number;
  /** How often a waiting client is sent a keep-alive. */
  readonly keepAliveMs: number;
  /** Aborted when the gateway shuts down: waits then end with the timed-out answer. */
  readonly shutdown: AbortSignal;
  /** How often a wait re-reads its hold besides the store's notifications (a safety net); default 2 s. */
  readonly pollMs?: number;
}

/** The hold step's result. */
export type HoldStep =
  | { readonly kind: 'held'; readonly hold: HoldRecord }
  /** Not held: stale (PUSH_STALE), too large for a hold (HOLD_PACK_TOO_LARGE), or not stored (PUSH_HOLD_NOT_STORED). */
  | { readonly kind: 'refused'; readonly error: unknown };

/** What the hold step is given: the push as inspected and decided. */
export interface HoldInput {
  readonly requestId: string;
  readonly upstream: string;
  readonly repo: string;
  readonly identity: Identity;
  readonly clientAddr?: string;
  readonly userAgent?: string;
  readonly request: ReceivePackRequest;
  readonly inspection: InspectedPush;
  readonly decision: HoldDecision;
}

/** Refs of `commands` whose old id is not what `refs` (the upstream, as inspection saw it) has. */
export function movedRefs(commands: readonly RefUpdate[], refs: ReadonlyMap<string, Oid>): MovedRef[] {
  const moved: MovedRef[] = [];
  for (const c of commands) {
    const actual = refs.get(c.ref) ?? ZERO_OID;
    if (actual !== c.oldOid) moved.push({ ref: c.ref, expected: c.oldOid, actual });
  }
  return moved;
}

/**
 * Stores a held push (see the module comment). Never throws: a push that cannot be held is
 * `refused`. The spool is handed to the store; disposing of the inspection stays the caller's.
 */
export async function holdPush(input: HoldInput, holds: HoldStore | undefined, logger: Logger): Promise<HoldStep> {
  const { request, inspection } = input;
  const moved = movedRefs(request.commands, inspection.upstreamRefs);
  if (moved.length > 0) {
    const message = moved.map(staleReason).join('; and ');
    return { kind: 'refused', error: new HeldPushError('PUSH_STALE', message, { moved }) };
  }
  if (holds === undefined) {
    return { kind: 'refused', error: new HeldPushError('PUSH_HOLD_NOT_STORED', 'the push was held for approval, but this gateway keeps no holds; nothing was sent to the upstream', {}) };
  }
  const hold: NewHold = {
    pushId: input.requestId,
    upstream: input.upstream,
    repo: input.repo,
    pusher: input.identity,
    commands: request.commands,
    capabilities: request.capabilities.entries.map((e) => (e.value === true ? e.name : `${e.name}=${e.value}`)),
    // As sent: the gateway's own options (`wait`) are removed only when the hold is relayed.
    pushOptions: request.pushOptions,
    summary: jsonObject(inspection.record.changes ?? {}),
    decision: input.decision,
    clientAddr: input.clientAddr,
    userAgent: input.userAgent,
  };
  try {
    const stored = inspection.spool === undefined ? await holds.create(hold, undefined) : await inspection.spool.persist((pack) => holds.create(hold, pack));
    return { kind: 'held', hold: stored };
  } catch (e) {
    if (isPushgateError(e, 'HOLD_PACK_TOO_LARGE')) return { kind: 'refused', error: e };
    logger.error('storing a held push failed', { error: e instanceof Error ? e.stack : String(e) });
    const why = isPushgateError(e) ? ` (${e.code})` : '';
    return { kind: 'refused', error: new HeldPushError('PUSH_HOLD_NOT_STORED', `the push was held for approval, but the hold could not be stored${why}; nothing was sent to the upstream, push again later`, {}, e) };
  }
}

/** A JSON-safe copy (the summary is plain data; dates and undefined do not survive, as in the audit record). */
function jsonObject(value: object): JsonObject {
  return JSON.parse(JSON.stringify(value)) as JsonObject;
}

/** `stale: the upstream's <ref> is at <short>, not <short>; fetch, rebase and push again`. */
export function staleReason(moved: MovedRef): string {
  const where =
    moved.expected === ZERO_OID
      ? `already exists (at ${short(moved.actual)})`
      : moved.actual === ZERO_OID
        ? `is gone (the push expected ${short(moved.expected)})`
        : `is at ${short(moved.actual)}, not ${short(moved.expected)}`;
  return `stale: the upstream's ${moved.ref} ${where}; fetch, rebase and push again`;
}

function short(oid: string): string {
  return oid.slice(0, 7);
}

/** The review link of a hold. */
export function holdLink(publicUrl: string, holdId: string): string {
  return `${publicUrl.replace(/\/+$/, '')}/review/holds/${encodeURIComponent(holdId)}`;
}

/** A report and its `remote:` lines. */
export interface Answer {
  readonly report: ReportStatus;
  readonly lines: string[];
}

/**
 * The answer to a held push (and to a wait that ended undecided): every ref `ng <ref> held for
 * approval (<id>)`, and `remote:` lines with the link, the rules that fired, who may approve and
 * how to follow the hold (settle.ts renders it; `note` goes before the last line).
 */
export function heldAnswer(refs: readonly string[], decision: HoldDecision, hold: HoldRecord, publicUrl: string, requestId: string, note?: string): Answer {
  const { report, lines } = decisionReport(refs, decision, requestId, { id: hold.id, publicUrl });
  if (note !== undefined) lines.splice(lines.length - 1, 0, note);
  return { report, lines };
}

/** What the pusher asked for with `-o wait` / `-o wait=<seconds>`. */
export type WaitRequest =
  | { readonly kind: 'none' }
  /** Wait this long (already capped by maxWait). */
  | { readonly kind: 'wait'; readonly ms: number }
  /** `wait=<value>` that is not a number of seconds: ignored, and the pusher told so. */
  | { readonly kind: 'invalid'; readonly option: string };

/** Reads the gateway's `wait` option from a push's options (the last one counts, as git's own options do). */
export function waitRequest(pushOptions: readonly string[], maxWaitMs: number): WaitRequest {
  let found: WaitRequest = { kind: 'none' };
  for (const option of pushOptions) {
    if (option === 'wait') found = { kind: 'wait', ms: maxWaitMs };
    else if (option.startsWith('wait=')) {
      const value = option.slice('wait='.length);
      if (!/^[0-9]{1,9}$/.test(value)) found = { kind: 'invalid', option };
      else found = Number(value) === 0 ? { kind: 'none' } : { kind: 'wait', ms: Math.min(Number(value) * 1000, maxWaitMs) };
    }
  }
  return found;
}

/** How a wait ended. */
export type WaitEnd =
  /** The hold reached a final state. */
  | { readonly kind: 'final'; readonly hold: HoldRecord }
  /** Still undecided (or still relaying) when the wait's time was up, or the gateway shut down. */
  | { readonly kind: 'timeout'; readonly hold: HoldRecord; readonly why: 'time' | 'shutdown' }
  /** The client went away: nobody to answer. */
  | { readonly kind: 'left' };

/** What a wait needs. */
export interface WaitInput {
  readonly hold: HoldRecord;
  readonly ms: number;
  readonly context: HoldContext;
  /** Writes an empty band-1 packet (keep-alive). */
  readonly keepAlive: () => void;
  /** Writes a line on band 2; undefined when the client asked for `quiet`. */
  readonly say: ((line: string) => void) | undefined;
  /** Aborted when the client goes away. */
  readonly clientGone: AbortSignal;
  readonly logger: Logger;
}

const DEFAULT_POLL_MS = 2_000;
/** The longest delay a Node timer takes (2^31 - 1 ms, about 24.8 days); a longer one fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Waits for a hold's decision and relay (see the module comment). Never throws. */
export async function waitForHold(input: WaitInput): Promise<WaitEnd> {
  const { context, clientGone } = input;
  const { shutdown } = context;
  const id = input.hold.id;
  let wake: () => void = () => undefined;
  let woken = false;
  const poke = (): void => {
    woken = true;
    wake();
  };
  const timers: NodeJS.Timeout[] = [];
  let stopWatching: (() => Promise<void>) | undefined;
  const link = holdLink(context.publicUrl(), id);
  const deadline = performance.now() + input.ms;
  let timedOut = false;
  const onAbort = (): void => poke();
  clientGone.addEventListener('abort', onAbort);
  shutdown.addEventListener('abort', onAbort);
  try {
    try {
      stopWatching = await context.holds.watch((changed) => {
        if (changed === id) poke();
      });
    } catch (e) {
      // Polling alone still sees the decision, later.
      input.logger.warn('watching holds failed; the wait polls only', { holdId: id, error: e instanceof Error ? e.message : String(e) });
    }
    timers.push(setInterval(() => input.keepAlive(), context.keepAliveMs));
    timers.push(setInterval(poke, context.pollMs ?? DEFAULT_POLL_MS));
    // A wait beyond a timer's range ends at the first poll past its deadline instead.
    const timerMs = Math.min(input.ms, MAX_TIMER_MS);
    timers.push(
      setTimeout(() => {
        if (timerMs === input.ms) timedOut = true;
        poke();
      }, timerMs),
    );
    let current = input.hold;
    // The line last said, not the state: `approved` and `relaying` read the same to the pusher,
    // and a hold going from one to the other must not print it twice.
    let shown: string | undefined;
    for (;;) {
      if (clientGone.aborted) return { kind: 'left' };
      try {
        current = (await context.holds.get(id)) ?? current;
      } catch (e) {
        input.logger.warn('reading a hold while waiting for it failed', { holdId: id, error: e instanceof Error ? e.message : String(e) });
      }
      if (isFinalHoldState(current.state)) return { kind: 'final', hold: current };
      if (shutdown.aborted) return { kind: 'timeout', hold: current, why: 'shutdown' };
      if (timedOut || performance.now() >= deadline) return { kind: 'timeout', hold: current, why: 'time' };
      const line = waitingLine(current, link);
      if (line !== shown) {
        shown = line;
        input.say?.(line);
      }
      if (!woken) await new Promise<void>((resolve) => (wake = resolve));
      woken = false;
    }
  } finally {
    wake = () => undefined;
    clientGone.removeEventListener('abort', onAbort);
    shutdown.removeEventListener('abort', onAbort);
    for (const t of timers) clearTimeout(t);
    await stopWatching?.().catch(() => undefined);
  }
}

/** The progress line of a waiting push, per state. */
function waitingLine(hold: HoldRecord, link: string): string {
  switch (hold.state.kind) {
    case 'pending':
      return `pushgate: waiting for approval of ${hold.id} … ${link}`;
    case 'approved':
    case 'relaying':
      return `pushgate: ${hold.id} approved; relaying it to the upstream …`;
    default:
      return `pushgate: ${hold.id} is ${hold.state.kind}`;
  }
}


/** A person as the pusher is shown them: their email, or their subject. */
function who(person: Person): string {
  return person.email ?? person.sub;
}

/**
 * The answer that ends a wait: the upstream's real per-ref answer once relayed, and otherwise an
 * `ng` per ref saying what became of the hold.
 */
export function waitAnswer(end: Exclude<WaitEnd, { kind: 'left' }>, refs: readonly string[], decision: HoldDecision, publicUrl: string, requestId: string): Answer {
  const hold = end.hold;
  const link = holdLink(publicUrl, hold.id);
  const every = (reason: string, lines: string[]): Answer => ({ report: { unpack: { ok: true }, refs: refs.map((ref) => ({ ref, ok: false as const, reason })) }, lines });
  if (end.kind === 'timeout') {
    if (hold.state.kind !== 'pending') {
      // Approved, the relay under way or due: not "held", and not yet known to have landed.
      return every(`approved; the gateway is relaying it (${hold.id})`, [
        `pushgate: ${hold.id} is approved and the gateway relays it to the upstream itself; fetch in a moment, or \`pushgate holds show ${hold.id}\` tells how it ends: ${link}`,
      ]);
    }
    const still = `pushgate: ${hold.id} is still pending${end.why === 'shutdown' ? ' (the gateway is shutting down; the hold is kept)' : ''}: ${link}`;
    return heldAnswer(refs, decision, hold, publicUrl, requestId, still);
  }
  const state = hold.state;
  switch (state.kind) {
    case 'relayed': {
      const approvers = [...new Set(hold.approvals.map((a) => who(a.by)))].join(', ');
      return fromRelayReport(state.report, refs, [`pushgate: ${hold.id} approved${approvers === '' ? '' : ` by ${approvers}`} and relayed to the upstream: ${link}`]);
    }
    case 'stale': {
      const byRef = new Map(state.moved.map((m) => [m.ref, m]));
      return {
        report: {
          unpack: { ok: true },
          refs: refs.map((ref) => {
            const m = byRef.get(ref);
            return { ref, ok: false as const, reason: m === undefined ? 'not applied: another ref of this push was stale' : staleReason(m) };
          }),
        },
        lines: [`pushgate: ${hold.id} was approved, but the upstream had moved: nothing was overwritten; fetch, rebase and push again`],
      };
    }
    case 'upstream-rejected': {
      const lines = [`pushgate: ${hold.id} was approved, but the upstream refused it: ${state.message}`];
      if (state.report !== undefined) return fromRelayReport(state.report, refs, lines, state.message);
      return every(`the upstream refused the held push: ${state.message}`, lines);
    }
    case 'rejected':
      return every(`rejected by ${who(state.by)}: ${state.comment}`, [`pushgate: ${hold.id} was rejected by ${who(state.by)}: ${state.comment}`]);
    case 'cancelled':
      return every(`held push cancelled by ${who(state.by)} (${hold.id})`, [`pushgate: ${hold.id} was cancelled by ${who(state.by)}; nothing was sent to the upstream`]);
    case 'expired':
      return every(`held push expired before it was approved (${hold.id})`, [`pushgate: ${hold.id} expired before it was approved; nothing was sent to the upstream`]);
    case 'pending':
    case 'approved':
    case 'relaying':
      // Not final: a wait ends with these only as a timeout, handled above.
      return heldAnswer(refs, decision, hold, publicUrl, requestId);
  }
}

/** The upstream's stored answer as the client's report: its unpack result, each ref's outcome and its messages. */
function fromRelayReport(report: RelayReport, refs: readonly string[], before: string[], missing = 'the upstream did not report this ref'): Answer {
  const byRef = new Map(report.refs.map((r) => [r.ref, r]));
  const statuses = refs.map((ref): RefStatus => {
    const r = byRef.get(ref);
    if (r === undefined) return { ref, ok: false, reason: missing };
    return r.status === 'ok' ? { ref, ok: true } : { ref, ok: false, reason: r.reason };
  });
  return {
    report: { unpack: report.unpack === 'ok' ? { ok: true } : { ok: false, error: report.unpack }, refs: statuses },
    lines: [...before, ...report.messages.map((m) => m.replace(/\r?\n$/, ''))],
  };
}

/**
 * A keep-alive as git's receive-pack sends one while a hook runs (`receive.keepAlive`): a band-1
 * packet with no data, which the client's demultiplexer reads and drops (gitprotocol-pack(5)
 * "side-band, side-band-64k"; receive-pack.c's keepalive).
 */
export const KEEPALIVE_PKT: Buffer = Buffer.from('0005\x01', 'latin1');

/** The client's side of a streamed answer while a held push waits. */
export interface WaitingClient {
  /** Writes bytes to the client, if it is still there. */
  write(bytes: Buffer): void;
  /** Aborted when the client goes away. */
  readonly gone: AbortSignal;
}

/** What `answerAfterWait` is given. */
export interface WaitAnswerInput {
  readonly hold: HoldRecord;
  readonly decision: HoldDecision;
  readonly request: ReceivePackRequest;
  readonly requestId: string;
  readonly context: HoldContext;
  /** How long to wait (from `waitRequest`). */
  readonly ms: number;
  readonly client: WaitingClient;
  readonly logger: Logger;
}

/**
 * `git push -o wait` on side-band: tells the pusher (unless `quiet`) why the push is held and that
 * it waits, keeps the connection alive while the hold is decided and relayed, and returns the
 * bytes that end the answer — the upstream's real answer once relayed, else why not — or
 * undefined when the client has gone (the hold goes on all the same).
 */
export async function answerAfterWait(input: WaitAnswerInput): Promise<Buffer | undefined> {
  const { request, hold, decision, context, client } = input;
  const caps = request.capabilities;
  const mode = caps.sideband;
  if (mode === undefined) throw new Error('answerAfterWait needs a side-band client');
  const publicUrl = context.publicUrl();
  const say = caps.quiet ? undefined : (line: string): void => client.write(encodeSideband(2, `${line}\n`, mode));
  if (say !== undefined) for (const line of decisionText(decision, { id: hold.id, publicUrl })) say(line);
  const end = await waitForHold({ hold, ms: input.ms, context, keepAlive: () => client.write(KEEPALIVE_PKT), say, clientGone: client.gone, logger: input.logger });
  if (end.kind === 'left') return undefined;
  const { report, lines } = waitAnswer(end, request.commands.map((c) => c.ref), decision, publicUrl, input.requestId);
  return encodeReportResponse(report, { capabilities: caps, progress: lines });
}
