/**
 * The hold engine's contract: a held push as data, its lifecycle as a discriminated union (the
 * `holds` table's check constraint states the same), and the store's operations. Operations that
 * a caller may be refused (approve, reject, cancel) return their outcome as data, never throw
 * for a refusal: the API maps `refused.status` to its HTTP status.
 *
 *   pending → approved → relaying → relayed | stale | upstream-rejected
 *   pending → rejected | expired | cancelled
 *   relaying → approved   (the upstream was unreachable: retried later, with backoff)
 *   relaying → relaying   (a lease expired: another owner claims it, after re-reading the upstream's refs)
 */
import type { Identity, RefUpdate } from '@pushgate/core';
import type { Approvers, Decision } from '@pushgate/policy';
import type { JsonObject } from '@pushgate/store';

/** A person as the hold record keeps them (from the verified identity). */
export interface Person {
  readonly sub: string;
  readonly issuer: string;
  readonly email?: string;
  readonly groups: readonly string[];
  readonly agent: boolean;
}

/** One reviewer's approval, bound to the exact push they saw. */
export interface Approval {
  readonly by: Person;
  readonly at: Date;
  readonly comment?: string;
  /** The hold's `digest` when approved: an approval counts only for that exact push. */
  readonly digest: string;
}

/** What the upstream said to a relayed push (kept on the hold; what a waiting client is answered from). */
export interface RelayReport {
  /** `ok`, or the upstream's unpack error. */
  readonly unpack: string;
  readonly refs: readonly ({ readonly ref: string; readonly status: 'ok' } | { readonly ref: string; readonly status: 'ng'; readonly reason: string })[];
  /** The upstream's `remote:` lines (band 2), bounded. */
  readonly messages: readonly string[];
}

/** A ref found elsewhere than both the push's old and new id when the relay was classified. */
export interface MovedRef {
  readonly ref: string;
  /** The id the push expected to replace. */
  readonly expected: string;
  /** What the upstream has now (the zero id when the ref is gone). */
  readonly actual: string;
}

/** The lifecycle (see the module comment). */
export type HoldState =
  | { readonly kind: 'pending'; readonly expiresAt: Date }
  | { readonly kind: 'approved'; readonly approvedAt: Date; readonly attempts: number; readonly nextAttemptAt: Date; readonly lastError?: string }
  | { readonly kind: 'relaying'; readonly approvedAt: Date; readonly attempts: number; readonly owner: string; readonly leaseUntil: Date }
  | { readonly kind: 'relayed'; readonly approvedAt: Date; readonly finishedAt: Date; readonly report: RelayReport }
  | { readonly kind: 'stale'; readonly approvedAt: Date; readonly finishedAt: Date; readonly moved: readonly MovedRef[] }
  | { readonly kind: 'upstream-rejected'; readonly approvedAt: Date; readonly finishedAt: Date; readonly message: string; readonly report?: RelayReport }
  | { readonly kind: 'rejected'; readonly at: Date; readonly by: Person; readonly comment: string }
  | { readonly kind: 'expired'; readonly at: Date }
  | { readonly kind: 'cancelled'; readonly at: Date; readonly by: Person };

export type HoldStateKind = HoldState['kind'];

/** Every state, in lifecycle order (the check constraint's list). */
export const HOLD_STATES: readonly HoldStateKind[] = Object.freeze(['pending', 'approved', 'relaying', 'relayed', 'stale', 'upstream-rejected', 'rejected', 'expired', 'cancelled']);

/** States a hold never leaves. */
export const FINAL_HOLD_STATES: readonly HoldStateKind[] = Object.freeze(['relayed', 'stale', 'upstream-rejected', 'rejected', 'expired', 'cancelled']);

/** Whether a hold has reached a state it never leaves (a switch, so a new state must be placed). */
export function isFinalHoldState(state: HoldState): boolean {
  switch (state.kind) {
    case 'pending':
    case 'approved':
    case 'relaying':
      return false;
    case 'relayed':
    case 'stale':
    case 'upstream-rejected':
    case 'rejected':
    case 'expired':
    case 'cancelled':
      return true;
  }
}

