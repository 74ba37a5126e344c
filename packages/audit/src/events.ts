/**
 * Audit events of the gateway and their mapping to store rows. Every HTTP request the gateway
 * serves becomes one `http.request` event after it finished; a push additionally becomes a
 * `push.received` event before anything of it reaches the upstream, so the record of a push can
 * never be missing when the upstream has it.
 */
import type { Identity, RefUpdate } from '@pushgate/core';
import type { ChangeSetSummary } from '@pushgate/changes';
import type { Decision } from '@pushgate/policy';
import type { AuditEventRow } from '@pushgate/store';
import type { SecretMasker } from './masker';

/** The git service of a request (from `info/refs?service=` or the POST endpoint). */
export type GitService = 'git-upload-pack' | 'git-receive-pack';

/** How a request ended, from the gateway's point of view. */
export type RequestOutcome =
  /** Served: the upstream's answer reached the client, and for a push it applied every ref update. */
  | 'ok'
  /**
   * A push relayed whose updates the upstream refused, all or some, inside the git protocol: its
   * report said `unpack <error>` or `ng` for a ref, or it aborted the push (`ERR`, band 3).
   * The HTTP status is 200; the upstream's answer is in the event's `upstreamReport`.
   */
  | 'upstream-rejected'
  /** No valid token: 401. */
  | 'unauthenticated'
  /** The request itself was malformed or not allowed (bad path, unknown upstream, undecodable push). */
  | 'client-error'
  /** A push the policy denied: nothing of it reached the upstream; the event's `decision` says why. */
  | 'denied'
  /** A push the policy held for approval: nothing of it reached the upstream (yet); the event's `decision` says why and who may approve. */
  | 'held'
  /** The upstream failed or refused the gateway (unreachable, timeout, 5xx, credential refused). */
  | 'upstream-error'
  /** The client went away before the answer was complete. */
  | 'aborted'
  /** The gateway refused to serve because a dependency it must not do without failed (audit store). */
  | 'unavailable'
  /** A failure inside the gateway. */
  | 'error';

/** Milliseconds per stage (absent: the stage did not run). */
export interface InspectionTimings {
  /** Receiving the pack from the client onto disk. */
  spoolMs?: number;
  /** Fetching the upstream into the mirror (runs while the pack arrives). */
  mirrorMs?: number;
  /** Scanning, resolving and indexing the pack, with strict object checks. */
  indexMs?: number;
  /** Building the change set. */
  changesMs?: number;
  /** Scanning the push's content for the policy's content rules (secrets in added lines, unscannable content). */
  scanMs?: number;
  /** Evaluating the policy over the change set, the pusher and the content findings. */
  decideMs?: number;
  /** Inspection up to a change set (spool, mirror, index, change set); the policy step is counted apart. */
  totalMs?: number;
}

/** What the audit record keeps of an inspection. */
export interface InspectionRecord {
  readonly timings: InspectionTimings;
  readonly pack?: {
    readonly bytes: number;
    readonly objects: number;
    readonly checksum: string;
    readonly ofsDeltas: number;
    readonly refDeltas: number;
    readonly thinBases: number;
    readonly maxDeltaDepth: number;
  };
  /** The upstream's value of each pushed ref when the push was inspected (null: absent), and how many refs it had. */
  readonly upstream?: { readonly refs: number; readonly pushedRefs: Readonly<Record<string, string | null>> };
  readonly changes?: ChangeSetSummary;
  /** What the content scan read and found (counts only: the findings themselves are in the decision, masked). */
  /** What the policy's content scan read; `scannedAhead`: blobs scanned beside the inspection, in the prescan's worker. */
  readonly scan?: { readonly scannedBytes: number; readonly scannedAhead?: number; readonly secrets: number; readonly unscanned: number };
}

/** An error as recorded: the public code and the (already client-safe) message. */
export interface RecordedError {
  readonly code: string;
  readonly message: string;
}

/** What the upstream answered to a relayed push, as recorded. */
export type UpstreamReportRecord =
  /** A report-status: the unpack result and each ref's outcome, with the server's `remote:` lines. */
  | {
      readonly kind: 'report';
      readonly unpack: string;
      readonly refs: readonly ({ readonly ref: string; readonly status: 'ok' } | { readonly ref: string; readonly status: 'ng'; readonly reason: string })[];
      readonly messages: readonly string[];
    }
  /** The server aborted the push (a band-3 message or an `ERR` packet). */
  | { readonly kind: 'fatal'; readonly message: string; readonly messages: readonly string[] }
  /** The client asked for no report. */
  | { readonly kind: 'no-report'; readonly messages: readonly string[] }
  /** The answer could not be read (cut off, malformed, too long); it still reached the client as it was. */
  | { readonly kind: 'unreadable'; readonly reason: string };

