/**
 * Held pushes end to end: the real git client pushes through the gateway to a real upstream
 * (`git http-backend`), the policy in the gateway's config holds it, reviewers act on it over the
 * HTTP API with tokens of their own, and the gateway relays the stored push itself. Each scenario
 * has its own upstream repository, so the upstream's request log says exactly what reached it for
 * that push. On PGlite and PostgreSQL; the two-replica race on PostgreSQL only.
 *
 * Who is who: HOLD_TEST_PEOPLE in ./testing/holds.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { listAuditEvents, type Database } from '@pushgate/store';
import { testDatabases, type TestDatabase } from '@pushgate/store/testing';
import type { FaultAnswer, StartedGateway } from '@pushgate/testkit';
import {
  errorCode,
  gatewayRemote,
  holdOf,
  listedIds,
  pushHeld,
  receivePackPosts,
  receivePackOutcomes,
  timesSetTo,
  waitFor,
  waitForState,
  HOLD_TEST_POLICY,
  HOLD_TEST_RELAY,
  holdKey,
  startHoldsWorld,
  type HoldsWorld,
} from './testing/holds';

const backends = await testDatabases();

/** The kinds of the audit events of one push, oldest first. */
async function holdEventKinds(db: Database, pushId: string): Promise<string[]> {
  return (await listAuditEvents(db, { requestId: pushId, limit: 1000 })).map((e) => e.kind).filter((k) => k.startsWith('hold.'));
}

/** How many encrypted pack chunks the store keeps for a hold. */
async function packChunkRows(db: Database, holdId: string): Promise<number> {
  const rows = await db.query<{ n: string | number }>('SELECT count(*) AS n FROM hold_pack_chunks WHERE hold_id = $1', [holdId]);
  return Number(rows.rows[0]?.n ?? 0);
}

const requestId = (what: string) => `${what}-${randomBytes(6).toString('hex')}`;

