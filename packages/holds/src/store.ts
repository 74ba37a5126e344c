/**
 * The hold store over the `holds`, `hold_pack_chunks` and `hold_approvals` tables (migration 2),
 * on PostgreSQL and PGlite alike.
 *
 * - A pack is written first, in encrypted chunks, outside any transaction (a large pack never
 *   keeps a transaction open); then the hold's row and its `hold.created` event commit together.
 *   Chunks that never got a row (a crash in between) are swept by `expireDue` after an hour.
 * - Every change of a hold is one short transaction: the row is locked (`SELECT … FOR UPDATE`)
 *   when the decision depends on what it holds (approvals), every UPDATE repeats the state it
 *   expects (`WHERE id = $1 AND state = 'pending'`), and the audit event, the deletion of a
 *   final hold's chunks and the notification (`pg_notify`, delivered at commit) are in the same
 *   transaction. So two approvals racing on two replicas reach the quorum exactly once.
 * - A relay is claimed by committing `approved → relaying` with an owner and a lease, never by a
 *   lock held while the relay runs (statement and idle timeouts would end such a lock); the
 *   claim picks its hold with `FOR UPDATE SKIP LOCKED`, so two claimers never get the same one.
 */
import { createHash, randomBytes } from 'node:crypto';
import { isOid, silentLogger, type Identity, type Logger, type Oid, type RefUpdate } from '@pushgate/core';
import type { Approvers } from '@pushgate/policy';
import { appendAuditEvent, type Database, type JsonObject, type Queryable } from '@pushgate/store';
import { DEFAULT_CHUNK_BYTES, chunked, openChunk, sealChunk } from './cipher';
import { holdDigest } from './digest';
import { HoldError } from './errors';
import type { HoldKey } from './key';
import { checkCancel, checkReview, expiredRefusal, mayReview, missingApprovals } from './rules';
import type {
  Approval,
  ApproveOutcome,
  ClaimedRelay,
  DecideOutcome,
  HoldRecord,
  HoldRefusal,
  HoldState,
  HoldStateKind,
  HoldStore,
  MovedRef,
  NewHold,
  Person,
  RelayFinish,
  RelayReport,
  StoredPackInfo,
} from './types';

/** How long a pending hold waits for a decision unless its creator says otherwise: 72 hours. */
export const DEFAULT_HOLD_TTL_MS = 72 * 60 * 60 * 1000;
/** The largest pack a hold keeps (1 GiB), beyond which the push is refused rather than held. */
export const DEFAULT_MAX_HELD_PACK_BYTES = 1024 * 1024 * 1024;
/** Chunks without a hold row this old are left over from a crash between chunks and row. */
export const ORPHAN_CHUNK_AGE_MS = 60 * 60 * 1000;
/** The notification channel of hold changes; the payload is the hold's id. */
export const HOLD_CHANNEL = 'pushgate_holds';

const DEFAULT_LIST_LIMIT = 100;
const MAX_LIST_LIMIT = 1000;
/** Expired holds marked per query of `expireDue`; it loops until none is left. */
const EXPIRE_BATCH = 200;
const ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
const ID_LENGTH = 12;

/** Options of createHoldStore. */
export interface HoldStoreOptions {
  readonly db: Database;
  readonly key: HoldKey;
  /** How long a hold stays pending (default 72 h). */
  readonly ttlMs?: number;
  /** The largest pack a hold keeps (default 1 GiB). */
  readonly maxHeldPackBytes?: number;
  /** Plaintext bytes per stored chunk (default 4 MiB). */
  readonly chunkBytes?: number;
  readonly logger?: Logger;
  /** The clock (tests move it). */
  readonly now?: () => Date;
  /** Called after each committed change of state (and creation: `from` undefined), in the process that made it. */
  readonly onTransition?: (hold: HoldRecord, from: HoldStateKind | undefined) => void;
}

/** A new hold id: 12 characters of [a-z0-9] from the system's CSPRNG (62 bits). */
export function newHoldId(): string {
  let id = '';
  while (id.length < ID_LENGTH) {
    for (const byte of randomBytes(ID_LENGTH * 2)) {
      // 252 = 7 × 36: bytes above it are dropped so every character is equally likely.
      if (byte < 252 && id.length < ID_LENGTH) id += ID_ALPHABET[byte % 36];
    }
  }
  return id;
}