/** Whether an upstream's answer to a relayed push refused any of it (see 'upstream-rejected'). */
export function upstreamRejected(report: UpstreamReportRecord | undefined): boolean {
  if (report === undefined) return false;
  if (report.kind === 'fatal') return true;
  if (report.kind !== 'report') return false;
  return report.unpack !== 'ok' || report.refs.some((r) => r.status !== 'ok');
}

/** Who sent a request and from where. */
export interface RequestOrigin {
  readonly requestId: string;
  /** Absent when the request was not authenticated. */
  readonly identity?: Identity;
  readonly clientAddr?: string;
  readonly userAgent?: string;
}

/** What the gateway knows about one finished HTTP request. */
export interface HttpRequestRecord extends RequestOrigin {
  /** When the request arrived. */
  readonly occurredAt: Date;
  readonly method: string;
  readonly upstream?: string;
  readonly repo?: string;
  readonly service?: GitService;
  /** The ref updates of a push, as decoded from its command section. */
  readonly refUpdates?: readonly RefUpdate[];
  readonly pushOptions?: readonly string[];
  /** The upstream's answer to a relayed push. */
  readonly upstreamReport?: UpstreamReportRecord;
  /** For a push: what inspection found and how long each stage took. */
  readonly inspection?: InspectionRecord;
  /** For a push that reached the policy: the decision with every reason (findings masked by the policy). */
  readonly decision?: Decision;
  /** For a held push: the id of its stored hold (its own events carry the push's request id). */
  readonly holdId?: string;
  readonly httpStatus: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly durationMs: number;
  readonly outcome: RequestOutcome;
  readonly error?: RecordedError;
}

/** A push decoded and about to be relayed. */
export interface PushReceivedRecord extends RequestOrigin {
  readonly occurredAt: Date;
  readonly upstream: string;
  readonly repo: string;
  readonly refUpdates: readonly RefUpdate[];
  readonly pushOptions: readonly string[];
  /** The capabilities the client asked for (names and values as sent). */
  readonly capabilities: readonly string[];
}

/** Event kinds written by this package. */
export type AuditEventKind = 'http.request' | 'push.received';

/** The store row of an `http.request` event, masked. */
export function httpRequestRow(record: HttpRequestRecord, masker: SecretMasker): AuditEventRow {
  const detail: Record<string, unknown> = { method: record.method };
  if (record.pushOptions !== undefined && record.pushOptions.length > 0) detail.pushOptions = [...record.pushOptions];
  if (record.upstreamReport !== undefined) detail.upstreamReport = record.upstreamReport;
  if (record.inspection !== undefined) detail.inspection = record.inspection;
  if (record.decision !== undefined) detail.decision = record.decision;
  if (record.holdId !== undefined) detail.holdId = record.holdId;
  if (record.error !== undefined) detail.error = { code: record.error.code, message: record.error.message };
  return masker.maskValue<AuditEventRow>({
    ...originColumns(record),
    occurredAt: record.occurredAt,
    kind: 'http.request',
    upstream: record.upstream ?? null,
    repo: record.repo ?? null,
    service: record.service ?? null,
    refUpdates: record.refUpdates === undefined ? null : record.refUpdates.map(refUpdateJson),
    httpStatus: record.httpStatus,
    bytesIn: record.bytesIn,
    bytesOut: record.bytesOut,
    durationMs: record.durationMs,
    outcome: record.outcome,
    detail,
  });
}

/** The store row of a `push.received` event, masked. */
export function pushReceivedRow(record: PushReceivedRecord, masker: SecretMasker): AuditEventRow {
  return masker.maskValue<AuditEventRow>({
    ...originColumns(record),
    occurredAt: record.occurredAt,
    kind: 'push.received',
    upstream: record.upstream,
    repo: record.repo,
    service: 'git-receive-pack',
    refUpdates: record.refUpdates.map(refUpdateJson),
    httpStatus: null,
    bytesIn: null,
    bytesOut: null,
    durationMs: null,
    outcome: 'received',
    detail: { pushOptions: [...record.pushOptions], capabilities: [...record.capabilities] },
  });
}

function originColumns(origin: RequestOrigin) {
  const id = origin.identity;
  return {
    requestId: origin.requestId,
    actorSub: id?.sub ?? null,
    actorIssuer: id?.issuer ?? null,
    actorEmail: id?.email ?? null,
    actorGroups: id === undefined ? null : [...id.groups],
    actorAgent: id === undefined ? null : id.agent,
    clientAddr: origin.clientAddr ?? null,
    userAgent: origin.userAgent ?? null,
  };
}

function refUpdateJson(u: RefUpdate): { ref: string; oldOid: string; newOid: string } {
  return { ref: u.ref, oldOid: u.oldOid, newOid: u.newOid };
}
