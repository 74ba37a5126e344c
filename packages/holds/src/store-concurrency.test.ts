/**
 * The hold store under concurrency, as several replicas on one PostgreSQL see it: two Database
 * handles (two pools, as two gateway processes have) racing approvals, claims and expiries, and a
 * change committed through one handle seen by a watcher on the other. On PGlite (one process, one
 * connection) the same races run on one handle, where its transaction mutex serialises them.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { listAuditEvents, migrate, type Database } from '@pushgate/store';
import { testDatabases } from '@pushgate/store/testing';
import { actor, bytes, newHold, someone, testKey, testStore, until, TestClock } from './store.test-support';
import type { HoldStore } from './types';

const backends = await testDatabases();

const alice = someone('alice', ['dev']);
const reviewers = Array.from({ length: 4 }, (_, i) => someone(`reviewer-${i}`, ['reviewers']));
const MINUTE = 60_000;

describe.each(backends)('hold store racing on $name', (backend) => {
  let a: HoldStore;
  let b: HoldStore;
  let dbA: Database;

  beforeAll(async () => {
    dbA = await backend.open();
    await migrate(dbA);
    // Two replicas share the key and the clock; on PGlite both stores use the one handle.
    const dbB = backend.name === 'postgres' ? await backend.open() : dbA;
    const key = testKey();
    const clock = new TestClock();
    a = testStore(dbA, { key, clock }).store;
    b = testStore(dbB, { key, clock }).store;
  });
  afterAll(() => backend.cleanup());

  it('reaches a quorum exactly once when the last two approvals race', async () => {
    for (let round = 0; round < 8; round++) {
      const hold = await a.create(newHold(alice, [{ groups: ['reviewers'], count: 2 }]), undefined);
      const outcomes = await Promise.all([a.approve(hold.id, actor(reviewers[0]!)), b.approve(hold.id, actor(reviewers[1]!))]);
      expect(outcomes.map((o) => o.kind).sort()).toEqual(['approved', 'recorded']);
      const events = await listAuditEvents(dbA, { requestId: hold.pushId });
      expect(events.map((e) => e.kind)).toEqual(['hold.created', 'hold.approval', 'hold.approved']);
      expect((await a.get(hold.id))!.approvals).toHaveLength(2);
    }
  });

  it('lets only one of two racing approvals decide a quorum of one', async () => {
    for (let round = 0; round < 8; round++) {
      const hold = await a.create(newHold(alice), undefined);
      const outcomes = await Promise.all([a.approve(hold.id, actor(reviewers[2]!)), b.approve(hold.id, actor(reviewers[3]!))]);
      expect(outcomes.map((o) => (o.kind === 'refused' ? o.code : o.kind)).sort()).toEqual(['HOLD_NOT_PENDING', 'approved']);
      expect((await listAuditEvents(dbA, { requestId: hold.pushId, kind: 'hold.approved' })).length).toBe(1);
    }
    // Leave nothing approved for the claim race below.
    for (let c = await a.claimRelay('cleanup', MINUTE); c !== undefined; c = await a.claimRelay('cleanup', MINUTE)) {
      await a.finishRelay(c.hold.id, 'cleanup', { kind: 'upstream-rejected', message: 'cleanup' });
    }
  });

  it('gives each approved hold to exactly one of 20 racing claims', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const hold = await a.create(newHold(alice), bytes(100));
      await a.approve(hold.id, actor(reviewers[0]!));
      ids.push(hold.id);
    }
    const claims = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).claimRelay(`replica-${i}`, 10 * MINUTE)));
    const claimed = claims.flatMap((c) => (c === undefined ? [] : [c.hold.id]));
    expect(claimed.sort()).toEqual([...ids].sort());
    for (const id of ids) {
      expect((await a.get(id))!.state).toMatchObject({ kind: 'relaying', attempts: 1 });
    }
  });

  it('expires each overdue hold once when two replicas sweep together', async () => {
    const holds = await Promise.all(Array.from({ length: 6 }, () => a.create(newHold(alice, undefined, { expiresAt: new Date('2026-03-01T09:00:00.000Z') }), undefined)));
    const [fromA, fromB] = await Promise.all([a.expireDue(), b.expireDue()]);
    expect([...fromA, ...fromB].map((h) => h.id).sort()).toEqual(holds.map((h) => h.id).sort());
    for (const h of holds) expect((await listAuditEvents(dbA, { requestId: h.pushId, kind: 'hold.expired' })).length).toBe(1);
  });

  it('tells a watcher of a change committed through another handle', async () => {
    const seen: string[] = [];
    const stop = await a.watch((id) => seen.push(id));
    try {
      const hold = await b.create(newHold(alice), undefined);
      await until(() => seen.includes(hold.id), 'the creation to be notified');
      const before = seen.length;
      await b.approve(hold.id, actor(reviewers[1]!));
      await until(() => seen.length > before, 'the approval to be notified');
      expect(seen.slice(before)).toContain(hold.id);
    } finally {
      await stop();
    }
    // Stopped: later changes are not delivered to it. Another watcher started after the change
    // proves the notification went out (no fixed wait).
    const after: string[] = [];
    const stopAfter = await a.watch((id) => after.push(id));
    const later = await b.create(newHold(alice), undefined);
    await until(() => after.includes(later.id), 'the second watcher to be notified');
    await stopAfter();
    expect(seen).not.toContain(later.id);
  });
});