describe.each(backends)('holds on $name', (backend: TestDatabase) => {
  let w: HoldsWorld;
  /** What the upstream answers git-receive-pack POSTs to one repository with (the upstream-down test). */
  const fault: { repo?: string; answer?: FaultAnswer } = {};

  beforeAll(async () => {
    w = await startHoldsWorld({
      db: backend,
      fault: (req) => (req.method === 'POST' && fault.repo !== undefined && req.path === `/${fault.repo}/git-receive-pack` ? fault.answer : undefined),
      config: { policy: HOLD_TEST_POLICY, holds: { relay: HOLD_TEST_RELAY } },
      env: { PUSHGATE_HOLD_KEY: holdKey() },
    });
  }, 120_000);
  afterAll(async () => {
    await w?.h.stop();
    await backend.cleanup();
  });

  it('holds a push, lists it for reviewers, and relays it once approved: the upstream gets the pushed commit', async () => {
    const { repo, work, base } = await w.repo('approve');
    const tip = await w.h.git.commitFiles(work, { 'deploy/app.yaml': 'replicas: 3\n' }, 'scale up');
    const pushId = requestId('push');
    const held = await pushHeld(w.h.git, work, gatewayRemote(w.h.gateway.url, repo, w.tokens.alice), ['HEAD:refs/heads/main'], pushId);
    expect(held.code).not.toBe(0);
    expect(held.stderr).toContain(`held for approval (${held.id})`);
    expect(held.stderr).toContain(`http://pushgate.test/review/holds/${held.id}`);
    expect(held.stderr).toContain('protected-deploy');
    expect(held.stderr).toContain('release-managers');
    expect(await w.ref(repo)).toBe(base);
    expect(receivePackPosts(w.h.upstream, repo)).toEqual([]);

    const pending = await w.api('rita').hold(held.id);
    expect(pending.state).toBe('pending');
    expect(pending.pushId).toBe(pushId);
    expect(pending.repo).toBe(repo);
    expect(listedIds(await w.api('rita').list('state=pending'))).toContain(held.id);
    // Not the pusher's to approve, nor someone's in no approver group.
    expect(listedIds(await w.api('olga').list('state=pending'))).not.toContain(held.id);
    expect(listedIds(await w.api('alice').list('state=pending'))).not.toContain(held.id);

    const approved = await w.api('rita').approve(held.id, { comment: 'ship it' });
    expect(approved.status).toBe(200);
    expect(['approved', 'relaying', 'relayed']).toContain(holdOf(approved).state);
    const relayed = await waitForState(w.api('alice'), held.id, ['relayed', 'stale', 'upstream-rejected']);
    expect(relayed.state).toBe('relayed');
    expect(await w.ref(repo)).toBe(tip);
    expect(await receivePackOutcomes(w.h.upstream, repo)).toEqual(['200 served']);
    expect(await timesSetTo(w.h.git, w.h.upstream, repo, 'refs/heads/main', tip)).toBe(1);

    // Every transition is an event of the push, in order.
    await w.h.inProcess!.idle();
    const kinds = await holdEventKinds(w.h.inProcess!.database, pushId);
    expect(kinds.filter((k) => ['hold.created', 'hold.approved', 'hold.relaying', 'hold.relayed'].includes(k))).toEqual([
      'hold.created',
      'hold.approved',
      'hold.relaying',
      'hold.relayed',
    ]);
    // Approving again finds nothing pending.
    const again = await w.api('ravi').approve(held.id);
    expect(again.status).toBe(409);
    expect(errorCode(again)).toBe('HOLD_NOT_PENDING');
  });

  it('rejects a held push with the reviewer\'s comment: the upstream is untouched and the stored pack is deleted', async () => {
    const { repo, work, base } = await w.repo('reject');
    await w.h.git.commitFiles(work, { 'deploy/app.yaml': 'replicas: 0\n' }, 'scale to zero');
    const held = await pushHeld(w.h.git, work, gatewayRemote(w.h.gateway.url, repo, w.tokens.alice), ['HEAD:refs/heads/main']);
    expect(await packChunkRows(w.h.inProcess!.database, held.id)).toBeGreaterThan(0);

    const outsider = await w.api('olga').reject(held.id, { comment: 'no' });
    expect(outsider.status).toBe(403);
    expect(errorCode(outsider)).toBe('HOLD_NOT_APPROVER');

    const rejected = await w.api('rita').reject(held.id, { comment: 'not during the freeze' });
    expect(rejected.status).toBe(200);
    const hold = await w.api('alice').hold(held.id);
    expect(hold).toEqual(expect.objectContaining({ state: 'rejected', comment: 'not during the freeze', by: expect.objectContaining({ sub: 'rita' }) }));
    expect(await packChunkRows(w.h.inProcess!.database, held.id)).toBe(0);

    const late = await w.api('ravi').approve(held.id);
    expect(late.status).toBe(409);
    expect(errorCode(late)).toBe('HOLD_NOT_PENDING');
    expect(await w.ref(repo)).toBe(base);
    expect(receivePackPosts(w.h.upstream, repo)).toEqual([]);
    await w.h.inProcess!.idle();
    expect(await holdEventKinds(w.h.inProcess!.database, hold.pushId)).toEqual(expect.arrayContaining(['hold.created', 'hold.rejected']));
  });

  it('lets only the pusher cancel a held push', async () => {
    const { repo, work, base } = await w.repo('cancel');
    await w.h.git.commitFiles(work, { 'deploy/app.yaml': 'replicas: 2\n' }, 'scale');
    const held = await pushHeld(w.h.git, work, gatewayRemote(w.h.gateway.url, repo, w.tokens.alice), ['HEAD:refs/heads/main']);

    const byReviewer = await w.api('rita').cancel(held.id);
    expect(byReviewer.status).toBe(403);
    expect(errorCode(byReviewer)).toBe('HOLD_NOT_PUSHER');
    expect((await w.api('alice').hold(held.id)).state).toBe('pending');

    const cancelled = await w.api('alice').cancel(held.id, { comment: 'pushed the wrong branch' });
    expect(cancelled.status).toBe(200);
    const hold = await w.api('alice').hold(held.id);
    expect(hold).toEqual(expect.objectContaining({ state: 'cancelled', by: expect.objectContaining({ sub: 'alice' }) }));
    const late = await w.api('rita').approve(held.id);
    expect(late.status).toBe(409);
    expect(await w.ref(repo)).toBe(base);
    expect(receivePackPosts(w.h.upstream, repo)).toEqual([]);
  });

  it('refuses self-approval, even by a pusher in the approver group, and approvals from outside it', async () => {
    const { repo, work, base } = await w.repo('self');
    const tip = await w.h.git.commitFiles(work, { 'deploy/app.yaml': 'replicas: 5\n' }, 'scale more');
    const held = await pushHeld(w.h.git, work, gatewayRemote(w.h.gateway.url, repo, w.tokens.carol), ['HEAD:refs/heads/main']);

    const self = await w.api('carol').approve(held.id);
    expect(self.status).toBe(403);
    expect(errorCode(self)).toBe('HOLD_SELF_APPROVAL');
    const selfReject = await w.api('carol').reject(held.id, { comment: 'hmm' });
    expect(selfReject.status).toBe(403);
    expect(errorCode(selfReject)).toBe('HOLD_SELF_APPROVAL');
    expect(listedIds(await w.api('carol').list('state=pending'))).not.toContain(held.id);
    const outsider = await w.api('olga').approve(held.id);
    expect(outsider.status).toBe(403);
    expect(errorCode(outsider)).toBe('HOLD_NOT_APPROVER');
    const missing = await w.api('rita').approve('doesnotexist00');
    expect(missing.status).toBe(404);
    expect(errorCode(missing)).toBe('HOLD_NOT_FOUND');
    expect((await w.api('rita').hold(held.id)).state).toBe('pending');
    expect(await w.ref(repo)).toBe(base);

    expect((await w.api('rita').approve(held.id)).status).toBe(200);
    expect((await waitForState(w.api('carol'), held.id, ['relayed', 'stale', 'upstream-rejected'])).state).toBe('relayed');
    expect(await w.ref(repo)).toBe(tip);
  });

  it('needs two distinct people for a quorum of two: one person in both groups counts once, and twice is refused', async () => {
    const { repo, work, base } = await w.repo('quorum');
    const tip = await w.h.git.commitFiles(work, { 'auth/policy.txt': 'allow: everyone\n' }, 'open up');
    const held = await pushHeld(w.h.git, work, gatewayRemote(w.h.gateway.url, repo, w.tokens.alice), ['HEAD:refs/heads/main']);
    const pending = await w.api('bea').hold(held.id);
    expect(pending.state).toBe('pending');

    const first = await w.api('bea').approve(held.id, { digest: pending.digest });
    expect(first.status).toBe(200);
    const afterFirst = await w.api('alice').hold(held.id);
    expect(afterFirst.state).toBe('pending');
    expect(afterFirst.approvals.map((a) => a.by.sub)).toEqual(['bea']);

    const twice = await w.api('bea').approve(held.id);
    expect(twice.status).toBe(409);
    expect(errorCode(twice)).toBe('HOLD_ALREADY_APPROVED');
    // An approval binds to the exact push the reviewer saw.
    const otherPush = await w.api('sam').approve(held.id, { digest: 'f'.repeat(64) });
    expect(otherPush.status).toBe(409);
    expect(errorCode(otherPush)).toBe('HOLD_DIGEST_MISMATCH');
    expect((await w.api('alice').hold(held.id)).state).toBe('pending');
    expect(await w.ref(repo)).toBe(base);

    const second = await w.api('sam').approve(held.id, { digest: pending.digest });
    expect(second.status).toBe(200);
    const relayed = await waitForState(w.api('alice'), held.id, ['relayed', 'stale', 'upstream-rejected']);
    expect(relayed.state).toBe('relayed');
    expect(relayed.approvals.map((a) => a.by.sub).sort()).toEqual(['bea', 'sam']);
    expect(await w.ref(repo)).toBe(tip);
    // The first approval is recorded as one; the second, which meets the quorum, approves.
    await w.h.inProcess!.idle();
    const kinds = await holdEventKinds(w.h.inProcess!.database, relayed.pushId);
    expect(kinds.filter((k) => k === 'hold.approval' || k === 'hold.approved')).toEqual(['hold.approval', 'hold.approved']);
  });

  it('marks a held push stale when the upstream\'s ref moved meanwhile, and overwrites nothing', async () => {
    const { repo, work, base } = await w.repo('stale');
    const tip = await w.h.git.commitFiles(work, { 'deploy/app.yaml': 'replicas: 4\n' }, 'scale');
    const held = await pushHeld(w.h.git, work, gatewayRemote(w.h.gateway.url, repo, w.tokens.alice), ['HEAD:refs/heads/main']);

    // Someone pushes straight to the upstream.
    const other = join(w.h.git.dir, 'work', 'stale-direct');
    await w.h.git.gitOk(['clone', '-q', w.h.upstream.repoUrl(repo, { username: 'x-access-token', password: w.h.secret }), other]);
    const direct = await w.h.git.commitFiles(other, { 'src/app.txt': 'v2\n' }, 'hotfix');
    await w.h.git.gitOk(['push', '-q', 'origin', 'HEAD:refs/heads/main'], { cwd: other });
    expect(await w.ref(repo)).toBe(direct);

    expect((await w.api('rita').approve(held.id)).status).toBe(200);
    const stale = await waitForState(w.api('alice'), held.id, ['relayed', 'stale', 'upstream-rejected']);
    expect(stale.state).toBe('stale');
    expect(stale.moved).toEqual([{ ref: 'refs/heads/main', expected: base, actual: direct }]);
    expect(await w.ref(repo)).toBe(direct);
    expect(await timesSetTo(w.h.git, w.h.upstream, repo, 'refs/heads/main', tip)).toBe(0);
    await w.h.inProcess!.idle();
    expect(await holdEventKinds(w.h.inProcess!.database, stale.pushId)).toEqual(expect.arrayContaining(['hold.created', 'hold.approved', 'hold.stale']));
  });

  it('keeps an approved push while the upstream is down and relays it exactly once when it is back', async () => {
    const { repo, work, base } = await w.repo('down');
    const tip = await w.h.git.commitFiles(work, { 'deploy/app.yaml': 'replicas: 6\n' }, 'scale');
    const held = await pushHeld(w.h.git, work, gatewayRemote(w.h.gateway.url, repo, w.tokens.alice), ['HEAD:refs/heads/main']);
    fault.repo = repo;
    try {
      // First the upstream answers 503 before reading anything …
      fault.answer = 503;
      expect((await w.api('rita').approve(held.id)).status).toBe(200);
      await waitFor('a refused relay', () => (receivePackPosts(w.h.upstream, repo).length >= 1 ? true : undefined));
      const waiting = await waitFor('the hold back in approved after a failed attempt', async () => {
        const h = await w.api('alice').hold(held.id);
        return h.state === 'approved' && (h.attempts ?? 0) >= 1 ? h : undefined;
      });
      expect(waiting.attempts).toBeGreaterThanOrEqual(1);
      expect(await w.ref(repo)).toBe(base);

      // … then it drops the connection (the gateway cannot tell what arrived: it re-reads the refs).
      const refused = receivePackPosts(w.h.upstream, repo).length;
      fault.answer = 'close';
      await waitFor('a dropped relay', () => (receivePackPosts(w.h.upstream, repo).length > refused ? true : undefined));
      // Every POST so far was one failed attempt: once all are counted, the dropped one was given back too.
      const attempted = receivePackPosts(w.h.upstream, repo).length;
      const stillWaiting = await waitFor('the hold still approved after the dropped attempt', async () => {
        const h = await w.api('alice').hold(held.id);
        return h.state === 'approved' && (h.attempts ?? 0) >= attempted ? h : undefined;
      });
      expect(stillWaiting.attempts).toBeGreaterThanOrEqual(2);
      expect(await w.ref(repo)).toBe(base);
    } finally {
      fault.answer = undefined;
    }
    const relayed = await waitForState(w.api('alice'), held.id, ['relayed', 'stale', 'upstream-rejected']);
    expect(relayed.state).toBe('relayed');
    expect(await w.ref(repo)).toBe(tip);
    const posts = await receivePackOutcomes(w.h.upstream, repo);
    expect(posts).toEqual(expect.arrayContaining(['fault 503', 'fault close']));
    expect(posts.filter((p) => !p.startsWith('fault'))).toEqual(['200 served']);
    expect(await timesSetTo(w.h.git, w.h.upstream, repo, 'refs/heads/main', tip)).toBe(1);
  });
});