/** The stored pack of a hold (absent for a push that only deletes refs). */
export interface StoredPackInfo {
  /** Plaintext bytes. */
  readonly bytes: number;
  /** SHA-256 of the plaintext pack, hex. */
  readonly sha256: string;
  readonly chunks: number;
}

/** A held push as stored. */
export interface HoldRecord {
  /** Short, unguessable, URL-safe id (e.g. `h7k2m9q4x8c3`), shown to the pusher and in links. */
  readonly id: string;
  /** The push's id, shared by all its audit events (the request id of the push). */
  readonly pushId: string;
  readonly state: HoldState;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  /** The configured upstream's name and the repository path under it. */
  readonly upstream: string;
  readonly repo: string;
  readonly pusher: Person;
  /** The ref commands, in the push's order, with the old ids the upstream must still have. */
  readonly commands: readonly RefUpdate[];
  /** The client's capability tokens as it sent them (e.g. `report-status`, `side-band-64k`, `atomic`, `agent=git/2.39.5`). */
  readonly capabilities: readonly string[];
  /** The client's push options, as sent (the gateway's own, e.g. `wait`, are stripped when relaying). */
  readonly pushOptions: readonly string[];
  readonly pack: StoredPackInfo | undefined;
  /**
   * What an approval binds to: SHA-256 hex over upstream, repo, every command (ref, old, new) and
   * the pack's SHA-256 (see `holdDigest`).
   */
  readonly digest: string;
  /** The change set's summary (commits, files, …) as the audit record has it. */
  readonly summary: JsonObject;
  /** The policy's decision (kind `hold`), findings masked. */
  readonly decision: Extract<Decision, { kind: 'hold' }>;
  /** Who must approve: each entry must be met (count distinct people in any of its groups). */
  readonly approvers: readonly Approvers[];
  readonly approvals: readonly Approval[];
}

/** What `HoldStore.create` is given besides the pack. */
export interface NewHold {
  readonly pushId: string;
  readonly upstream: string;
  readonly repo: string;
  readonly pusher: Identity;
  readonly commands: readonly RefUpdate[];
  readonly capabilities: readonly string[];
  readonly pushOptions: readonly string[];
  readonly summary: JsonObject;
  readonly decision: Extract<Decision, { kind: 'hold' }>;
  /** When it expires unless decided (default: now + the store's TTL). */
  readonly expiresAt?: Date;
  /** For the `hold.created` audit event. */
  readonly clientAddr?: string;
  readonly userAgent?: string;
}

/** Why an action on a hold was refused; `status` is the HTTP status the API answers with. */
export interface HoldRefusal {
  readonly kind: 'refused';
  readonly status: 400 | 403 | 404 | 409;
  readonly code: HoldRefusalCode;
  readonly message: string;
}

export type HoldRefusalCode =
  | 'HOLD_NOT_FOUND'
  /** The caller pushed it: nobody approves (or rejects) their own push, admins included. */
  | 'HOLD_SELF_APPROVAL'
  /** The caller is in none of the groups the hold needs. */
  | 'HOLD_NOT_APPROVER'
  /** Only the pusher may cancel. */
  | 'HOLD_NOT_PUSHER'
  /** The hold is not pending (already decided, relayed, expired …). */
  | 'HOLD_NOT_PENDING'
  /** Its TTL has passed (it is marked expired by this call). */
  | 'HOLD_EXPIRED'
  /** The caller approved it already (one person counts once). */
  | 'HOLD_ALREADY_APPROVED'
  /** The approval named a digest that is not this push's. */
  | 'HOLD_DIGEST_MISMATCH'
  /** A rejection needs a comment saying why (status 400). */
  | 'HOLD_COMMENT_REQUIRED';

/** The outcome of an approval. */
export type ApproveOutcome =
  /** Recorded; more approvals are needed (`missing` says what each unmet entry still needs). */
  | { readonly kind: 'recorded'; readonly hold: HoldRecord; readonly missing: readonly Approvers[] }
  /** This approval met the quorum: the hold is now `approved`, ready to relay. */
  | { readonly kind: 'approved'; readonly hold: HoldRecord }
  | HoldRefusal;

/** The outcome of a rejection or cancellation. */
export type DecideOutcome = { readonly kind: 'done'; readonly hold: HoldRecord } | HoldRefusal;

