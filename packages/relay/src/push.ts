/**
 * Relaying a push as a function of the push itself, not of any client connection
 * (gitprotocol-pack(5) "Reference Update Request and Packfile Transfer", "Report Status";
 * gitprotocol-http(5) "Smart Service git-receive-pack"): the live push, an approved hold and a
 * retry all call `relayPush` with the commands, the pack as a stream and the options to send;
 * the gateway sends the capabilities it needs itself (report-status, side-band-64k for the
 * upstream's progress) whatever the client asked, reads the upstream's whole answer, and returns
 * it parsed. The client's answer (if a client is still there) is encoded from that.
 *
 * The request asks the upstream for what the gateway itself needs (gitprotocol-capabilities(5)):
 * `report-status` (the answer is read, not passed through), `side-band-64k` when offered (to read
 * progress), `atomic` when the push is atomic, `ofs-delta` (the pack may use OFS_DELTA entries),
 * `push-options` only when offered and there are options to send, `agent=pushgate/<version>`, and
 * `quiet` only when nobody listens for progress. The pack is streamed from `pack.open()` with an
 * exact Content-Length; nothing is buffered but the report itself (bounded).
 *
 * A relay is never tied to a client: it runs to the end of the upstream's answer unless `signal`
 * (the process shutting down) stops it, and it never throws — every failure is a `failed` result
 * saying whether the push may have reached the upstream.
 */
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { ZERO_OID, isPushgateError, pushgateVersion, type Oid, type RefUpdate } from '@pushgate/core';
import { Capabilities, decodeAdvertisement, decodeReportResponse, encodeReceivePackRequest, type CapabilityEntry } from '@pushgate/protocol';
import { UpstreamError } from './errors';
import type { Upstream } from './upstream';

/** The upstream's receive-pack advertisement: its refs and the capabilities it offers for push. */
export interface ReceivePackAdvertisement {
  readonly refs: ReadonlyMap<string, Oid>;
  readonly capabilities: Capabilities;
}

/** A push to send upstream, complete: nothing here refers to a client connection. */
export interface StoredPush {
  readonly upstream: Upstream;
  readonly repoPath: string;
  /** The commands with their old ids (the upstream's compare-and-swap applies them). */
  readonly commands: readonly RefUpdate[];
  /** Ask for an atomic push (sent only when the upstream advertises `atomic`). */
  readonly atomic: boolean;
  /**
   * Push options to pass on, the gateway's own already removed; sent only when the upstream
   * advertises `push-options` (otherwise dropped, and `droppedPushOptions` says so).
   */
  readonly pushOptions: readonly string[];
  /** The pack, opened when it is sent (and again on a retry); absent for a push that only deletes. */
  readonly pack: { readonly bytes: number; open(): AsyncIterable<Uint8Array> } | undefined;
  /** What the upstream advertised, when already known (read first otherwise). */
  readonly advertised?: ReceivePackAdvertisement;
  /** Sent as X-Request-Id. */
  readonly requestId?: string;
  /** The upstream's progress text (band 2) as it arrives, for a client still listening. */
  readonly onProgress?: (text: string) => void;
  /** Only for shutting the process down: a relay is never aborted because a client left. */
  readonly signal?: AbortSignal;
}

/** The upstream's parsed answer. */
export type RelayResult =
  /** A report-status: unpack result and each ref's outcome, with the upstream's `remote:` lines. */
  | {
      readonly kind: 'report';
      readonly unpack: string;
      readonly refs: readonly ({ readonly ref: string; readonly status: 'ok' } | { readonly ref: string; readonly status: 'ng'; readonly reason: string })[];
      readonly messages: readonly string[];
      readonly droppedPushOptions: boolean;
    }
  /** The upstream aborted the push (band 3 or `ERR`). */
  | { readonly kind: 'fatal'; readonly message: string; readonly messages: readonly string[] }
  /**
   * No answer could be read: unreachable, timed out, an error status, cut mid-answer. `sent` is
   * false when the request body certainly never reached the upstream (connection refused, or an
   * error status before the body): only then is it certain that nothing was applied.
   */
  | { readonly kind: 'failed'; readonly error: UpstreamError; readonly sent: boolean };

