/**
 * The relay side of the hold store on every backend: claiming an approved hold with an owner and a
 * lease, renewing it, giving it back to retry later, reclaiming an expired lease, and finishing
 * with the upstream's outcome — each guarded by state and owner, each with its audit event.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { listAuditEvents, migrate, type Database } from '@pushgate/store';
import { testDatabases } from '@pushgate/store/testing';
import { actor, bytes, collect, newHold, oid, someone, testStore, type TestClock } from './store.test-support';
import type { HoldRecord, HoldStore, RelayReport } from './types';

const backends = await testDatabases();

const alice = someone('alice', ['dev']);
const bob = someone('bob', ['reviewers']);
const MINUTE = 60_000;
const REPORT: RelayReport = { unpack: 'ok', refs: [{ ref: 'refs/heads/main', status: 'ok' }, { ref: 'refs/tags/v1', status: 'ok' }], messages: ['remote: done'] };

describe.each(backends)('hold relays on $name', (backend) => {
  let db: Database;
  let store: HoldStore;
  let clock: TestClock;
  let transitions: ReturnType<typeof testStore>['transitions'];

  beforeAll(async () => {
    db = await backend.open();
    await migrate(db);
    ({ store, clock, transitions } = testStore(db, { chunkBytes: 512 }));
  });
  afterAll(() => backend.cleanup());

  /** Drains every relay already due, so each test starts with none. */
  const drain = async () => {
    for (let c = await store.claimRelay('drain', MINUTE); c !== undefined; c = await store.claimRelay('drain', MINUTE)) {
      await store.finishRelay(c.hold.id, 'drain', { kind: 'upstream-rejected', message: 'drained by the test' });
    }
  };

  const approvedHold = async (): Promise<HoldRecord> => {
    const hold = await store.create(newHold(alice), bytes(2000));
    const outcome = await store.approve(hold.id, actor(bob));
    if (outcome.kind !== 'approved') throw new Error(`not approved: ${outcome.kind}`);
    return outcome.hold;
  };

  it('claims nothing when no hold is approved', async () => {
    await drain();
    await store.create(newHold(alice), undefined);
    expect(await store.claimRelay('replica-a', MINUTE)).toBeUndefined();
  });

  it('claims an approved hold with an owner and a lease, relays it once, and records the outcome', async () => {
    await drain();
    const hold = await approvedHold();
    const claim = await store.claimRelay('replica-a', MINUTE);
    expect(claim).toMatchObject({
      reclaimed: false,
      hold: { id: hold.id, state: { kind: 'relaying', owner: 'replica-a', attempts: 1, leaseUntil: new Date(clock.current.getTime() + MINUTE) } },
    });
    expect(await store.claimRelay('replica-b', MINUTE)).toBeUndefined();
    expect(await collect(store.readPack(claim!.hold))).toEqual(await collect(bytes(2000)));

    clock.advance(30_000);
    expect(await store.renewLease(hold.id, 'replica-b', MINUTE)).toBe(false);
    expect(await store.renewLease(hold.id, 'replica-a', MINUTE)).toBe(true);
    expect((await store.get(hold.id))!.state).toMatchObject({ kind: 'relaying', leaseUntil: new Date(clock.current.getTime() + MINUTE) });

    expect(await store.finishRelay(hold.id, 'replica-b', { kind: 'relayed', report: REPORT })).toBe(false);
    expect(await store.finishRelay(hold.id, 'replica-a', { kind: 'relayed', report: REPORT })).toBe(true);
    const done = await store.get(hold.id);
    expect(done!.state).toEqual({ kind: 'relayed', approvedAt: hold.state.kind === 'approved' ? hold.state.approvedAt : undefined, finishedAt: clock.current, report: REPORT });
    expect(Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM hold_pack_chunks WHERE hold_id = $1', [hold.id])).rows[0]!.n)).toBe(0);
    expect(await store.finishRelay(hold.id, 'replica-a', { kind: 'relayed', report: REPORT })).toBe(false);
    expect(await store.renewLease(hold.id, 'replica-a', MINUTE)).toBe(false);
    expect(transitions.filter((t) => t.id === hold.id).map((t) => `${t.from}→${t.to}`)).toEqual(['undefined→pending', 'pending→approved', 'approved→relaying', 'relaying→relayed']);

    const events = await listAuditEvents(db, { requestId: hold.pushId });
    expect(events.map((e) => [e.kind, e.actorSub, e.outcome])).toEqual([
      ['hold.created', 'alice', 'pending'],
      ['hold.approved', 'bob', 'approved'],
      ['hold.relaying', null, 'relaying'],
      ['hold.relayed', null, 'relayed'],
    ]);
    expect(events[2]!.detail).toMatchObject({ from: 'approved', to: 'relaying', owner: 'replica-a', attempt: 1, reclaimed: false });
    expect(events[3]!.detail).toMatchObject({ from: 'relaying', to: 'relayed', owner: 'replica-a', report: REPORT });
  });

  it('gives a relay back to retry later, with backoff, counting attempts', async () => {
    await drain();
    const hold = await approvedHold();
    const first = await store.claimRelay('replica-a', MINUTE);
    expect(first?.hold.id).toBe(hold.id);
    expect(await store.retryLater(hold.id, 'replica-b', 'nope', 1000)).toBe(false);
    expect(await store.retryLater(hold.id, 'replica-a', 'UPSTREAM_UNREACHABLE: connection refused', 10_000)).toBe(true);
    expect((await store.get(hold.id))!.state).toMatchObject({
      kind: 'approved',
      attempts: 1,
      nextAttemptAt: new Date(clock.current.getTime() + 10_000),
      lastError: 'UPSTREAM_UNREACHABLE: connection refused',
    });
    expect(await store.claimRelay('replica-a', MINUTE)).toBeUndefined();
    clock.advance(10_000);
    const second = await store.claimRelay('replica-b', MINUTE);
    expect(second).toMatchObject({ reclaimed: false, hold: { id: hold.id, state: { kind: 'relaying', owner: 'replica-b', attempts: 2 } } });
    expect(await store.finishRelay(hold.id, 'replica-b', { kind: 'stale', moved: [{ ref: 'refs/heads/main', expected: oid('a'), actual: oid('e') }] })).toBe(true);
    expect((await store.get(hold.id))!.state).toMatchObject({ kind: 'stale', moved: [{ ref: 'refs/heads/main', expected: oid('a'), actual: oid('e') }] });
    const kinds = (await listAuditEvents(db, { requestId: hold.pushId })).map((e) => e.kind);
    expect(kinds).toEqual(['hold.created', 'hold.approved', 'hold.relaying', 'hold.retry', 'hold.relaying', 'hold.stale']);
  });

  it('reclaims a relay whose lease expired, and the old owner can no longer finish it', async () => {
    await drain();
    const hold = await approvedHold();
    await store.claimRelay('crashed', MINUTE);
    clock.advance(MINUTE - 1);
    expect(await store.claimRelay('replica-b', MINUTE)).toBeUndefined();
    clock.advance(2);
    const claim = await store.claimRelay('replica-b', MINUTE);
    expect(claim).toMatchObject({ reclaimed: true, hold: { id: hold.id, state: { kind: 'relaying', owner: 'replica-b', attempts: 2 } } });
    expect(await store.renewLease(hold.id, 'crashed', MINUTE)).toBe(false);
    expect(await store.finishRelay(hold.id, 'crashed', { kind: 'relayed', report: REPORT })).toBe(false);
    expect(await store.retryLater(hold.id, 'crashed', 'x', 1)).toBe(false);
    expect(
      await store.finishRelay(hold.id, 'replica-b', { kind: 'upstream-rejected', message: 'pre-receive hook declined', report: { ...REPORT, refs: [{ ref: 'refs/heads/main', status: 'ng', reason: 'hook declined' }] } }),
    ).toBe(true);
    expect((await store.get(hold.id))!.state).toMatchObject({ kind: 'upstream-rejected', message: 'pre-receive hook declined', report: { refs: [{ status: 'ng' }] } });
    const relaying = await listAuditEvents(db, { requestId: hold.pushId, kind: 'hold.relaying' });
    expect(relaying.map((e) => e.detail)).toMatchObject([
      { from: 'approved', owner: 'crashed', reclaimed: false },
      { from: 'relaying', owner: 'replica-b', reclaimed: true, attempt: 2 },
    ]);
  });

  it('claims the oldest approval first', async () => {
    await drain();
    const first = await approvedHold();
    clock.advance(1000);
    const second = await approvedHold();
    expect((await store.claimRelay('r', MINUTE))?.hold.id).toBe(first.id);
    expect((await store.claimRelay('r', MINUTE))?.hold.id).toBe(second.id);
    await drain();
  });

  it('refuses, in the database, any change of state the lifecycle does not have', async () => {
    await drain();
    const pending = await store.create(newHold(alice), undefined);
    const bad = (sql: string, params: unknown[]) => expect(db.query(sql, params)).rejects.toMatchObject({ code: 'STORE_QUERY_FAILED', data: { sqlState: 'PGH01' } });
    await bad(`UPDATE holds SET state = 'relaying', relay_owner = 'x', lease_until = now(), approved_at = now(), attempts = 1 WHERE id = $1`, [pending.id]);
    await bad(`UPDATE holds SET digest = $2 WHERE id = $1`, [pending.id, 'f'.repeat(64)]);
    await bad(`UPDATE holds SET commands = '[{"ref":"refs/heads/evil"}]'::jsonb WHERE id = $1`, [pending.id]);
    const hold = await approvedHold();
    const claim = await store.claimRelay('r', MINUTE);
    await store.finishRelay(claim!.hold.id, 'r', { kind: 'relayed', report: REPORT });
    await bad(`UPDATE holds SET state = 'approved', finished_at = NULL, outcome = NULL, next_attempt_at = now() WHERE id = $1`, [hold.id]);
    await bad(`UPDATE holds SET last_error = 'x' WHERE id = $1`, [hold.id]);
    // A state without the columns it needs fails the state check.
    await expect(db.query(`UPDATE holds SET state = 'approved' WHERE id = $1`, [pending.id])).rejects.toMatchObject({
      data: { sqlState: '23514', constraint: 'holds_state_columns' },
    });
  });
});
