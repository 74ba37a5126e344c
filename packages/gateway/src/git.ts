/**
 * The gateway's git services, independent of the HTTP framework: each takes a GitCall (the route,
 * the caller, the body) and returns a GitReply the HTTP layer writes back, plus the facts only the
 * service knows for the audit record. Fetch and clone (gitprotocol-http(5) "Smart Service
 * git-upload-pack", protocol v0/v1 and gitprotocol-v2(5) via the `Git-Protocol` header) are
 * streamed through unchanged in both directions: gzip request bodies stay gzip, nothing is buffered.
 * The receive-pack advertisement is also read on its way through (up to a bound) for the refs it
 * names, so that the mirror can start fetching before the push it announces arrives.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import { isPushgateError, type Identity, type Logger, type Oid, type RefUpdate } from '@pushgate/core';
import type { InspectionRecord, UpstreamReportRecord } from '@pushgate/audit';
import type { MirrorRefsSource } from '@pushgate/mirror';
import type { Decision } from '@pushgate/policy';
import { filterAdvertisement, type Capabilities } from '@pushgate/protocol';
import { UpstreamError, type Upstream } from '@pushgate/relay';
import { MAX_ADVERTISEMENT_BYTES, advertisedRefs } from './inspection';
import type { GitRoute } from './route';

/** Everything a git service needs to serve one request. */
export interface GitCall {
  readonly route: GitRoute;
  readonly upstream: Upstream;
  readonly requestId: string;
  readonly identity: Identity;
  readonly clientAddr: string | undefined;
  readonly headers: IncomingHttpHeaders;
  /** The request body as received (counted by the HTTP layer). */
  readonly body: Readable;
  /** Aborted when the client goes away. */
  readonly signal: AbortSignal;
  readonly logger: Logger;
}

/** What the HTTP layer sends back. */
export type GitReply =
  /** A streamed answer (normally the upstream's). */
  | { readonly kind: 'stream'; readonly status: number; readonly headers: Readonly<Record<string, string>>; readonly body: Readable }
  /** A complete small answer produced by the gateway itself. */
  | { readonly kind: 'bytes'; readonly status: number; readonly headers: Readonly<Record<string, string>>; readonly body: Buffer };

/** Facts about a request that only its service knows, for the audit record. */
export interface GitFacts {
  readonly refUpdates?: readonly RefUpdate[];
  readonly pushOptions?: readonly string[];
  /** The upstream's answer to a relayed push, known once the reply has streamed; always settles. */
  readonly upstreamReport?: Promise<UpstreamReportRecord>;
  /** How a push ended (inspection record, refusal, the upstream's report), once its reply has streamed; always settles. */
  readonly push?: Promise<PushSettlement>;
}

/** The decision that lets a push through, and those that stop it. */
export type AllowDecision = Extract<Decision, { kind: 'allow' }>;
/** A decision that stops a push: nothing of it reaches the upstream. */
export type RefusingDecision = Extract<Decision, { kind: 'deny' | 'hold' }>;

/**
 * How a push ended, for the audit record and the log: one union, so that the outcome is derived
 * from what happened rather than pieced together from flags.
 */
export type PushSettlement =
  /** Allowed and sent upstream; `upstreamReport` is what the upstream answered. */
  | {
      readonly kind: 'relayed';
      readonly inspection: InspectionRecord;
      readonly decision: AllowDecision;
      readonly upstreamReport: UpstreamReportRecord;
      readonly timings: PushTimings;
    }
  /**
   * Denied or held by the policy: the client was told why inside the protocol (`ng` and `remote:`
   * lines). A held push that was stored has its hold's id.
   */
  | { readonly kind: 'decided'; readonly inspection: InspectionRecord; readonly decision: RefusingDecision; readonly holdId?: string; readonly timings: PushTimings }
  /**
   * Stopped by an error (inspection, the policy step) before anything reached the upstream, or
   * the relay failed: it reached the client as `unpack`/`ng` lines or an HTTP status. A relay
   * that failed after the push was sent (its answer lost) has `upstreamReport` saying so.
   */
  | {
      readonly kind: 'refused';
      readonly inspection: InspectionRecord;
      readonly error: unknown;
      readonly decision?: Decision;
      readonly timings: PushTimings;
      readonly upstreamReport?: UpstreamReportRecord;
    };