/** Where each of a push's refs is now, compared with the push. */
export interface RefsComparison {
  /** Refs at the push's new id. */
  readonly landed: readonly RefUpdate[];
  /** Refs still at the push's old id. */
  readonly notApplied: readonly RefUpdate[];
  /** Refs at neither: someone else moved them. */
  readonly moved: readonly { readonly ref: string; readonly expected: Oid; readonly actual: Oid }[];
}

/**
 * Bytes of the upstream's report read at most (band 1 and 3; band 2 is handed on as it arrives).
 * A report is one short line per ref: 10,000 refs fit in about 1 MiB.
 */
export const MAX_RELAY_REPORT_BYTES = 4 * 1024 * 1024;
/** `remote:` lines kept in a result (for the audit record and a client answered later), and characters of each. */
export const MAX_KEPT_MESSAGES = 50;
export const MAX_KEPT_MESSAGE_CHARS = 300;
/** Bytes of a receive-pack advertisement read for its refs: about 150,000 refs, as the gateway's own bound. */
export const MAX_RECEIVE_PACK_ADVERTISEMENT_BYTES = 16 * 1024 * 1024;

/** Who the gateway is to the upstream (User-Agent, and the `agent=` capability of gitprotocol-capabilities(5)). */
function agentName(): string {
  return `pushgate/${pushgateVersion()}`;
}

/**
 * System errors that mean no connection was ever made, so no byte of the request left: only for
 * these (and failures found before the body was whole) is a failed relay known not to be applied.
 */
const NEVER_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);

/** Reads `info/refs?service=git-receive-pack` from the upstream (gitprotocol-http(5) "Smart Clients"). */
export async function readReceivePackAdvertisement(upstream: Upstream, repoPath: string, signal?: AbortSignal): Promise<ReceivePackAdvertisement> {
  const res = await upstream.request({
    method: 'GET',
    repoPath,
    endpoint: 'info/refs',
    query: 'service=git-receive-pack',
    headers: { 'user-agent': agentName() },
    signal,
  });
  try {
    const advertisement = await decodeAdvertisement(bounded(res.body, MAX_RECEIVE_PACK_ADVERTISEMENT_BYTES), { service: 'git-receive-pack' });
    // git's receive-pack answers in v0 even to a v2 client; a v2 answer is not one the gateway can push to.
    if (advertisement.version === 2) throw new Error('the upstream offers protocol v2 for git-receive-pack');
    return { refs: advertisement.refs, capabilities: advertisement.capabilities };
  } catch (e) {
    if (e instanceof UpstreamError) throw e;
    const why = isPushgateError(e) ? e.clientMessage() : (e as Error).message;
    throw new UpstreamError('UPSTREAM_BAD_ANSWER', `upstream "${upstream.name}" sent a receive-pack advertisement the gateway cannot use: ${why}`, { upstream: upstream.name, path: repoPath }, e);
  } finally {
    res.body.destroy();
  }
}

/** Sends the push and reads the whole answer (see the module comment). Never throws: failures are `failed`. */
export async function relayPush(push: StoredPush): Promise<RelayResult> {
  try {
    return await relay(push);
  } catch (e) {
    // Nothing above throws by design; should something still, the push may have been sent.
    const where = { upstream: push.upstream.name, path: push.repoPath };
    return { kind: 'failed', error: new UpstreamError('UPSTREAM_STREAM_FAILED', `relaying to upstream "${push.upstream.name}" failed: ${(e as Error).message}`, where, e), sent: true };
  }
}