describe.each(backends)('expiring holds on $name', (backend: TestDatabase) => {
  let w: HoldsWorld;
  beforeAll(async () => {
    w = await startHoldsWorld({ db: backend, config: { policy: HOLD_TEST_POLICY, holds: { ttl: '2s', relay: HOLD_TEST_RELAY } }, env: { PUSHGATE_HOLD_KEY: holdKey() } });
  }, 120_000);
  afterAll(async () => {
    await w?.h.stop();
    await backend.cleanup();
  });

  it('expires a pending hold after its TTL; an expired hold cannot be approved', async () => {
    const { repo, work, base } = await w.repo('expire');
    await w.h.git.commitFiles(work, { 'deploy/app.yaml': 'replicas: 9\n' }, 'scale');
    const first = await pushHeld(w.h.git, work, gatewayRemote(w.h.gateway.url, repo, w.tokens.alice), ['HEAD:refs/heads/main']);
    const second = await pushHeld(w.h.git, work, gatewayRemote(w.h.gateway.url, repo, w.tokens.alice), ['HEAD:refs/heads/other']);

    // The sweeper expires it on its own …
    const expired = await waitForState(w.api('rita'), first.id, ['expired']);
    expect(expired.state).toBe('expired');
    const late = await w.api('rita').approve(first.id);
    expect(late.status).toBe(409);

    // … and an approval after the TTL finds it expired, whether or not the sweeper got there first.
    const pending = await w.api('rita').hold(second.id);
    if (pending.state === 'pending') {
      const expiresAt = Date.parse(String(pending.expiresAt));
      await waitFor('the second hold\'s TTL to pass', () => (Date.now() > expiresAt ? true : undefined));
    }
    const tooLate = await w.api('rita').approve(second.id);
    expect(tooLate.status).toBe(409);
    expect(['HOLD_EXPIRED', 'HOLD_NOT_PENDING']).toContain(errorCode(tooLate));
    expect((await w.api('rita').hold(second.id)).state).toBe('expired');

    expect(await w.ref(repo)).toBe(base);
    expect(await w.ref(repo, 'refs/heads/other')).toBeUndefined();
    expect(receivePackPosts(w.h.upstream, repo)).toEqual([]);
    await w.h.inProcess!.idle();
    expect(await holdEventKinds(w.h.inProcess!.database, expired.pushId)).toEqual(expect.arrayContaining(['hold.created', 'hold.expired']));
  });
});