/** A hold row as both backends return it (values.ts). */
interface HoldRow {
  id: string;
  push_id: string;
  state: HoldStateKind;
  upstream: string;
  repo: string;
  pusher_sub: string;
  pusher_issuer: string;
  pusher_email: string | null;
  pusher_groups: string[];
  pusher_agent: boolean;
  commands: { ref: string; oldOid: string; newOid: string }[];
  capabilities: string[];
  push_options: string[];
  pack_bytes: string | null;
  pack_sha256: string | null;
  pack_chunks: number | null;
  pack_key_id: string | null;
  digest: string;
  summary: JsonObject;
  decision: HoldRecord['decision'];
  approvers: Approvers[];
  expires_at: Date;
  approved_at: Date | null;
  attempts: number;
  next_attempt_at: Date | null;
  relay_owner: string | null;
  lease_until: Date | null;
  last_error: string | null;
  finished_at: Date | null;
  outcome: Record<string, unknown> | null;
  created_at: Date;
  updated_at: Date;
}

interface ApprovalRow {
  hold_id: string;
  approver_sub: string;
  approver_issuer: string;
  approver_email: string | null;
  approver_groups: string[];
  approver_agent: boolean;
  digest: string;
  comment: string | null;
  approved_at: Date;
}

function person(p: Identity | Person): Person {
  return { sub: p.sub, issuer: p.issuer, ...(p.email === undefined ? {} : { email: p.email }), groups: [...p.groups], agent: p.agent };
}

function personFromJson(v: unknown): Person {
  const o = v as { sub: string; issuer: string; email?: string; groups: string[]; agent: boolean };
  return person(o);
}

/** Where a row's state columns say it is; the table's checks guarantee the columns each state reads. */
function stateOf(r: HoldRow): HoldState {
  const finished = r.finished_at!;
  const outcome = r.outcome ?? {};
  switch (r.state) {
    case 'pending':
      return { kind: 'pending', expiresAt: r.expires_at };
    case 'approved':
      return {
        kind: 'approved',
        approvedAt: r.approved_at!,
        attempts: r.attempts,
        nextAttemptAt: r.next_attempt_at!,
        ...(r.last_error === null ? {} : { lastError: r.last_error }),
      };
    case 'relaying':
      return { kind: 'relaying', approvedAt: r.approved_at!, attempts: r.attempts, owner: r.relay_owner!, leaseUntil: r.lease_until! };
    case 'relayed':
      return { kind: 'relayed', approvedAt: r.approved_at!, finishedAt: finished, report: outcome.report as RelayReport };
    case 'stale':
      return { kind: 'stale', approvedAt: r.approved_at!, finishedAt: finished, moved: outcome.moved as MovedRef[] };
    case 'upstream-rejected':
      return {
        kind: 'upstream-rejected',
        approvedAt: r.approved_at!,
        finishedAt: finished,
        message: outcome.message as string,
        ...(outcome.report === undefined ? {} : { report: outcome.report as RelayReport }),
      };
    case 'rejected':
      return { kind: 'rejected', at: finished, by: personFromJson(outcome.by), comment: outcome.comment as string };
    case 'expired':
      return { kind: 'expired', at: finished };
    case 'cancelled':
      return { kind: 'cancelled', at: finished, by: personFromJson(outcome.by) };
  }
}

function approvalOf(r: ApprovalRow): Approval {
  return {
    by: {
      sub: r.approver_sub,
      issuer: r.approver_issuer,
      ...(r.approver_email === null ? {} : { email: r.approver_email }),
      groups: r.approver_groups,
      agent: r.approver_agent,
    },
    at: r.approved_at,
    ...(r.comment === null ? {} : { comment: r.comment }),
    digest: r.digest,
  };
}

function recordOf(r: HoldRow, approvals: readonly Approval[]): HoldRecord {
  const pack: StoredPackInfo | undefined =
    r.pack_bytes === null ? undefined : { bytes: Number(r.pack_bytes), sha256: r.pack_sha256!, chunks: r.pack_chunks! };
  return {
    id: r.id,
    pushId: r.push_id,
    state: stateOf(r),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    upstream: r.upstream,
    repo: r.repo,
    pusher: {
      sub: r.pusher_sub,
      issuer: r.pusher_issuer,
      ...(r.pusher_email === null ? {} : { email: r.pusher_email }),
      groups: r.pusher_groups,
      agent: r.pusher_agent,
    },
    // Written from checked RefUpdates only.
    commands: r.commands.map((c) => ({ ref: c.ref, oldOid: c.oldOid as Oid, newOid: c.newOid as Oid })),
    capabilities: r.capabilities,
    pushOptions: r.push_options,
    pack,
    digest: r.digest,
    summary: r.summary,
    decision: r.decision,
    approvers: r.approvers,
    approvals,
  };
}

function notFound(id: string): HoldRefusal {
  return { kind: 'refused', status: 404, code: 'HOLD_NOT_FOUND', message: `no hold ${id}` };
}