async function relay(push: StoredPush): Promise<RelayResult> {
  const where = { upstream: push.upstream.name, path: `${push.repoPath}/git-receive-pack` };
  let advertised = push.advertised;
  if (advertised === undefined) {
    try {
      advertised = await readReceivePackAdvertisement(push.upstream, push.repoPath, push.signal);
    } catch (e) {
      return { kind: 'failed', error: asUpstreamError(e, where, 'reading its receive-pack advertisement failed'), sent: false };
    }
  }
  const request = requestFor(push, advertised.capabilities);
  if (request.kind === 'unsendable') return { kind: 'failed', error: new UpstreamError('UPSTREAM_PUSH_UNSENDABLE', `upstream "${push.upstream.name}": ${request.reason}`, where), sent: false };
  let commands: Buffer;
  try {
    // No shallow lines: they only let receive-pack extend its own shallow boundary, which a push
    // the gateway found connected to the upstream's history never needs (and git refuses by
    // default, receive.shallowUpdate).
    commands = encodeReceivePackRequest({ commands: push.commands, capabilities: request.capabilities, shallow: [], pushOptions: request.pushOptions });
  } catch (e) {
    return { kind: 'failed', error: new UpstreamError('UPSTREAM_PUSH_UNSENDABLE', `the push's commands cannot be sent: ${(e as Error).message}`, where, e), sent: false };
  }

  const body = new CountedBody(commands.length + (push.pack?.bytes ?? 0));
  let answer;
  try {
    answer = await push.upstream.request({
      method: 'POST',
      repoPath: push.repoPath,
      endpoint: 'git-receive-pack',
      headers: {
        'content-type': 'application/x-git-receive-pack-request',
        accept: 'application/x-git-receive-pack-result',
        // Known exactly: the upstream need not read a chunked body.
        'content-length': String(body.total),
        'user-agent': agentName(),
      },
      body: body.chunks(commands, push.pack),
      requestId: push.requestId,
      signal: push.signal,
    });
  } catch (e) {
    return { kind: 'failed', error: asUpstreamError(e, where, 'sending the push failed'), sent: mayHaveArrived(e, body) };
  }

  const kept = new KeptMessages();
  const text = new StringDecoder('utf8');
  const onProgress = push.onProgress;
  try {
    const decoded = await decodeReportResponse(answer.body, {
      capabilities: request.capabilities,
      maxReportBytes: MAX_RELAY_REPORT_BYTES,
      onProgress: (payload) => {
        kept.add(payload);
        if (onProgress === undefined) return;
        const chunk = text.write(payload);
        try {
          if (chunk.length > 0) onProgress(chunk);
        } catch {
          // A listener that fails (its client gone) must not stop the relay.
        }
      },
    });
    // What follows the final flush is only the end of the HTTP answer (http-backend exiting after
    // receive-pack): wait for it, so the upstream sees its answer taken whole, not a client that
    // hung up — which a server may treat as an aborted push, and logs as one.
    await answerEnd(answer.body);
    const messages = kept.lines();
    switch (decoded.kind) {
      case 'report':
        return {
          kind: 'report',
          unpack: decoded.report.unpack.ok ? 'ok' : decoded.report.unpack.error,
          refs: decoded.report.refs.map((r) => (r.ok ? { ref: r.ref, status: 'ok' as const } : { ref: r.ref, status: 'ng' as const, reason: r.reason })),
          messages,
          droppedPushOptions: request.droppedPushOptions,
        };
      case 'fatal':
        return { kind: 'fatal', message: decoded.message.slice(0, MAX_KEPT_MESSAGE_CHARS), messages };
      case 'no-report':
        return { kind: 'failed', error: new UpstreamError('UPSTREAM_BAD_ANSWER', `upstream "${push.upstream.name}" ended its answer without the report it was asked for`, where), sent: true };
    }
  } catch (e) {
    // The push was sent whole and the upstream began answering: it may well have been applied.
    return { kind: 'failed', error: asUpstreamError(e, where, 'its answer could not be read'), sent: true };
  } finally {
    answer.body.destroy();
  }
}

/** How long the relay waits, after the report's final flush, for the upstream's answer to end. */
const ANSWER_END_WAIT_MS = 5_000;
/** Bytes after the final flush the relay reads and drops while waiting for the end (there should be none). */
const ANSWER_END_MAX_BYTES = 64 * 1024;