/** Milliseconds of a push's steps outside inspection, and whether its mirror fetched, for the log line. */
export interface PushTimings {
  /** Writing the `push.received` audit event, which must succeed before anything is relayed. */
  readonly receivedMs: number;
  /** From sending the push upstream to the end of the upstream's answer; absent when not relayed. */
  readonly relayMs?: number;
  /** How the upstream's refs were learnt: `advertisement` (the mirror was current) or `fetch`. */
  readonly mirror?: MirrorRefsSource;
}

/**
 * A service's result: a reply to send, or a failure to render, each with the facts gathered so
 * far (a push that fails at the upstream is still recorded with its ref updates).
 */
export type GitOutcome =
  | { readonly kind: 'replied'; readonly reply: GitReply; readonly facts: GitFacts }
  | { readonly kind: 'failed'; readonly error: unknown; readonly facts: GitFacts };

/** Copies the named request headers that are present. */
export function pickHeaders(headers: IncomingHttpHeaders, names: readonly string[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name of names) {
    const v = headers[name];
    if (v !== undefined) out[name] = v;
  }
  return out;
}

/**
 * Capabilities the gateway serves to pushers whatever the upstream offers: `push-options`, so that
 * `git push -o wait` reaches the gateway (git refuses `-o` when the server does not advertise it);
 * options are passed on only to an upstream that advertises them, the gateway's own never.
 */
export const GATEWAY_PUSH_CAPABILITIES: readonly string[] = Object.freeze(['push-options']);

/** Options of serveInfoRefs. */
export interface InfoRefsOptions {
  /**
   * Given the refs a receive-pack advertisement names, as a promise that settles once the relaying
   * ended (rejected when what was read is not a whole advertisement), unless the advertisement
   * exceeded MAX_ADVERTISEMENT_BYTES. When the upstream's answer ends normally it is called before
   * the reply's last byte is sent, so a push that follows the advertisement finds what it started.
   */
  readonly onReceivePackRefs?: (refs: Promise<ReadonlyMap<string, Oid>>) => void;
  /**
   * Given the capabilities of a receive-pack advertisement (as passed on to the client, less those
   * the gateway added for itself) once they are checked, before any byte goes to the client: the
   * push that follows is relayed with them.
   */
  readonly onReceivePackCapabilities?: (capabilities: Capabilities) => void;
}

/**
 * `GET info/refs?service=…`: the upstream's ref advertisement, checked and filtered on its way
 * through (SHA-256 repositories refused; for push, capabilities pushgate cannot relay such as
 * push-cert removed and GATEWAY_PUSH_CAPABILITIES added), the refs after the capabilities streamed untouched. `Accept-Encoding` is not
 * passed on, so the advertisement arrives uncompressed and can be read.
 */