const postgres = backends.filter((b) => b.name === 'postgres');

describe.each(postgres)('two gateway processes on one $name database', (backend: TestDatabase) => {
  let w: HoldsWorld;
  let replica: StartedGateway;
  beforeAll(async () => {
    w = await startHoldsWorld({ mode: 'child', db: backend, config: { policy: HOLD_TEST_POLICY, holds: { relay: HOLD_TEST_RELAY } }, env: { PUSHGATE_HOLD_KEY: holdKey() } });
    replica = await w.h.startGateway();
  }, 120_000);
  afterAll(async () => {
    await w?.h.stop();
    await backend.cleanup();
  });

  it('relays each hold exactly once while approvals race on both replicas', async () => {
    const gateways = [w.h.gateway.url, replica.url];
    const cases = await Promise.all(
      [0, 1, 2, 3, 4, 5].map(async (i) => {
        const { repo, work } = await w.repo(`race-${i}`);
        // Even cases need one release manager, odd ones two people (a release manager and security).
        const path = i % 2 === 0 ? 'deploy/app.yaml' : 'auth/policy.txt';
        const tip = await w.h.git.commitFiles(work, { [path]: `change ${i}\n` }, `change ${i}`);
        const held = await pushHeld(w.h.git, work, gatewayRemote(gateways[i % 2]!, repo, w.tokens.alice), ['HEAD:refs/heads/main']);
        return { i, repo, tip, id: held.id };
      }),
    );
    const answers = await Promise.all(
      cases.map(async (c) => {
        const [a, b] = await Promise.all([w.api('rita', gateways[0]).approve(c.id), w.api(c.i % 2 === 0 ? 'ravi' : 'sam', gateways[1]).approve(c.id)]);
        return [a, b] as const;
      }),
    );
    for (const c of cases) {
      const [a, b] = answers[c.i]!;
      if (c.i % 2 === 0) {
        // One approval decides; the other finds it decided.
        expect([a.status, b.status].sort()).toEqual([200, 409]);
        expect(errorCode(a.status === 409 ? a : b)).toBe('HOLD_NOT_PENDING');
      } else {
        // Both count: neither may be lost to the other.
        expect([a.status, b.status]).toEqual([200, 200]);
      }
    }
    for (const c of cases) {
      const relayed = await waitForState(w.api('alice', gateways[c.i % 2]), c.id, ['relayed', 'stale', 'upstream-rejected']);
      expect(relayed.state).toBe('relayed');
      expect(await w.ref(c.repo)).toBe(c.tip);
    }
    for (const c of cases) {
      expect({ repo: c.repo, posts: await receivePackOutcomes(w.h.upstream, c.repo) }).toEqual({ repo: c.repo, posts: ['200 served'] });
      expect(await timesSetTo(w.h.git, w.h.upstream, c.repo, 'refs/heads/main', c.tip)).toBe(1);
    }
    const rows = await w.h.auditRows();
    for (const c of cases) {
      const hold = await w.api('alice').hold(c.id);
      const kinds = rows.filter((r) => r.requestId === hold.pushId).map((r) => r.kind);
      expect(kinds.filter((k) => k === 'hold.relayed')).toHaveLength(1);
    }
  });
});