/** Resolves when `body` ends (what is left of it read and dropped, up to a bound), fails, or after ANSWER_END_WAIT_MS. */
async function answerEnd(body: Readable): Promise<void> {
  if (body.readableEnded || body.destroyed) return;
  let timer: NodeJS.Timeout | undefined;
  const drained = (async () => {
    let bytes = 0;
    // The decoder's reader stopped pulling at the flush: read on through the stream's own iterator.
    for await (const chunk of body as AsyncIterable<Uint8Array>) {
      bytes += chunk.byteLength;
      if (bytes > ANSWER_END_MAX_BYTES) return;
    }
  })().catch(() => undefined);
  await Promise.race([drained, new Promise<void>((resolve) => (timer = setTimeout(resolve, ANSWER_END_WAIT_MS)))]);
  clearTimeout(timer);
}

/** Compares a push's commands with the upstream's refs (a ref absent from `refs` is at the zero id). */
export function compareRefs(commands: readonly RefUpdate[], refs: ReadonlyMap<string, Oid>): RefsComparison {
  const landed: RefUpdate[] = [];
  const notApplied: RefUpdate[] = [];
  const moved: { ref: string; expected: Oid; actual: Oid }[] = [];
  for (const command of commands) {
    const actual = refs.get(command.ref) ?? ZERO_OID;
    if (actual === command.newOid) landed.push(command);
    else if (actual === command.oldOid) notApplied.push(command);
    else moved.push({ ref: command.ref, expected: command.oldOid, actual });
  }
  return { landed, notApplied, moved };
}

/** What to ask the upstream for, or why this push cannot be sent to it. */
type RequestPlan =
  | { readonly kind: 'send'; readonly capabilities: Capabilities; readonly pushOptions: readonly string[]; readonly droppedPushOptions: boolean }
  | { readonly kind: 'unsendable'; readonly reason: string };

/**
 * The capabilities of the request (gitprotocol-capabilities(5); in send-pack's order). A client
 * must only ask for what the server advertised. What the push cannot do without (its report, an
 * atomic push's all-or-nothing, deleting refs) makes it unsendable rather than silently different.
 */
function requestFor(push: StoredPush, offered: Capabilities): RequestPlan {
  if (!offered.reportStatus) return { kind: 'unsendable', reason: 'it does not offer report-status, so its answer to the push could not be read' };
  if (push.atomic && !offered.atomic) return { kind: 'unsendable', reason: 'the push is atomic and the upstream does not offer atomic pushes' };
  if (push.commands.some((c) => c.newOid === ZERO_OID) && !offered.deleteRefs) return { kind: 'unsendable', reason: 'the push deletes refs and the upstream does not offer delete-refs' };
  const entries: CapabilityEntry[] = [{ name: 'report-status', value: true }];
  const sideband = offered.sideband;
  if (sideband !== undefined) entries.push({ name: sideband, value: true });
  // Progress is only worth its bytes to someone watching; hook output is sent either way.
  if (push.onProgress === undefined && offered.quiet) entries.push({ name: 'quiet', value: true });
  if (push.atomic) entries.push({ name: 'atomic', value: true });
  const sendOptions = push.pushOptions.length > 0 && offered.pushOptions;
  if (sendOptions) entries.push({ name: 'push-options', value: true });
  if (offered.ofsDelta) entries.push({ name: 'ofs-delta', value: true });
  if (offered.has('object-format')) entries.push({ name: 'object-format', value: 'sha1' });
  if (offered.has('agent')) entries.push({ name: 'agent', value: agentName() });
  return {
    kind: 'send',
    capabilities: new Capabilities(entries),
    pushOptions: sendOptions ? push.pushOptions : [],
    droppedPushOptions: push.pushOptions.length > 0 && !sendOptions,
  };
}