function badInput(message: string, data: Record<string, unknown> = {}): HoldError {
  return new HoldError('HOLD_BAD_INPUT', message, data);
}

function checkNewHold(h: NewHold): void {
  for (const field of ['pushId', 'upstream', 'repo'] as const) {
    if (typeof h[field] !== 'string' || h[field] === '') throw badInput(`a hold needs a non-empty ${field}`, { field });
  }
  if (h.pusher.sub === '' || h.pusher.issuer === '') throw badInput('a hold needs an authenticated pusher');
  if (h.commands.length === 0) throw badInput('a hold needs at least one ref command');
  h.commands.forEach((c, i) => {
    if (c.ref === '' || !isOid(c.oldOid) || !isOid(c.newOid)) throw badInput(`command ${i} of the hold is malformed`, { index: i, ref: c.ref });
  });
  if (h.decision.kind !== 'hold') throw badInput(`a hold needs a decision of kind 'hold', not '${String(h.decision.kind)}'`);
  if (h.expiresAt !== undefined && Number.isNaN(h.expiresAt.getTime())) throw badInput('the hold expiry is an invalid Date');
}

function refUpdates(commands: readonly RefUpdate[]) {
  return commands.map((c) => ({ ref: c.ref, oldOid: c.oldOid, newOid: c.newOid }));
}

type Actor = { readonly identity: Identity | Person; readonly clientAddr?: string; readonly userAgent?: string } | undefined;

/** The audit event of a change: linked to the push (its id), with who acted and what it became. */
async function audit(
  tx: Queryable,
  hold: HoldRecord,
  kind: string,
  at: Date,
  actor: Actor,
  detail: { readonly from: HoldStateKind | null; readonly via: string } & Record<string, unknown>,
): Promise<void> {
  await appendAuditEvent(tx, {
    occurredAt: at,
    requestId: hold.pushId,
    kind,
    ...(actor === undefined
      ? {}
      : {
          actorSub: actor.identity.sub,
          actorIssuer: actor.identity.issuer,
          actorEmail: actor.identity.email ?? null,
          actorGroups: actor.identity.groups,
          actorAgent: actor.identity.agent,
          clientAddr: actor.clientAddr ?? null,
          userAgent: actor.userAgent ?? null,
        }),
    upstream: hold.upstream,
    repo: hold.repo,
    refUpdates: refUpdates(hold.commands),
    outcome: hold.state.kind,
    detail: { holdId: hold.id, ...detail, to: hold.state.kind },
  });
}

async function notify(tx: Queryable, id: string): Promise<void> {
  await tx.query('SELECT pg_notify($1, $2)', [HOLD_CHANNEL, id]);
}

async function deleteChunks(q: Queryable, id: string): Promise<void> {
  await q.query('DELETE FROM hold_pack_chunks WHERE hold_id = $1', [id]);
}

async function approvalsOf(q: Queryable, ids: readonly string[]): Promise<Map<string, Approval[]>> {
  const out = new Map<string, Approval[]>();
  if (ids.length === 0) return out;
  const r = await q.query<ApprovalRow>('SELECT * FROM hold_approvals WHERE hold_id = ANY($1::text[]) ORDER BY approved_at, approver_sub', [ids]);
  for (const row of r.rows) {
    const list = out.get(row.hold_id) ?? [];
    list.push(approvalOf(row));
    out.set(row.hold_id, list);
  }
  return out;
}

/** Reads a hold and locks its row until the transaction ends. */
async function lockHold(tx: Queryable, id: string): Promise<HoldRecord | undefined> {
  const r = await tx.query<HoldRow>('SELECT * FROM holds WHERE id = $1 FOR UPDATE', [id]);
  const row = r.rows[0];
  if (row === undefined) return undefined;
  return recordOf(row, (await approvalsOf(tx, [id])).get(id) ?? []);
}

/** Runs an UPDATE … RETURNING * that must change exactly the row the caller locked. */
async function updateLocked(tx: Queryable, sql: string, params: readonly unknown[], approvals: readonly Approval[]): Promise<HoldRecord> {
  const r = await tx.query<HoldRow>(sql, params);
  const row = r.rows[0];
  // The row is locked and its state was just read: a miss is a bug, and rolls everything back.
  if (row === undefined) throw new Error(`hold update matched no row: ${sql.split('\n', 1)[0]}`);
  return recordOf(row, approvals);
}

/** A change made inside a transaction, reported to onTransition once committed. */
interface Change {
  readonly hold: HoldRecord;
  readonly from: HoldStateKind | undefined;
}

