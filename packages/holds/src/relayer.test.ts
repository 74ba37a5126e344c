/**
 * The relayer against a real upstream (`git http-backend` behind the testkit's loopback server,
 * with its request log and fault hook), real holds (packs made by real git, stored encrypted by
 * the real store) on PGlite and PostgreSQL. "Sent" and "not sent" are proved by counting the
 * git-receive-pack POSTs the upstream received.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ZERO_OID, type Identity, type Oid, type RefUpdate } from '@pushgate/core';
import { Upstream } from '@pushgate/relay';
import { listAuditEvents, migrate, type Database } from '@pushgate/store';
import { testDatabases, type TestDatabase } from '@pushgate/store/testing';
import { createGitEnv, startGitUpstream, type FaultAnswer, type GitEnv, type GitUpstream } from '@pushgate/testkit';
import { loadHoldKey } from './key';
import { HoldRelayer } from './relayer';
import { createHoldStore } from './store';
import type { HoldRecord, HoldStore, NewHold } from './types';

const CRED = { username: 'x-access-token', password: 'upstream-secret-42' };
const PUSHER: Identity = { sub: 'agent-7', issuer: 'https://gw.test', email: 'bot@example.com', groups: ['agents'], agent: true };
const REVIEWER: Identity = { sub: 'lead-1', issuer: 'https://gw.test', email: 'lead@example.com', groups: ['leads'], agent: false };
const APPROVERS = [{ groups: ['leads'], count: 1 }];
const DECISION: NewHold['decision'] = {
  kind: 'hold',
  reasons: [{ rule: 'protected-main', mode: 'enforce', outcome: 'hold', message: 'main is protected', approvers: APPROVERS[0] }],
  approvers: APPROVERS,
};
const FAST_RETRY = { initialMs: 20, maxMs: 100 };

/** Which requests the fault hook fails, and how. */
let fault: { readonly on: 'receive-pack' | 'refs'; readonly answer: FaultAnswer } | undefined;

let env: GitEnv;
let upstream: GitUpstream;
let upstreams: Map<string, Upstream>;
let keyDir: string;
let repoCount = 0;

beforeAll(async () => {
  env = await createGitEnv();
  keyDir = await mkdtemp(join(tmpdir(), 'pushgate-holdkey-'));
  upstream = await startGitUpstream({
    auth: CRED,
    fault: (req) => {
      if (fault === undefined) return undefined;
      const receivePack = req.method === 'POST' && req.path.endsWith('/git-receive-pack');
      const refs = req.method === 'GET' && req.path.endsWith('/info/refs') && req.query.includes('git-receive-pack');
      return (fault.on === 'receive-pack' ? receivePack : refs) ? fault.answer : undefined;
    },
  });
  upstreams = new Map([['local', new Upstream({ name: 'local', url: upstream.url, credential: { kind: 'basic', ...CRED } })]]);
});

afterAll(async () => {
  for (const u of upstreams?.values() ?? []) u.close();
  await upstream?.close();
  await env?.cleanup();
  if (keyDir !== undefined) await rm(keyDir, { recursive: true, force: true });
});

/** The git-receive-pack POSTs the upstream received from request number `since` on. */
async function receivePackPosts(since: number): Promise<number> {
  await upstream.settled();
  return upstream.requests.slice(since).filter((r) => r.method === 'POST' && r.path.endsWith('/git-receive-pack')).length;
}

/** Where `ref` is in the upstream's repository (the zero id when absent). */
async function upstreamRef(bare: string, ref: string): Promise<string> {
  const r = await env.git(['rev-parse', '--verify', '-q', ref], { cwd: bare });
  return r.code === 0 ? r.stdout.trim() : ZERO_OID;
}

/** A fresh upstream repository with one commit, and a clone of it to build pushes in. */
async function freshRepo(): Promise<{ name: string; bare: string; work: string; base: Oid }> {
  const name = `team/app-${++repoCount}.git`;
  const bare = await upstream.createRepo(name, { initialCommit: true });
  const work = join(env.dir, `work-${repoCount}`);
  await env.gitOk(['clone', '-q', upstream.repoUrl(name, CRED), work]);
  return { name, bare, work, base: (await env.revParse(work, 'HEAD')) as Oid };
}