/**
 * The request body, counted as it is handed to the connection. Counting before each hand-over
 * errs toward "sent": a body not handed over whole certainly did not reach the upstream whole,
 * and receive-pack applies nothing before it has read the whole pack and checked its trailer.
 */
class CountedBody {
  handed = 0;

  constructor(readonly total: number) {}

  /** Every byte of the body was handed to the connection. */
  get complete(): boolean {
    return this.handed >= this.total;
  }

  async *chunks(commands: Buffer, pack: StoredPush['pack']): AsyncGenerator<Uint8Array> {
    this.handed += commands.length;
    yield commands;
    if (pack === undefined) return;
    for await (const chunk of pack.open()) {
      // The Content-Length was promised: a pack that is not the size it was stored with must not be sent as it.
      if (this.handed + chunk.byteLength > this.total) throw new Error(`the pack is longer than its ${pack.bytes} bytes`);
      this.handed += chunk.byteLength;
      yield chunk;
    }
    if (!this.complete) throw new Error(`the pack ended ${this.total - this.handed} bytes short of its ${pack.bytes} bytes`);
  }
}

/** Whether a failed request may have reached the upstream whole (see RelayResult `failed`). */
function mayHaveArrived(e: unknown, body: CountedBody): boolean {
  if (!body.complete) return false;
  if (!(e instanceof UpstreamError)) return true;
  if (e.code === 'UPSTREAM_UNREACHABLE' && e.data?.syscallCode !== undefined && NEVER_CONNECTED.has(e.data.syscallCode)) return false;
  // A 3xx or 4xx is an answer at the door (credential, path, size), given before any service
  // runs; a 5xx may come from a proxy whose server behind it went on with the push.
  const status = e.data?.status;
  if (status !== undefined && status < 500) return false;
  return true;
}

function asUpstreamError(e: unknown, where: { upstream: string; path: string }, what: string): UpstreamError {
  if (e instanceof UpstreamError) return e;
  const why = isPushgateError(e) ? e.clientMessage() : e instanceof Error ? e.message : String(e);
  const code = isPushgateError(e) && e.code.startsWith('PROTO_') ? 'UPSTREAM_BAD_ANSWER' : isPushgateError(e) && e.code.startsWith('PKT_') ? 'UPSTREAM_BAD_ANSWER' : 'UPSTREAM_STREAM_FAILED';
  return new UpstreamError(code, `upstream "${where.upstream}": ${what}: ${why}`, where, e);
}

/**
 * The upstream's band-2 text as the lines a pusher would read, bounded. A line redrawn with CR
 * (git's progress meter) counts once, as last drawn, so a long meter does not push out the hook
 * output that follows it.
 */
class KeptMessages {
  private readonly kept: string[] = [];
  private current = '';
  /** The line as drawn before its last CR (kept for a CRLF ending). */
  private drawn = '';
  private readonly decoder = new StringDecoder('utf8');

  add(payload: Buffer): void {
    if (this.kept.length >= MAX_KEPT_MESSAGES) return;
    for (const ch of this.decoder.write(payload)) {
      if (ch === '\n') this.commit();
      else if (ch === '\r') {
        this.drawn = this.current;
        this.current = '';
      } else if (this.current.length < MAX_KEPT_MESSAGE_CHARS) this.current += ch;
      if (this.kept.length >= MAX_KEPT_MESSAGES) return;
    }
  }

  lines(): string[] {
    this.commit();
    return [...this.kept];
  }

  private commit(): void {
    const line = this.current.length > 0 ? this.current : this.drawn;
    if (line.length > 0 && this.kept.length < MAX_KEPT_MESSAGES) this.kept.push(line);
    this.current = '';
    this.drawn = '';
  }
}

async function* bounded(source: AsyncIterable<Uint8Array>, max: number): AsyncGenerator<Uint8Array> {
  let bytes = 0;
  for await (const chunk of source) {
    bytes += chunk.byteLength;
    if (bytes > max) throw new Error(`the advertisement exceeds ${max} bytes`);
    yield chunk;
  }
}
