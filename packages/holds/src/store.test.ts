/**
 * The hold store on every backend: creating (pack chunked and encrypted, row and event together),
 * reading back, listing, and the decisions of reviewers and pushers with their refusals, their
 * audit events and their notifications.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { listAuditEvents, migrate, type Database } from '@pushgate/store';
import { testDatabases } from '@pushgate/store/testing';
import { holdDigest } from './digest';
import { HoldError } from './errors';
import { actor, bytes, collect, ISSUER, newHold, someone, testStore, type TestClock } from './store.test-support';
import type { HoldRecord, HoldStore } from './types';

const backends = await testDatabases();

const alice = someone('alice', ['dev'], 'alice@example.com');
const bob = someone('bob', ['reviewers'], 'bob@example.com');
const carol = someone('carol', ['reviewers', 'security'], 'carol@example.com');
const mallory = someone('mallory', ['marketing']);
const HOUR = 60 * 60 * 1000;

async function failure(p: Promise<unknown>): Promise<HoldError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof HoldError) return e;
    throw e;
  }
  throw new Error('expected a HoldError');
}

describe.each(backends)('hold store on $name', (backend) => {
  let db: Database;
  let store: HoldStore;
  let clock: TestClock;
  let transitions: ReturnType<typeof testStore>['transitions'];

  beforeAll(async () => {
    db = await backend.open();
    await migrate(db);
    ({ store, clock, transitions } = testStore(db, { chunkBytes: 1024 }));
  });
  afterAll(() => backend.cleanup());

  const chunkCount = async (id: string) => Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM hold_pack_chunks WHERE hold_id = $1', [id])).rows[0]!.n);

  it('stores a held push with its pack in encrypted chunks, and reads it back as it was', async () => {
    const input = newHold(alice);
    const hold = await store.create(input, bytes(3000, 700));
    expect(hold.id).toMatch(/^[a-z0-9]{12}$/);
    expect(hold.state).toEqual({ kind: 'pending', expiresAt: new Date(clock.current.getTime() + 72 * HOUR) });
    expect(hold.pack).toEqual({ bytes: 3000, sha256: expect.stringMatching(/^[0-9a-f]{64}$/), chunks: 3 });
    expect(hold.digest).toBe(holdDigest(input.upstream, input.repo, input.commands, hold.pack!.sha256));
    expect(hold.pusher).toEqual({ sub: 'alice', issuer: ISSUER, email: 'alice@example.com', groups: ['dev'], agent: false });
    expect(hold).toMatchObject({
      pushId: input.pushId,
      upstream: 'github',
      repo: input.repo,
      commands: input.commands,
      capabilities: input.capabilities,
      pushOptions: ['ci.skip'],
      summary: { commits: 2, files: 3 },
      decision: input.decision,
      approvers: [{ groups: ['reviewers'], count: 1 }],
      approvals: [],
    });
    expect(await store.get(hold.id)).toEqual(hold);
    expect(await collect(store.readPack(hold))).toEqual(await collect(bytes(3000)));
    expect(await chunkCount(hold.id)).toBe(3);
    expect(transitions).toContainEqual({ id: hold.id, from: undefined, to: 'pending' });

    const [event] = await listAuditEvents(db, { requestId: input.pushId });
    expect(event).toMatchObject({
      kind: 'hold.created',
      actorSub: 'alice',
      actorIssuer: ISSUER,
      actorEmail: 'alice@example.com',
      clientAddr: '198.51.100.4',
      userAgent: 'git/2.39.5',
      upstream: 'github',
      repo: input.repo,
      refUpdates: input.commands,
      outcome: 'pending',
      detail: { holdId: hold.id, from: null, to: 'pending', via: input.pushId, rules: ['protect-main'], packBytes: 3000 },
    });
  });

  it('stores a push without a pack (deletions only), and an empty pack as one empty chunk', async () => {
    const none = await store.create(newHold(alice), undefined);
    expect(none.pack).toBeUndefined();
    expect(await collect(store.readPack(none))).toEqual(Buffer.alloc(0));
    const empty = await store.create(newHold(alice), bytes(0));
    expect(empty.pack).toMatchObject({ bytes: 0, chunks: 1 });
    expect(await collect(store.readPack(empty))).toEqual(Buffer.alloc(0));
    expect(none.digest).not.toBe(empty.digest);
  });

  it('refuses a pack over maxHeldPackBytes and keeps nothing of it', async () => {
    const small = testStore(db, { chunkBytes: 100, maxHeldPackBytes: 1000 }).store;
    const before = Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM hold_pack_chunks')).rows[0]!.n);
    const input = newHold(alice);
    const e = await failure(small.create(input, bytes(5000, 300)));
    expect(e.code).toBe('HOLD_PACK_TOO_LARGE');
    expect(e.data).toMatchObject({ limit: 1000 });
    expect(Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM hold_pack_chunks')).rows[0]!.n)).toBe(before);
    expect(await small.list({ repo: input.repo })).toEqual([]);
    // Exactly at the limit is kept.
    expect((await small.create(input, bytes(1000, 300))).pack).toMatchObject({ bytes: 1000, chunks: 10 });
  });

  it('keeps no chunk when the pack stream fails, or when the row cannot be written after the chunks', async () => {
    const total = async () => Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM hold_pack_chunks')).rows[0]!.n);
    const before = await total();
    async function* broken(): AsyncGenerator<Uint8Array> {
      yield* bytes(3000);
      throw new Error('client went away');
    }
    await expect(store.create(newHold(alice), broken())).rejects.toThrow('client went away');
    expect(await total()).toBe(before);
    // PostgreSQL refuses NUL in text: the row fails after every chunk was written.
    await expect(store.create(newHold(alice, undefined, { repo: 'acme/\u0000' }), bytes(3000))).rejects.toMatchObject({ code: 'STORE_QUERY_FAILED' });
    expect(await total()).toBe(before);
  });

  it('survives an onTransition listener that throws', async () => {
    const throwing = testStore(db, {
      clock,
      onTransition: () => {
        throw new Error('listener bug');
      },
    }).store;
    const hold = await throwing.create(newHold(alice), undefined);
    expect(await throwing.approve(hold.id, actor(bob))).toMatchObject({ kind: 'approved' });
  });

  it('refuses malformed holds', async () => {
    expect((await failure(store.create({ ...newHold(alice), commands: [] }, undefined))).code).toBe('HOLD_BAD_INPUT');
    expect((await failure(store.create({ ...newHold(alice), repo: '' }, undefined))).code).toBe('HOLD_BAD_INPUT');
  });

  it('lists by state, pusher, repository, and what a reviewer may act on, newest first', async () => {
    const repo = `acme/list-${Date.now()}`;
    const forReviewers = await store.create(newHold(alice, undefined, { repo }), undefined);
    clock.advance(1000);
    const forSecurity = await store.create(newHold(bob, [{ groups: ['security'], count: 1 }], { repo }), undefined);
    clock.advance(1000);
    const byCarol = await store.create(newHold(carol, undefined, { repo }), undefined);
    clock.advance(1000);
    const ids = (hs: HoldRecord[]) => hs.map((h) => h.id);
    expect(ids(await store.list({ repo }))).toEqual([byCarol.id, forSecurity.id, forReviewers.id]);
    expect(ids(await store.list({ repo, pushedBy: bob }))).toEqual([forSecurity.id]);
    expect(ids(await store.list({ repo, limit: 1 }))).toEqual([byCarol.id]);
    expect(ids(await store.list({ repo, actionableBy: bob }))).toEqual([byCarol.id, forReviewers.id]);
    // carol is in both groups but did not push forSecurity… and pushed byCarol herself.
    expect(ids(await store.list({ repo, actionableBy: carol }))).toEqual([forSecurity.id, forReviewers.id]);
    expect(ids(await store.list({ repo, actionableBy: mallory }))).toEqual([]);
    // The same person under another account (same email) is the pusher still.
    expect(ids(await store.list({ repo, actionableBy: someone('bob-2', ['security'], 'BOB@example.com') }))).toEqual([]);
    await store.approve(forReviewers.id, actor(bob));
    expect(ids(await store.list({ repo, actionableBy: bob }))).toEqual([byCarol.id]);
    expect(ids(await store.list({ repo, state: 'approved' }))).toEqual([forReviewers.id]);
    expect(store.mayReview(byCarol, bob)).toBe(true);
    expect(store.mayReview(byCarol, carol)).toBe(false);
    await expect(store.list({ limit: 0 })).rejects.toMatchObject({ code: 'HOLD_BAD_INPUT' });
  });

  it('answers an unknown hold with 404', async () => {
    for (const outcome of [await store.approve('zzzzzzzzzzzz', actor(bob)), await store.reject('zzzzzzzzzzzz', actor(bob), { comment: 'no' }), await store.cancel('zzzzzzzzzzzz', actor(alice))]) {
      expect(outcome).toMatchObject({ kind: 'refused', status: 404, code: 'HOLD_NOT_FOUND' });
    }
    expect(await store.get('zzzzzzzzzzzz')).toBeUndefined();
  });

  it('approves with four eyes: never the pusher (nor their other account), only a reviewer in a required group', async () => {
    const hold = await store.create(newHold(carol), bytes(10));
    expect(await store.approve(hold.id, actor(carol))).toMatchObject({ kind: 'refused', status: 403, code: 'HOLD_SELF_APPROVAL' });
    const carolElsewhere = { ...someone('c.smith', ['reviewers'], 'Carol@Example.com'), issuer: 'https://other.example.com' };
    expect(await store.approve(hold.id, actor(carolElsewhere))).toMatchObject({ status: 403, code: 'HOLD_SELF_APPROVAL' });
    expect(await store.approve(hold.id, actor(mallory))).toMatchObject({ status: 403, code: 'HOLD_NOT_APPROVER' });
    expect(await store.approve(hold.id, actor(bob), { digest: 'f'.repeat(64) })).toMatchObject({ status: 409, code: 'HOLD_DIGEST_MISMATCH' });
    expect((await store.get(hold.id))!.approvals).toEqual([]);

    const by = actor(bob);
    const outcome = await store.approve(hold.id, by, { digest: hold.digest, comment: 'looks right' });
    expect(outcome).toMatchObject({ kind: 'approved', hold: { id: hold.id, state: { kind: 'approved', approvedAt: clock.current, attempts: 0, nextAttemptAt: clock.current } } });
    const approved = await store.get(hold.id);
    expect(approved!.approvals).toEqual([{ by: { sub: 'bob', issuer: ISSUER, email: 'bob@example.com', groups: ['reviewers'], agent: false }, at: clock.current, comment: 'looks right', digest: hold.digest }]);
    expect(await store.approve(hold.id, actor(carol))).toMatchObject({ status: 409, code: 'HOLD_NOT_PENDING' });
    expect(await store.approve(hold.id, actor(bob))).toMatchObject({ status: 409, code: 'HOLD_NOT_PENDING' });
    expect(transitions).toContainEqual({ id: hold.id, from: 'pending', to: 'approved' });

    const events = await listAuditEvents(db, { requestId: hold.pushId });
    expect(events.map((e) => e.kind)).toEqual(['hold.created', 'hold.approved']);
    expect(events[1]).toMatchObject({
      actorSub: 'bob',
      clientAddr: '192.0.2.7',
      outcome: 'approved',
      detail: { holdId: hold.id, from: 'pending', to: 'approved', via: by.requestId, comment: 'looks right', digest: hold.digest, missing: [] },
    });
  });

  it('counts a quorum in distinct people, per approvers entry, one vote each', async () => {
    const hold = await store.create(newHold(alice, [{ groups: ['reviewers', 'security'], count: 2 }, { groups: ['security'], count: 1 }]), undefined);
    // carol is in both groups: she counts once for the first entry, and meets the second.
    const first = await store.approve(hold.id, actor(carol));
    expect(first).toMatchObject({ kind: 'recorded', missing: [{ groups: ['reviewers', 'security'], count: 1 }] });
    expect(await store.approve(hold.id, actor(carol))).toMatchObject({ status: 409, code: 'HOLD_ALREADY_APPROVED' });
    expect((await store.get(hold.id))!.state.kind).toBe('pending');
    const second = await store.approve(hold.id, actor(bob));
    expect(second).toMatchObject({ kind: 'approved' });
    const events = await listAuditEvents(db, { requestId: hold.pushId });
    expect(events.map((e) => [e.kind, e.actorSub, e.outcome])).toEqual([
      ['hold.created', 'alice', 'pending'],
      ['hold.approval', 'carol', 'pending'],
      ['hold.approved', 'bob', 'approved'],
    ]);
    expect(events[1]!.detail).toMatchObject({ missing: [{ groups: ['reviewers', 'security'], count: 1 }], approvals: 1 });
  });

  it('rejects with a comment by an eligible reviewer, and deletes the pack', async () => {
    const hold = await store.create(newHold(alice), bytes(2500));
    expect(await store.reject(hold.id, actor(alice), { comment: 'mine' })).toMatchObject({ status: 403, code: 'HOLD_SELF_APPROVAL' });
    expect(await store.reject(hold.id, actor(mallory), { comment: 'nope' })).toMatchObject({ status: 403, code: 'HOLD_NOT_APPROVER' });
    expect(await store.reject(hold.id, actor(bob), { comment: '  ' })).toMatchObject({ status: 400, code: 'HOLD_COMMENT_REQUIRED' });
    const by = actor(bob);
    const outcome = await store.reject(hold.id, by, { comment: 'secrets in config.yml' });
    expect(outcome).toMatchObject({ kind: 'done', hold: { state: { kind: 'rejected', at: clock.current, by: { sub: 'bob' }, comment: 'secrets in config.yml' } } });
    expect((await store.get(hold.id))!.state).toEqual({
      kind: 'rejected',
      at: clock.current,
      by: { sub: 'bob', issuer: ISSUER, email: 'bob@example.com', groups: ['reviewers'], agent: false },
      comment: 'secrets in config.yml',
    });
    expect(await chunkCount(hold.id)).toBe(0);
    await expect(collect(store.readPack(hold))).rejects.toMatchObject({ code: 'HOLD_PACK_CORRUPT' });
    expect(await store.approve(hold.id, actor(carol))).toMatchObject({ status: 409, code: 'HOLD_NOT_PENDING' });
    const events = await listAuditEvents(db, { requestId: hold.pushId, kind: 'hold.rejected' });
    expect(events).toMatchObject([{ actorSub: 'bob', outcome: 'rejected', detail: { from: 'pending', to: 'rejected', comment: 'secrets in config.yml', via: by.requestId } }]);
  });

  it('cancels by the pusher only', async () => {
    const hold = await store.create(newHold(alice), bytes(100));
    expect(await store.cancel(hold.id, actor(bob))).toMatchObject({ status: 403, code: 'HOLD_NOT_PUSHER' });
    // Another account with the pusher's email is not the pusher's account.
    expect(await store.cancel(hold.id, actor(someone('alice-2', [], 'alice@example.com')))).toMatchObject({ status: 403, code: 'HOLD_NOT_PUSHER' });
    const outcome = await store.cancel(hold.id, actor(alice), { comment: 'pushed the wrong branch' });
    expect(outcome).toMatchObject({ kind: 'done', hold: { state: { kind: 'cancelled', at: clock.current, by: { sub: 'alice' } } } });
    expect(await chunkCount(hold.id)).toBe(0);
    expect(await store.cancel(hold.id, actor(alice))).toMatchObject({ status: 409, code: 'HOLD_NOT_PENDING' });
    expect(await listAuditEvents(db, { requestId: hold.pushId, kind: 'hold.cancelled' })).toMatchObject([
      { actorSub: 'alice', outcome: 'cancelled', detail: { comment: 'pushed the wrong branch' } },
    ]);
  });

  it('refuses and marks expired a hold whose time is up, whoever calls', async () => {
    const hold = await store.create(newHold(alice, undefined, { expiresAt: new Date(clock.current.getTime() + HOUR) }), bytes(100));
    clock.advance(HOUR);
    const by = actor(bob);
    expect(await store.approve(hold.id, by)).toMatchObject({ kind: 'refused', status: 409, code: 'HOLD_EXPIRED' });
    expect((await store.get(hold.id))!.state).toEqual({ kind: 'expired', at: clock.current });
    expect(await chunkCount(hold.id)).toBe(0);
    expect(await store.approve(hold.id, actor(carol))).toMatchObject({ status: 409, code: 'HOLD_EXPIRED' });
    expect(await listAuditEvents(db, { requestId: hold.pushId, kind: 'hold.expired' })).toMatchObject([
      { actorSub: null, outcome: 'expired', detail: { from: 'pending', to: 'expired', via: by.requestId } },
    ]);

    const forCancel = await store.create(newHold(alice, undefined, { expiresAt: new Date(clock.current.getTime() + 10) }), undefined);
    const forReject = await store.create(newHold(alice, undefined, { expiresAt: new Date(clock.current.getTime() + 10) }), undefined);
    clock.advance(10);
    expect(await store.cancel(forCancel.id, actor(alice))).toMatchObject({ status: 409, code: 'HOLD_EXPIRED' });
    expect(await store.reject(forReject.id, actor(bob), { comment: 'late' })).toMatchObject({ status: 409, code: 'HOLD_EXPIRED' });
    expect((await store.get(forReject.id))!.state.kind).toBe('expired');
  });

  it('expires every pending hold past its time with expireDue, and sweeps orphan chunks', async () => {
    const soon = await store.create(newHold(alice, undefined, { expiresAt: new Date(clock.current.getTime() + 5 * HOUR) }), bytes(50));
    const later = await store.create(newHold(alice, undefined, { expiresAt: new Date(clock.current.getTime() + 500 * HOUR) }), undefined);
    // Chunks of a hold whose row never committed (a crash between the two writes).
    await db.query(`INSERT INTO hold_pack_chunks (hold_id, seq, nonce, data, created_at) VALUES ('orphan0000aa', 0, $1, $2, $3)`, [
      Buffer.alloc(12),
      Buffer.alloc(32),
      clock.current,
    ]);
    const expired = await store.expireDue(new Date(clock.current.getTime() + 6 * HOUR));
    expect(expired.map((h) => h.id)).toContain(soon.id);
    expect(expired.map((h) => h.id)).not.toContain(later.id);
    expect((await store.get(soon.id))!.state.kind).toBe('expired');
    expect((await store.get(later.id))!.state.kind).toBe('pending');
    expect(await chunkCount(soon.id)).toBe(0);
    expect(await chunkCount('orphan0000aa')).toBe(0);
    expect(await listAuditEvents(db, { requestId: soon.pushId, kind: 'hold.expired' })).toMatchObject([{ actorSub: null, outcome: 'expired' }]);
    expect(await store.expireDue(new Date(clock.current.getTime() + 6 * HOUR))).toEqual([]);
  });

  it('keeps orphan chunks younger than an hour (a pack still being written)', async () => {
    await db.query(`INSERT INTO hold_pack_chunks (hold_id, seq, nonce, data, created_at) VALUES ('young0000aaa', 0, $1, $2, $3)`, [
      Buffer.alloc(12),
      Buffer.alloc(32),
      clock.current,
    ]);
    await store.expireDue(new Date(clock.current.getTime() + HOUR / 2));
    expect(await chunkCount('young0000aaa')).toBe(1);
    await db.query(`DELETE FROM hold_pack_chunks WHERE hold_id = 'young0000aaa'`);
  });
});