/** The pack a client would send for `commands`: `git pack-objects --revs` of the new commits. */
async function packOf(work: string, commands: readonly RefUpdate[]): Promise<Buffer> {
  const revs = commands.flatMap((c) => [...(c.newOid === ZERO_OID ? [] : [c.newOid]), ...(c.oldOid === ZERO_OID ? [] : [`^${c.oldOid}`])]);
  return (await env.gitOk(['pack-objects', '--revs', '--stdout', '-q'], { cwd: work, input: `${revs.join('\n')}\n` })).stdoutBuffer;
}

async function* once(bytes: Buffer): AsyncIterable<Uint8Array> {
  yield bytes;
}

/** Holds a push of `commands` in `store` and approves it. */
async function heldAndApproved(store: HoldStore, repo: string, work: string, commands: readonly RefUpdate[]): Promise<HoldRecord> {
  const pack = await packOf(work, commands);
  const hold = await store.create(
    {
      pushId: `push-${repo}-${commands[0]!.ref}`,
      upstream: 'local',
      repo,
      pusher: PUSHER,
      commands,
      capabilities: ['report-status', 'side-band-64k', 'atomic', 'agent=git/2.39.5'],
      pushOptions: ['wait=30', 'ci.skip'],
      summary: { commits: 1 },
      decision: DECISION,
    },
    once(pack),
  );
  const approved = await store.approve(hold.id, { identity: REVIEWER, requestId: `api-${hold.id}` });
  expect(approved.kind).toBe('approved');
  return (await store.get(hold.id))!;
}

/** A hold updating main in a fresh repository from its first commit to a new one. */
async function mainUpdate(store: HoldStore) {
  const repo = await freshRepo();
  const next = (await env.commitFiles(repo.work, { 'feature.txt': `work ${repo.name}\n` }, 'Add a feature')) as Oid;
  const hold = await heldAndApproved(store, repo.name, repo.work, [{ ref: 'refs/heads/main', oldOid: repo.base, newOid: next }]);
  return { ...repo, next, hold };
}

/** Waits until `cond` holds, polling; fails after a generous bound. */
async function until(cond: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Runs `runOnce` until `done` holds for the hold (a retry becomes due after its backoff), within a generous bound. */
async function relayUntil(relayer: HoldRelayer, store: HoldStore, id: string, done: (h: HoldRecord) => boolean): Promise<HoldRecord> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    await relayer.runOnce();
    const h = (await store.get(id))!;
    if (done(h)) return h;
    if (Date.now() > deadline) throw new Error(`hold ${id} still ${h.state.kind}`);
    // The retry's backoff (tens of ms here) must pass before it can be claimed again.
    await new Promise((r) => setTimeout(r, 10));
  }
}

const backends: TestDatabase[] = await testDatabases();