/** Who acts on a hold, through which request (for the audit event). */
export interface HoldActor {
  readonly identity: Identity;
  /** The API request's id (the events themselves carry the hold's push id). */
  readonly requestId: string;
  readonly clientAddr?: string;
  readonly userAgent?: string;
}

/** Filters of `HoldStore.list`. */
export interface HoldFilter {
  readonly state?: HoldStateKind;
  /** Only holds this identity may approve or reject (in a required group, not the pusher). */
  readonly actionableBy?: Identity;
  /** Only holds this identity pushed. */
  readonly pushedBy?: Identity;
  readonly upstream?: string;
  readonly repo?: string;
  /** Newest first; at most this many (default 100, at most 1000). */
  readonly limit?: number;
}

/** A relay claimed by one owner until `leaseUntil`. */
export interface ClaimedRelay {
  readonly hold: HoldRecord & { readonly state: Extract<HoldState, { kind: 'relaying' }> };
  /** True when a previous owner's lease expired: the upstream's refs must be re-read before sending anything. */
  readonly reclaimed: boolean;
}

/** How a relay ended, as the relayer classified it from the upstream's refs. */
export type RelayFinish =
  | { readonly kind: 'relayed'; readonly report: RelayReport }
  | { readonly kind: 'stale'; readonly moved: readonly MovedRef[] }
  | { readonly kind: 'upstream-rejected'; readonly message: string; readonly report?: RelayReport };

/** The hold store (PostgreSQL and PGlite alike). */
export interface HoldStore {
  /**
   * Stores a held push: the pack's chunks (encrypted) first, outside any transaction, then the row
   * and its `hold.created` audit event in one transaction. Throws HoldError HOLD_PACK_TOO_LARGE
   * (nothing kept) when the pack exceeds `maxHeldPackBytes`.
   */
  create(hold: NewHold, pack: AsyncIterable<Uint8Array> | undefined): Promise<HoldRecord>;
  get(id: string): Promise<HoldRecord | undefined>;
  list(filter?: HoldFilter): Promise<HoldRecord[]>;
  /** Whether `identity` may approve or reject this hold now (for pages and `list`). */
  mayReview(hold: HoldRecord, identity: Identity): boolean;
  approve(id: string, actor: HoldActor, options?: { readonly comment?: string; readonly digest?: string }): Promise<ApproveOutcome>;
  reject(id: string, actor: HoldActor, options: { readonly comment: string }): Promise<DecideOutcome>;
  /** By the pusher only. */
  cancel(id: string, actor: HoldActor, options?: { readonly comment?: string }): Promise<DecideOutcome>;
  /** Marks every pending hold past its TTL expired (each with its audit event); returns them. */
  expireDue(now?: Date): Promise<HoldRecord[]>;
  /**
   * Claims one relay: an `approved` hold whose next attempt is due, or a `relaying` one whose lease
   * has expired, by committing the change to `relaying` with `owner` and a lease. At most one
   * caller gets any given hold.
   */
  claimRelay(owner: string, leaseMs: number, now?: Date): Promise<ClaimedRelay | undefined>;
  /** Extends the lease while the relay runs; false when `owner` no longer holds it. */
  renewLease(id: string, owner: string, leaseMs: number): Promise<boolean>;
  /** Ends a claimed relay (with its audit event); false when `owner` no longer holds it. */
  finishRelay(id: string, owner: string, finish: RelayFinish): Promise<boolean>;
  /** Gives a claimed relay back (`relaying → approved`) to retry after `delayMs`; false when `owner` no longer holds it. */
  retryLater(id: string, owner: string, error: string, delayMs: number): Promise<boolean>;
  /**
   * The pack as stored, decrypted chunk by chunk; the stream fails with HoldError
   * HOLD_PACK_CORRUPT when a chunk does not authenticate or the whole does not match its SHA-256.
   */
  readPack(hold: HoldRecord): AsyncIterable<Uint8Array>;
  /**
   * Calls `onChange(holdId)` whenever a hold changes state (LISTEN/NOTIFY on PostgreSQL, so a
   * change on another replica is seen at once; on PGlite, in-process notifications); callers
   * still poll as a safety net. Resolves with a function that stops it.
   */
  watch(onChange: (holdId: string) => void): Promise<() => Promise<void>>;
}