/** Creates the hold store (see the module comment). */
export function createHoldStore(options: HoldStoreOptions): HoldStore {
  const { db, key } = options;
  const ttlMs = options.ttlMs ?? DEFAULT_HOLD_TTL_MS;
  const maxPackBytes = options.maxHeldPackBytes ?? DEFAULT_MAX_HELD_PACK_BYTES;
  const chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  const logger = options.logger ?? silentLogger;
  const clock = options.now ?? (() => new Date());
  if (!Number.isSafeInteger(chunkBytes) || chunkBytes < 1) throw badInput(`chunkBytes must be a positive integer, not ${chunkBytes}`);

  const committed = (changes: readonly Change[]): void => {
    for (const { hold, from } of changes) {
      logger.info('hold changed', { holdId: hold.id, pushId: hold.pushId, from: from ?? null, to: hold.state.kind });
      try {
        options.onTransition?.(hold, from);
      } catch (e) {
        logger.error('hold transition listener failed', { holdId: hold.id, error: e instanceof Error ? e.message : String(e) });
      }
    }
  };

  /** Marks a locked, pending, overdue hold expired, in the caller's transaction. */
  const expireLocked = async (tx: Queryable, hold: HoldRecord, now: Date, via: string): Promise<HoldRecord> => {
    const expired = await updateLocked(
      tx,
      `UPDATE holds SET state = 'expired', finished_at = $2, updated_at = $2 WHERE id = $1 AND state = 'pending' RETURNING *`,
      [hold.id, now],
      hold.approvals,
    );
    await deleteChunks(tx, hold.id);
    await audit(tx, expired, 'hold.expired', now, undefined, { from: 'pending', via, expiresAt: hold.state.kind === 'pending' ? hold.state.expiresAt : null });
    await notify(tx, hold.id);
    return expired;
  };

  /** Writes the pack's chunks (no transaction); removes them again on any failure. */
  const writePack = async (id: string, pack: AsyncIterable<Uint8Array>, now: Date): Promise<StoredPackInfo> => {
    const hash = createHash('sha256');
    let bytes = 0;
    let seq = 0;
    async function* counted(): AsyncGenerator<Uint8Array> {
      for await (const piece of pack) {
        bytes += piece.length;
        if (bytes > maxPackBytes) {
          throw new HoldError('HOLD_PACK_TOO_LARGE', `the pack exceeds the ${maxPackBytes} bytes a held push may keep (maxHeldPackBytes)`, {
            limit: maxPackBytes,
            actual: bytes,
          });
        }
        hash.update(piece);
        yield piece;
      }
    }
    try {
      for await (const { plaintext, last } of chunked(counted(), chunkBytes)) {
        const sealed = sealChunk(key, id, seq, last, plaintext);
        // Base64 text decoded by the database, not a bytea parameter: PGlite serialises a bytea
        // parameter ~10× slower (1.3 s against 0.15 s per 4 MiB measured), and it is the same SQL on both.
        await db.query(`INSERT INTO hold_pack_chunks (hold_id, seq, nonce, data, created_at) VALUES ($1, $2, decode($3, 'base64'), decode($4, 'base64'), $5)`, [
          id,
          seq,
          sealed.nonce.toString('base64'),
          sealed.data.toString('base64'),
          now,
        ]);
        seq++;
      }
    } catch (e) {
      await deleteChunks(db, id).catch((cleanup: unknown) =>
        logger.warn('could not delete the chunks of a pack that was not held; expireDue sweeps them', {
          holdId: id,
          error: cleanup instanceof Error ? cleanup.message : String(cleanup),
        }),
      );
      throw e;
    }
    return { bytes, sha256: hash.digest('hex'), chunks: seq };
  };

  const store: HoldStore = {
    async create(input, pack) {
      checkNewHold(input);
      const id = newHoldId();
      const now = clock();
      const info = pack === undefined ? undefined : await writePack(id, pack, now);
      const expiresAt = input.expiresAt ?? new Date(now.getTime() + ttlMs);
      const digest = holdDigest(input.upstream, input.repo, input.commands, info?.sha256);
      let hold: HoldRecord;
      try {
        hold = await db.transaction(async (tx) => {
          const r = await tx.query<HoldRow>(
            `INSERT INTO holds (id, push_id, state, upstream, repo, pusher_sub, pusher_issuer, pusher_email, pusher_groups,
  pusher_agent, commands, capabilities, push_options, pack_bytes, pack_sha256, pack_chunks, pack_key_id, digest,
  summary, decision, approvers, expires_at, created_at, updated_at)
VALUES ($1, $2, 'pending', $3, $4, $5, $6, $7, $8::text[], $9, $10::jsonb, $11::text[], $12::text[], $13, $14, $15, $16,
  $17, $18::jsonb, $19::jsonb, $20::jsonb, $21, $22, $22)
RETURNING *`,
            [
              id,
              input.pushId,
              input.upstream,
              input.repo,
              input.pusher.sub,
              input.pusher.issuer,
              input.pusher.email ?? null,
              [...input.pusher.groups],
              input.pusher.agent,
              JSON.stringify(refUpdates(input.commands)),
              [...input.capabilities],
              [...input.pushOptions],
              info?.bytes ?? null,
              info?.sha256 ?? null,
              info?.chunks ?? null,
              info === undefined ? null : key.id,
              digest,
              JSON.stringify(input.summary),
              JSON.stringify(input.decision),
              JSON.stringify(input.decision.approvers),
              expiresAt,
              now,
            ],
          );
          const created = recordOf(r.rows[0]!, []);
          await audit(tx, created, 'hold.created', now, { identity: input.pusher, clientAddr: input.clientAddr, userAgent: input.userAgent }, {
            from: null,
            via: input.pushId,
            expiresAt,
            digest,
            rules: [...new Set(input.decision.reasons.map((reason) => reason.rule))],
            approvers: input.decision.approvers.map((a) => ({ groups: [...a.groups], count: a.count })),
            packBytes: info?.bytes ?? null,
          });
          await notify(tx, id);
          return created;
        });
      } catch (e) {
        if (info !== undefined) await deleteChunks(db, id).catch(() => undefined);
        throw e;
      }
      committed([{ hold, from: undefined }]);
      return hold;
    },

    async get(id) {
      const r = await db.query<HoldRow>('SELECT * FROM holds WHERE id = $1', [id]);
      const row = r.rows[0];
      if (row === undefined) return undefined;
      return recordOf(row, (await approvalsOf(db, [id])).get(id) ?? []);
    },

    async list(filter = {}) {
      const limit = filter.limit ?? DEFAULT_LIST_LIMIT;
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) throw badInput(`list limit must be an integer from 1 to ${MAX_LIST_LIMIT}`, { limit });
      const where: string[] = [];
      const params: unknown[] = [];
      const p = (v: unknown): string => {
        params.push(v);
        return `$${params.length}`;
      };
      if (filter.state !== undefined) where.push(`state = ${p(filter.state)}`);
      if (filter.upstream !== undefined) where.push(`upstream = ${p(filter.upstream)}`);
      if (filter.repo !== undefined) where.push(`repo = ${p(filter.repo)}`);
      if (filter.pushedBy !== undefined) where.push(`pusher_sub = ${p(filter.pushedBy.sub)} AND pusher_issuer = ${p(filter.pushedBy.issuer)}`);
      const now = clock();
      const reviewer = filter.actionableBy;
      if (reviewer !== undefined) {
        const sub = p(reviewer.sub);
        const issuer = p(reviewer.issuer);
        where.push(`state = 'pending' AND expires_at > ${p(now)}`);
        where.push(`NOT (pusher_sub = ${sub} AND pusher_issuer = ${issuer})`);
        if (reviewer.email !== undefined && reviewer.email !== '') {
          where.push(`(pusher_email IS NULL OR lower(pusher_email) <> lower(${p(reviewer.email)}))`);
        }
        where.push(`EXISTS (SELECT 1 FROM jsonb_array_elements(approvers) e WHERE e->'groups' ?| ${p([...reviewer.groups])}::text[])`);
        where.push(`NOT EXISTS (SELECT 1 FROM hold_approvals a WHERE a.hold_id = holds.id AND a.approver_sub = ${sub} AND a.approver_issuer = ${issuer})`);
      }
      const r = await db.query<HoldRow>(
        `SELECT * FROM holds ${where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`} ORDER BY created_at DESC, id DESC LIMIT ${p(limit)}`,
        params,
      );
      const approvals = await approvalsOf(db, r.rows.map((row) => row.id));
      const holds = r.rows.map((row) => recordOf(row, approvals.get(row.id) ?? []));
      // The SQL states the same rules as mayReview; the pure function stays the reference.
      return reviewer === undefined ? holds : holds.filter((h) => mayReview(h, reviewer, now));
    },

    mayReview(hold, identity) {
      return mayReview(hold, identity, clock());
    },

    async approve(id, actor, approveOptions = {}) {
      const now = clock();
      const { outcome, changes } = await db.transaction(async (tx): Promise<{ outcome: ApproveOutcome; changes: Change[] }> => {
        const hold = await lockHold(tx, id);
        if (hold === undefined) return { outcome: notFound(id), changes: [] };
        const verdict = checkReview(hold, actor.identity, now, { kind: 'approve', digest: approveOptions.digest });
        if (verdict.kind === 'expire') {
          const expired = await expireLocked(tx, hold, now, actor.requestId);
          return { outcome: expiredRefusal(hold), changes: [{ hold: expired, from: 'pending' }] };
        }
        if (verdict.kind === 'refused') return { outcome: verdict, changes: [] };
        const by = person(actor.identity);
        const approval: Approval = { by, at: now, digest: hold.digest, ...(approveOptions.comment === undefined ? {} : { comment: approveOptions.comment }) };
        await tx.query(
          `INSERT INTO hold_approvals (hold_id, approver_sub, approver_issuer, approver_email, approver_groups, approver_agent, digest, comment, approved_at)
VALUES ($1, $2, $3, $4, $5::text[], $6, $7, $8, $9)`,
          [id, by.sub, by.issuer, by.email ?? null, [...by.groups], by.agent, hold.digest, approveOptions.comment ?? null, now],
        );
        const approvals = [...hold.approvals, approval];
        const missing = missingApprovals({ ...hold, approvals });
        const detail = {
          from: 'pending' as const,
          via: actor.requestId,
          digest: hold.digest,
          ...(approveOptions.comment === undefined ? {} : { comment: approveOptions.comment }),
          approvals: approvals.length,
          missing: missing.map((m) => ({ groups: [...m.groups], count: m.count })),
        };
        if (missing.length > 0) {
          const recorded = await updateLocked(tx, `UPDATE holds SET updated_at = $2 WHERE id = $1 AND state = 'pending' RETURNING *`, [id, now], approvals);
          await audit(tx, recorded, 'hold.approval', now, actor, detail);
          await notify(tx, id);
          return { outcome: { kind: 'recorded', hold: recorded, missing }, changes: [] };
        }
        const approved = await updateLocked(
          tx,
          `UPDATE holds SET state = 'approved', approved_at = $2, next_attempt_at = $2, updated_at = $2 WHERE id = $1 AND state = 'pending' RETURNING *`,
          [id, now],
          approvals,
        );
        await audit(tx, approved, 'hold.approved', now, actor, detail);
        await notify(tx, id);
        return { outcome: { kind: 'approved', hold: approved }, changes: [{ hold: approved, from: 'pending' }] };
      });
      committed(changes);
      return outcome;
    },

    async reject(id, actor, rejectOptions) {
      const now = clock();
      const comment = rejectOptions.comment;
      const { outcome, changes } = await db.transaction(async (tx): Promise<{ outcome: DecideOutcome; changes: Change[] }> => {
        const hold = await lockHold(tx, id);
        if (hold === undefined) return { outcome: notFound(id), changes: [] };
        const verdict = checkReview(hold, actor.identity, now, { kind: 'reject', comment });
        if (verdict.kind === 'expire') {
          const expired = await expireLocked(tx, hold, now, actor.requestId);
          return { outcome: expiredRefusal(hold), changes: [{ hold: expired, from: 'pending' }] };
        }
        if (verdict.kind === 'refused') return { outcome: verdict, changes: [] };
        const rejected = await updateLocked(
          tx,
          `UPDATE holds SET state = 'rejected', finished_at = $2, updated_at = $2, outcome = $3::jsonb WHERE id = $1 AND state = 'pending' RETURNING *`,
          [id, now, JSON.stringify({ by: person(actor.identity), comment })],
          hold.approvals,
        );
        await deleteChunks(tx, id);
        await audit(tx, rejected, 'hold.rejected', now, actor, { from: 'pending', via: actor.requestId, comment });
        await notify(tx, id);
        return { outcome: { kind: 'done', hold: rejected }, changes: [{ hold: rejected, from: 'pending' }] };
      });
      committed(changes);
      return outcome;
    },

    async cancel(id, actor, cancelOptions = {}) {
      const now = clock();
      const { outcome, changes } = await db.transaction(async (tx): Promise<{ outcome: DecideOutcome; changes: Change[] }> => {
        const hold = await lockHold(tx, id);
        if (hold === undefined) return { outcome: notFound(id), changes: [] };
        const verdict = checkCancel(hold, actor.identity, now);
        if (verdict.kind === 'expire') {
          const expired = await expireLocked(tx, hold, now, actor.requestId);
          return { outcome: expiredRefusal(hold), changes: [{ hold: expired, from: 'pending' }] };
        }
        if (verdict.kind === 'refused') return { outcome: verdict, changes: [] };
        const outcomeJson = { by: person(actor.identity), ...(cancelOptions.comment === undefined ? {} : { comment: cancelOptions.comment }) };
        const cancelled = await updateLocked(
          tx,
          `UPDATE holds SET state = 'cancelled', finished_at = $2, updated_at = $2, outcome = $3::jsonb WHERE id = $1 AND state = 'pending' RETURNING *`,
          [id, now, JSON.stringify(outcomeJson)],
          hold.approvals,
        );
        await deleteChunks(tx, id);
        await audit(tx, cancelled, 'hold.cancelled', now, actor, {
          from: 'pending',
          via: actor.requestId,
          ...(cancelOptions.comment === undefined ? {} : { comment: cancelOptions.comment }),
        });
        await notify(tx, id);
        return { outcome: { kind: 'done', hold: cancelled }, changes: [{ hold: cancelled, from: 'pending' }] };
      });
      committed(changes);
      return outcome;
    },

    async expireDue(at) {
      const now = at ?? clock();
      const expired: HoldRecord[] = [];
      for (;;) {
        const due = await db.query<{ id: string }>(
          `SELECT id FROM holds WHERE state = 'pending' AND expires_at <= $1 ORDER BY expires_at, id LIMIT ${EXPIRE_BATCH}`,
          [now],
        );
        const changes: Change[] = [];
        for (const { id } of due.rows) {
          const hold = await db.transaction(async (tx) => {
            const locked = await lockHold(tx, id);
            // Decided (or expired by another replica) since it was listed.
            if (locked === undefined || locked.state.kind !== 'pending' || locked.state.expiresAt.getTime() > now.getTime()) return undefined;
            return expireLocked(tx, locked, now, locked.pushId);
          });
          if (hold !== undefined) {
            expired.push(hold);
            changes.push({ hold, from: 'pending' });
          }
        }
        committed(changes);
        if (due.rows.length < EXPIRE_BATCH) break;
      }
      // Chunks written for a hold whose row never committed (a crash, a failed insert).
      const swept = await db.query(
        `DELETE FROM hold_pack_chunks c WHERE c.created_at < $1 AND NOT EXISTS (SELECT 1 FROM holds h WHERE h.id = c.hold_id)`,
        [new Date(now.getTime() - ORPHAN_CHUNK_AGE_MS)],
      );
      if (swept.rowCount > 0) logger.info('orphan hold pack chunks deleted', { chunks: swept.rowCount });
      return expired;
    },

    async claimRelay(owner, leaseMs, at) {
      if (owner === '') throw badInput('a relay owner needs a name');
      const now = at ?? clock();
      const claimed = await db.transaction(async (tx) => {
        // SKIP LOCKED: a hold another claimer is taking right now is left to it, not waited for.
        const r = await tx.query<HoldRow & { previous_state: HoldStateKind }>(
          `WITH candidate AS (
  SELECT id, state FROM holds
  WHERE (state = 'approved' AND next_attempt_at <= $1) OR (state = 'relaying' AND lease_until < $1)
  ORDER BY approved_at, id
  LIMIT 1
  FOR UPDATE SKIP LOCKED
)
UPDATE holds h SET state = 'relaying', relay_owner = $2, lease_until = $3, attempts = h.attempts + 1,
  next_attempt_at = NULL, updated_at = $1
FROM candidate c WHERE h.id = c.id AND h.state = c.state
RETURNING h.*, c.state AS previous_state`,
          [now, owner, new Date(now.getTime() + leaseMs)],
        );
        const row = r.rows[0];
        if (row === undefined) return undefined;
        const hold = recordOf(row, (await approvalsOf(tx, [row.id])).get(row.id) ?? []);
        const reclaimed = row.previous_state === 'relaying';
        await audit(tx, hold, 'hold.relaying', now, undefined, { from: row.previous_state, via: owner, owner, attempt: row.attempts, reclaimed });
        await notify(tx, row.id);
        return { hold, reclaimed, from: row.previous_state };
      });
      if (claimed === undefined) return undefined;
      committed([{ hold: claimed.hold, from: claimed.from }]);
      return { hold: claimed.hold as ClaimedRelay['hold'], reclaimed: claimed.reclaimed };
    },

    async renewLease(id, owner, leaseMs) {
      const now = clock();
      const r = await db.query(
        `UPDATE holds SET lease_until = $3, updated_at = $4 WHERE id = $1 AND state = 'relaying' AND relay_owner = $2 RETURNING id`,
        [id, owner, new Date(now.getTime() + leaseMs), now],
      );
      return r.rowCount === 1;
    },

    async finishRelay(id, owner, finish: RelayFinish) {
      const now = clock();
      const outcomeJson =
        finish.kind === 'relayed'
          ? { report: finish.report }
          : finish.kind === 'stale'
            ? { moved: finish.moved }
            : { message: finish.message, ...(finish.report === undefined ? {} : { report: finish.report }) };
      const finished = await db.transaction(async (tx) => {
        const r = await tx.query<HoldRow>(
          `UPDATE holds SET state = $3, finished_at = $4, updated_at = $4, outcome = $5::jsonb, relay_owner = NULL, lease_until = NULL
WHERE id = $1 AND state = 'relaying' AND relay_owner = $2 RETURNING *`,
          [id, owner, finish.kind, now, JSON.stringify(outcomeJson)],
        );
        const row = r.rows[0];
        if (row === undefined) return undefined;
        const hold = recordOf(row, (await approvalsOf(tx, [id])).get(id) ?? []);
        await deleteChunks(tx, id);
        await audit(tx, hold, `hold.${finish.kind}`, now, undefined, { from: 'relaying', via: owner, owner, ...outcomeJson });
        await notify(tx, id);
        return hold;
      });
      if (finished === undefined) return false;
      committed([{ hold: finished, from: 'relaying' }]);
      return true;
    },

    async retryLater(id, owner, error, delayMs) {
      const now = clock();
      const retried = await db.transaction(async (tx) => {
        const r = await tx.query<HoldRow>(
          `UPDATE holds SET state = 'approved', next_attempt_at = $3, last_error = $4, relay_owner = NULL, lease_until = NULL, updated_at = $5
WHERE id = $1 AND state = 'relaying' AND relay_owner = $2 RETURNING *`,
          [id, owner, new Date(now.getTime() + delayMs), error, now],
        );
        const row = r.rows[0];
        if (row === undefined) return undefined;
        const hold = recordOf(row, (await approvalsOf(tx, [id])).get(id) ?? []);
        await audit(tx, hold, 'hold.retry', now, undefined, { from: 'relaying', via: owner, owner, error, retryAt: row.next_attempt_at, attempts: row.attempts });
        await notify(tx, id);
        return hold;
      });
      if (retried === undefined) return false;
      committed([{ hold: retried, from: 'relaying' }]);
      return true;
    },

    readPack(hold) {
      return readPack(db, key, hold);
    },

    watch(onChange) {
      return db.listen(HOLD_CHANNEL, onChange);
    },
  };
  return store;
}

async function* readPack(db: Database, key: HoldKey, hold: HoldRecord): AsyncGenerator<Uint8Array> {
  const pack = hold.pack;
  if (pack === undefined) return;
  const corrupt = (message: string, data: Record<string, unknown> = {}): HoldError =>
    new HoldError('HOLD_PACK_CORRUPT', `hold ${hold.id}'s pack ${message}`, { holdId: hold.id, ...data });
  const r = await db.query<{ pack_key_id: string | null; state: HoldStateKind }>('SELECT pack_key_id, state FROM holds WHERE id = $1', [hold.id]);
  const row = r.rows[0];
  if (row === undefined) throw corrupt('is gone: the hold does not exist');
  if (row.pack_key_id !== key.id) {
    throw new HoldError(
      'HOLD_KEY_MISMATCH',
      `hold ${hold.id}'s pack was encrypted with key ${row.pack_key_id ?? '(none)'}, but the configured hold key is ${key.id}: every replica needs the same PUSHGATE_HOLD_KEY`,
      { holdId: hold.id, expected: row.pack_key_id, actual: key.id },
    );
  }
  const hash = createHash('sha256');
  let bytes = 0;
  for (let seq = 0; seq < pack.chunks; seq++) {
    // One chunk at a time: a pack is never in memory whole.
    // As base64 text, for the same reason as it is written so: PGlite returns bytea ~14× slower.
    const c = await db.query<{ nonce: string; data: string }>(
      `SELECT encode(nonce, 'base64') AS nonce, encode(data, 'base64') AS data FROM hold_pack_chunks WHERE hold_id = $1 AND seq = $2`,
      [hold.id, seq],
    );
    const row64 = c.rows[0];
    if (row64 === undefined) throw corrupt(`lacks chunk ${seq} of ${pack.chunks} (the hold is ${row.state})`, { seq });
    // Node's base64 decoder skips the line breaks PostgreSQL's encode() puts every 76 characters.
    const chunk = { nonce: Buffer.from(row64.nonce, 'base64'), data: Buffer.from(row64.data, 'base64') };
    const plaintext = openChunk(key, hold.id, seq, seq === pack.chunks - 1, chunk);
    hash.update(plaintext);
    bytes += plaintext.length;
    yield plaintext;
  }
  const sha256 = hash.digest('hex');
  if (bytes !== pack.bytes || sha256 !== pack.sha256) {
    throw corrupt(`does not match its digest (${bytes} bytes, SHA-256 ${sha256}; expected ${pack.bytes} bytes, ${pack.sha256})`, {
      expected: pack.sha256,
      actual: sha256,
    });
  }
}