describe.each(backends.map((b) => [b.name, b] as const))('HoldRelayer on %s', (name, backend) => {
  let db: Database;
  let store: HoldStore;
  const relayer = (owner = 'replica-a') => new HoldRelayer({ store, upstreams, owner, retry: FAST_RETRY });

  beforeAll(async () => {
    db = await backend.open();
    await migrate(db);
    store = createHoldStore({ db, key: await loadHoldKey({ dataDir: keyDir }) });
  });
  afterAll(async () => {
    await db?.close();
    await backend.cleanup();
  });

  it('relays an approved hold: the upstream ref moves, one POST, the gateway-only options stripped', async () => {
    const { bare, next, hold } = await mainUpdate(store);
    // The upstream records the push options its hooks see.
    await writeFile(join(bare, 'hooks', 'pre-receive'), '#!/bin/sh\ni=0\nwhile [ "$i" -lt "${GIT_PUSH_OPTION_COUNT:-0}" ]; do eval "echo \\"\\$GIT_PUSH_OPTION_$i\\""; i=$((i+1)); done > push-options.txt\n');
    await chmod(join(bare, 'hooks', 'pre-receive'), 0o755);
    const since = upstream.requests.length;

    expect(await relayer().runOnce()).toBe(true);

    const after = (await store.get(hold.id))!;
    expect(after.state.kind).toBe('relayed');
    if (after.state.kind !== 'relayed') return;
    expect(after.state.report.refs).toEqual([{ ref: 'refs/heads/main', status: 'ok' }]);
    expect(after.state.report.unpack).toBe('ok');
    expect(await upstreamRef(bare, 'refs/heads/main')).toBe(next);
    expect(await receivePackPosts(since)).toBe(1);
    expect((await readFile(join(bare, 'push-options.txt'), 'utf8')).split('\n').filter(Boolean)).toEqual(['ci.skip']);
    // Sent with the gateway's own credential (the upstream refuses anything else with 401).
    expect(upstream.requests.slice(since).find((r) => r.method === 'POST')!.status).toBe(200);
    // Nothing left to claim.
    expect(await relayer().runOnce()).toBe(false);
  });

  it('finds the ref moved by somebody else after the hold: stale, nothing sent, nothing overwritten', async () => {
    const { bare, work, base, hold } = await mainUpdate(store);
    await env.gitOk(['checkout', '-q', '-b', 'other', base], { cwd: work });
    const other = await env.commitFiles(work, { 'other.txt': 'someone else\n' }, 'Somebody else pushed');
    await env.gitOk(['push', '-q', 'origin', 'other:main'], { cwd: work });
    const since = upstream.requests.length;

    expect(await relayer().runOnce()).toBe(true);

    const after = (await store.get(hold.id))!;
    expect(after.state).toMatchObject({ kind: 'stale', moved: [{ ref: 'refs/heads/main', expected: base, actual: other }] });
    expect(await upstreamRef(bare, 'refs/heads/main')).toBe(other);
    expect(await receivePackPosts(since)).toBe(0);
  });

  it('records the upstream refusing it (a pre-receive hook exits 1) as upstream-rejected with its message', async () => {
    const { bare, base, hold } = await mainUpdate(store);
    await writeFile(join(bare, 'hooks', 'pre-receive'), '#!/bin/sh\necho "upstream policy: main is frozen" >&2\nexit 1\n');
    await chmod(join(bare, 'hooks', 'pre-receive'), 0o755);
    const since = upstream.requests.length;

    expect(await relayer().runOnce()).toBe(true);

    const after = (await store.get(hold.id))!;
    expect(after.state.kind).toBe('upstream-rejected');
    if (after.state.kind !== 'upstream-rejected') return;
    expect(after.state.message).toContain('pre-receive hook declined');
    expect(after.state.report?.messages.join('\n')).toContain('upstream policy: main is frozen');
    expect(await upstreamRef(bare, 'refs/heads/main')).toBe(base);
    expect(await receivePackPosts(since)).toBe(1);
  });

  it.each<[string, NonNullable<typeof fault>]>([
    ['answers 503 to the push', { on: 'receive-pack', answer: 503 }],
    ['drops the connection of the push', { on: 'receive-pack', answer: 'close' }],
    ['answers 503 to reading its refs', { on: 'refs', answer: 503 }],
  ])('keeps a hold approved while the upstream %s, then relays it once it is healthy', async (_what, f) => {
    const { bare, base, next, hold } = await mainUpdate(store);
    const r = relayer();
    fault = f;
    try {
      expect(await r.runOnce()).toBe(true);
    } finally {
      fault = undefined;
    }
    const waiting = (await store.get(hold.id))!;
    expect(waiting.state.kind).toBe('approved');
    if (waiting.state.kind !== 'approved') return;
    expect(waiting.state.attempts).toBeGreaterThanOrEqual(1);
    expect(waiting.state.nextAttemptAt.getTime()).toBeGreaterThan(waiting.state.approvedAt.getTime());
    expect(waiting.state.lastError).toBeTruthy();
    expect(await upstreamRef(bare, 'refs/heads/main')).toBe(base);

    const since = upstream.requests.length;
    const done = await relayUntil(r, store, hold.id, (h) => h.state.kind !== 'approved');
    expect(done.state.kind).toBe('relayed');
    expect(await upstreamRef(bare, 'refs/heads/main')).toBe(next);
    expect(await receivePackPosts(since)).toBe(1);
  });

  it('finds a relay that already landed (pushed before the claim): relayed without sending again', async () => {
    const { bare, work, next, hold } = await mainUpdate(store);
    await env.gitOk(['push', '-q', 'origin', `${next}:refs/heads/main`], { cwd: work });
    const since = upstream.requests.length;

    expect(await relayer().runOnce()).toBe(true);

    const after = (await store.get(hold.id))!;
    expect(after.state.kind).toBe('relayed');
    if (after.state.kind !== 'relayed') return;
    expect(after.state.report.refs).toEqual([{ ref: 'refs/heads/main', status: 'ok' }]);
    expect(after.state.report.messages.join('\n')).toMatch(/already had every ref/);
    expect(await upstreamRef(bare, 'refs/heads/main')).toBe(next);
    expect(await receivePackPosts(since)).toBe(0);
  });

  it.each([
    ['after its push landed: relayed, nothing sent again', true],
    ['before it sent anything: sent once by the next owner', false],
  ])('takes a relay over from an owner that died %s', async (_what, landed) => {
    const { bare, work, next, hold } = await mainUpdate(store);
    const dead = await store.claimRelay('crashed-replica', 1);
    expect(dead?.hold.id).toBe(hold.id);
    if (landed) await env.gitOk(['push', '-q', 'origin', `${next}:refs/heads/main`], { cwd: work });
    const since = upstream.requests.length;

    const done = await relayUntil(relayer('replica-b'), store, hold.id, (h) => h.state.kind !== 'relaying');

    expect(done.state.kind).toBe('relayed');
    expect(await upstreamRef(bare, 'refs/heads/main')).toBe(next);
    expect(await receivePackPosts(since)).toBe(landed ? 0 : 1);
    // The dead owner coming back cannot record anything any more.
    expect(await store.finishRelay(hold.id, 'crashed-replica', { kind: 'stale', moved: [] })).toBe(false);
  });

  it('refuses an atomic push the upstream cannot take atomically: upstream-rejected, nothing sent', async () => {
    const { bare, base, hold } = await mainUpdate(store);
    await env.gitOk(['config', 'receive.advertiseAtomic', 'false'], { cwd: bare });
    const since = upstream.requests.length;

    expect(await relayer().runOnce()).toBe(true);

    const after = (await store.get(hold.id))!;
    expect(after.state.kind).toBe('upstream-rejected');
    if (after.state.kind !== 'upstream-rejected') return;
    expect(after.state.message).toMatch(/atomic/);
    expect(await upstreamRef(bare, 'refs/heads/main')).toBe(base);
    expect(await receivePackPosts(since)).toBe(0);
  });

  it('relays a push that creates and deletes refs', async () => {
    const repo = await freshRepo();
    await env.gitOk(['push', '-q', 'origin', `${repo.base}:refs/heads/old-topic`], { cwd: repo.work });
    const next = (await env.commitFiles(repo.work, { 'topic.txt': 'topic\n' }, 'A topic')) as Oid;
    const hold = await heldAndApproved(store, repo.name, repo.work, [
      { ref: 'refs/heads/topic', oldOid: ZERO_OID, newOid: next },
      { ref: 'refs/heads/old-topic', oldOid: repo.base, newOid: ZERO_OID },
    ]);
    expect(await relayer().runOnce()).toBe(true);
    expect((await store.get(hold.id))!.state.kind).toBe('relayed');
    expect(await upstreamRef(repo.bare, 'refs/heads/topic')).toBe(next);
    expect(await upstreamRef(repo.bare, 'refs/heads/old-topic')).toBe(ZERO_OID);
  });

  it('keeps its lease while a slow relay runs: a second replica polling meanwhile never takes it over', async () => {
    const { bare, next, hold } = await mainUpdate(store);
    // The upstream takes seconds to accept the push: several lease lengths of renewals.
    await writeFile(join(bare, 'hooks', 'pre-receive'), '#!/bin/sh\nsleep 7\n');
    await chmod(join(bare, 'hooks', 'pre-receive'), 0o755);
    const since = upstream.requests.length;
    const a = new HoldRelayer({ store, upstreams, owner: 'replica-slow', leaseMs: 3_000, retry: FAST_RETRY });
    const b = new HoldRelayer({ store, upstreams, owner: 'replica-eager', leaseMs: 3_000, pollMs: 50, retry: FAST_RETRY });
    const running = a.runOnce();
    await until(async () => (await store.get(hold.id))!.state.kind === 'relaying', 'the first replica to claim it');
    b.start();
    try {
      expect(await running).toBe(true);
    } finally {
      await b.stop();
    }
    expect((await store.get(hold.id))!.state.kind).toBe('relayed');
    expect(await upstreamRef(bare, 'refs/heads/main')).toBe(next);
    expect(await receivePackPosts(since)).toBe(1);
    expect(await listAuditEvents(db, { requestId: hold.pushId, kind: 'hold.relaying' })).toHaveLength(1);
  });

  it('stop() abandons a relay that outlives its bound; the next owner finds what the upstream did', async () => {
    const { bare, next, hold } = await mainUpdate(store);
    await writeFile(join(bare, 'hooks', 'pre-receive'), '#!/bin/sh\nsleep 3\n');
    await chmod(join(bare, 'hooks', 'pre-receive'), 0o755);
    const since = upstream.requests.length;
    const a = new HoldRelayer({ store, upstreams, owner: 'replica-stopping', stopTimeoutMs: 100, retry: FAST_RETRY });
    const running = a.runOnce();
    await until(async () => upstream.requests.slice(since).some((r) => r.method === 'POST'), 'the push to reach the upstream');
    await a.stop();
    expect(await running).toBe(true);
    // Given back, not lost: approved again, with why.
    const back = (await store.get(hold.id))!;
    expect(back.state.kind).toBe('approved');
    if (back.state.kind === 'approved') expect(back.state.lastError).toBeTruthy();

    // Whatever the upstream made of the abandoned push, the next owner reads it from the refs:
    // landed → nothing sent again; not applied → sent once.
    await upstream.settled();
    const landed = (await upstreamRef(bare, 'refs/heads/main')) === next;
    const before = upstream.requests.length;
    const done = await relayUntil(relayer('replica-next'), store, hold.id, (h) => h.state.kind !== 'approved');
    expect(done.state.kind).toBe('relayed');
    expect(await upstreamRef(bare, 'refs/heads/main')).toBe(next);
    expect(await receivePackPosts(before)).toBe(landed ? 0 : 1);
  });

  it('relays an approval at once when woken, from its loop, and stops cleanly', async () => {
    // The real store, counting the claims that have returned.
    let claimsDone = 0;
    const counting = new Proxy(store, {
      get(target, prop) {
        const v: unknown = Reflect.get(target, prop, target);
        if (typeof v !== 'function') return v;
        if (prop !== 'claimRelay') return v.bind(target);
        return (...args: Parameters<HoldStore['claimRelay']>) =>
          target.claimRelay(...args).then((claim) => {
            claimsDone++;
            return claim;
          });
      },
    });
    const repo = await freshRepo();
    const next = (await env.commitFiles(repo.work, { 'woken.txt': 'woken\n' }, 'Relayed on wake')) as Oid;
    const r = new HoldRelayer({ store: counting, upstreams, owner: 'replica-loop', pollMs: 600_000, retry: FAST_RETRY });
    r.start();
    try {
      // The loop found nothing and sleeps for ten minutes: only wake() brings it back in time.
      await until(() => claimsDone >= 1, 'the loop to look for work once');
      const hold = await heldAndApproved(store, repo.name, repo.work, [{ ref: 'refs/heads/main', oldOid: repo.base, newOid: next }]);
      r.wake();
      await until(async () => (await store.get(hold.id))!.state.kind === 'relayed', 'the relay after wake()');
      expect(await upstreamRef(repo.bare, 'refs/heads/main')).toBe(next);
      expect(claimsDone).toBeGreaterThanOrEqual(2);
    } finally {
      await r.stop();
    }
    expect(await r.runOnce()).toBe(false);
  });

  (name === 'postgres' ? it : it.skip)('two relayers racing over 5 approved holds relay each exactly once', async () => {
    const repo = await freshRepo();
    const holds: { id: string; pushId: string; ref: string; next: string }[] = [];
    for (let i = 1; i <= 5; i++) {
      await env.gitOk(['checkout', '-q', '-B', `f${i}`, repo.base], { cwd: repo.work });
      const next = (await env.commitFiles(repo.work, { [`f${i}.txt`]: `feature ${i}\n` }, `Feature ${i}`)) as Oid;
      const ref = `refs/heads/f${i}`;
      const h = await heldAndApproved(store, repo.name, repo.work, [{ ref, oldOid: ZERO_OID, newOid: next }]);
      holds.push({ id: h.id, pushId: h.pushId, ref, next });
    }
    const otherDb = await backend.open();
    const otherStore = createHoldStore({ db: otherDb, key: await loadHoldKey({ dataDir: keyDir }) });
    const since = upstream.requests.length;
    const a = new HoldRelayer({ store, upstreams, owner: 'replica-a', pollMs: 10, retry: FAST_RETRY });
    const b = new HoldRelayer({ store: otherStore, upstreams, owner: 'replica-b', pollMs: 10, retry: FAST_RETRY });
    a.start();
    b.start();
    try {
      await until(async () => (await Promise.all(holds.map(async (h) => (await store.get(h.id))!.state.kind))).every((k) => k === 'relayed'), 'all five relayed');
    } finally {
      await Promise.all([a.stop(), b.stop()]);
      await otherDb.close();
    }
    for (const h of holds) {
      expect(await upstreamRef(repo.bare, h.ref)).toBe(h.next);
      const relayed = await listAuditEvents(db, { requestId: h.pushId, kind: 'hold.relayed' });
      expect(relayed).toHaveLength(1);
    }
    expect(await receivePackPosts(since)).toBe(5);
  });
});