export async function serveInfoRefs(call: GitCall & { readonly route: Extract<GitRoute, { kind: 'info-refs' }> }, options: InfoRefsOptions = {}): Promise<GitOutcome> {
  const res = await call.upstream.request({
    method: 'GET',
    repoPath: call.route.repoPath,
    endpoint: 'info/refs',
    query: `service=${call.route.service}`,
    headers: pickHeaders(call.headers, ['accept', 'git-protocol', 'user-agent', 'pragma', 'cache-control']),
    requestId: call.requestId,
    signal: call.signal,
  });
  let filtered;
  try {
    filtered = await filterAdvertisement(res.body, { service: call.route.service, ownPushCapabilities: GATEWAY_PUSH_CAPABILITIES });
  } catch (e) {
    res.body.destroy();
    throw advertisementError(e, call);
  }
  // The capability list may have changed length, so the upstream's Content-Length no longer holds.
  const { 'content-length': _length, ...headers } = res.headers;
  if (call.route.service === 'git-receive-pack' && res.status === 200 && filtered.summary.version !== 2) {
    // What the upstream itself offers: the relay must not send it options it never advertised.
    const added = new Set(filtered.summary.added);
    options.onReceivePackCapabilities?.(filtered.summary.capabilities.filter((e) => !added.has(e.name)));
  }
  const onRefs = options.onReceivePackRefs;
  const body = onRefs !== undefined && call.route.service === 'git-receive-pack' && res.status === 200 ? readingRefs(filtered.body, onRefs) : filtered.body;
  return { kind: 'replied', reply: { kind: 'stream', status: res.status, headers, body: Readable.from(body) }, facts: {} };
}

/**
 * Passes a receive-pack advertisement through chunk by chunk, as it arrives, keeping the chunks
 * (at most MAX_ADVERTISEMENT_BYTES; beyond that it stops keeping them and names no refs) to decode
 * once the relaying ends. It ends early when the client goes away; the refs are named all the
 * same, and the decoder finds whether the advertisement was complete: a client that had every ref
 * may have left only to push next, and what it started must not depend on its connection.
 */
async function* readingRefs(source: AsyncIterable<Buffer>, onRefs: (refs: Promise<ReadonlyMap<string, Oid>>) => void): AsyncGenerator<Buffer> {
  let kept: Buffer[] | undefined = [];
  let bytes = 0;
  try {
    for await (const chunk of source) {
      if (kept !== undefined) {
        bytes += chunk.byteLength;
        // Chunks are yielded and kept by reference: no copy, and none is reused by the stream.
        if (bytes <= MAX_ADVERTISEMENT_BYTES) kept.push(chunk);
        else kept = undefined;
      }
      yield chunk;
    }
  } finally {
    if (kept !== undefined && kept.length > 0) {
      const chunks = kept;
      // Decoded on a later turn of the event loop, so the reply's end is not held up by it.
      onRefs(new Promise<void>((resolve) => setImmediate(resolve)).then(() => advertisedRefs(replay(chunks), 'git-receive-pack')));
    }
  }
}

async function* replay(chunks: readonly Buffer[]): AsyncGenerator<Buffer> {
  yield* chunks;
}

/** An upstream advertisement the gateway cannot pass on: unsupported repositories stay the client's to read, garbage is the upstream's fault. */
function advertisementError(e: unknown, call: GitCall): unknown {
  if (!isPushgateError(e) || e instanceof UpstreamError) return e;
  if (e.code === 'PROTO_UNSUPPORTED_OBJECT_FORMAT' || e.code === 'PROTO_UNSUPPORTED_VERSION') return e;
  return new UpstreamError(
    'UPSTREAM_BAD_ANSWER',
    `upstream "${call.upstream.name}" sent a ref advertisement that is not valid: ${e.message}`,
    { upstream: call.upstream.name, path: call.route.repoPath },
    e,
  );
}

/** `POST git-upload-pack`: fetch and clone negotiation and the pack, streamed through as is. */
export async function serveUploadPack(call: GitCall): Promise<GitOutcome> {
  const res = await call.upstream.request({
    method: 'POST',
    repoPath: call.route.repoPath,
    endpoint: 'git-upload-pack',
    // The body is passed unchanged, so its length and encoding stay true.
    headers: pickHeaders(call.headers, ['content-type', 'content-encoding', 'content-length', 'accept', 'accept-encoding', 'git-protocol', 'user-agent']),
    body: call.body,
    requestId: call.requestId,
    signal: call.signal,
  });
  return { kind: 'replied', reply: { kind: 'stream', status: res.status, headers: res.headers, body: res.body }, facts: {} };
}
