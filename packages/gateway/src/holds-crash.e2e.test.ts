/**
 * Held pushes survive a gateway killed with SIGKILL: a child gateway (the real `pushgate serve`)
 * is killed while holds are pending, and while it relays one — before the upstream moved the ref
 * (its pre-receive hook holds the push) and after (its post-receive hook holds the answer) — then
 * started again on the same data (the PGlite data directory, or the same PostgreSQL database, and
 * the same hold key). Nothing is lost: the pending holds are still pending and can be approved, a
 * relay cut short is finished by the restarted gateway once the lease of the killed one expires —
 * sent again when it had not landed, never when it had (the upstream's request log) — and the
 * pushed commit is applied exactly once (the upstream's reflog).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testDatabases, type TestDatabase } from '@pushgate/store/testing';
import type { StartedGateway } from '@pushgate/testkit';
import {
  HOLD_TEST_POLICY,
  HOLD_TEST_RELAY,
  gateHook,
  gatewayRemote,
  holdKey,
  pushHeld,
  receivePackPosts,
  receivePackOutcomes,
  startHoldsWorld,
  timesSetTo,
  waitForState,
  type HoldsWorld,
} from './testing/holds';

const backends = await testDatabases();

const FINAL = ['relayed', 'stale', 'upstream-rejected'];

describe.each(backends)('a gateway killed with holds on $name', (backend: TestDatabase) => {
  let dir: string;
  let w: HoldsWorld;
  /** The gateway running now (the harness's first, then each restart). */
  let current: StartedGateway;

  /** SIGKILL: no drain, no shutdown hook, whatever was in flight is cut. */
  const kill9 = async (): Promise<void> => {
    process.kill(current.pid!, 'SIGKILL');
    const exit = await current.exited!;
    expect(exit.signal).toBe('SIGKILL');
  };
  /**
   * The `hold.relaying` events of a push (PostgreSQL only: the embedded database belongs to the
   * running gateway), each with whether it reclaimed an expired lease.
   */
  const claims = async (pushId: string): Promise<boolean[] | undefined> => {
    if (backend.name !== 'postgres') return undefined;
    const rows = await w.h.auditRows();
    return rows.filter((r) => r.requestId === pushId && r.kind === 'hold.relaying').map((r) => (r.detail as { reclaimed?: boolean } | null)?.reclaimed === true);
  };
  /** Starts the gateway again on the killed one's directory (its config, data and signing key). */
  const restart = async (): Promise<void> => {
    current = await w.h.startGateway({ dir: current.dir });
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pushgate-holds-crash-'));
    w = await startHoldsWorld({
      mode: 'child',
      db: backend,
      dir,
      config: { policy: HOLD_TEST_POLICY, holds: { relay: HOLD_TEST_RELAY } },
      env: { PUSHGATE_HOLD_KEY: holdKey() },
    });
    current = w.h.gateway;
  }, 120_000);
  afterAll(async () => {
    await w?.h.stop();
    await backend.cleanup();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('keeps pending holds across a kill -9: still pending after the restart, then approved and relayed', async () => {
    const a = await w.repo('pending-a');
    const b = await w.repo('pending-b');
    const tipA = await w.h.git.commitFiles(a.work, { 'deploy/app.yaml': 'replicas: 2\n' }, 'scale a');
    const tipB = await w.h.git.commitFiles(b.work, { 'auth/policy.txt': 'allow: admins\n' }, 'tighten b');
    const heldA = await pushHeld(w.h.git, a.work, gatewayRemote(current.url, a.repo, w.tokens.alice), ['HEAD:refs/heads/main']);
    const heldB = await pushHeld(w.h.git, b.work, gatewayRemote(current.url, b.repo, w.tokens.alice), ['HEAD:refs/heads/main']);
    // One of B's two approvals is given before the kill: it must survive too.
    expect((await w.api('bea', current.url).approve(heldB.id)).status).toBe(200);

    await kill9();
    await restart();

    for (const id of [heldA.id, heldB.id]) expect((await w.api('alice', current.url).hold(id)).state).toBe('pending');
    expect((await w.api('alice', current.url).hold(heldB.id)).approvals.map((x) => x.by.sub)).toEqual(['bea']);
    expect(await w.ref(a.repo)).toBe(a.base);
    expect(await w.ref(b.repo)).toBe(b.base);

    expect((await w.api('rita', current.url).approve(heldA.id)).status).toBe(200);
    expect((await w.api('sam', current.url).approve(heldB.id)).status).toBe(200);
    for (const [held, repo, tip] of [
      [heldA, a.repo, tipA],
      [heldB, b.repo, tipB],
    ] as const) {
      expect((await waitForState(w.api('alice', current.url), held.id, FINAL)).state).toBe('relayed');
      expect(await w.ref(repo)).toBe(tip);
      expect(await receivePackOutcomes(w.h.upstream, repo)).toEqual(['200 served']);
    }
  });

  it('sends again a relay cut before the upstream moved the ref, and the push is applied once', async () => {
    const r = await w.repo('cut-before');
    const gate = await gateHook(r.dir, 'pre-receive');
    const tip = await w.h.git.commitFiles(r.work, { 'deploy/app.yaml': 'replicas: 7\n' }, 'scale');
    const held = await pushHeld(w.h.git, r.work, gatewayRemote(current.url, r.repo, w.tokens.alice), ['HEAD:refs/heads/main']);
    expect((await w.api('rita', current.url).approve(held.id)).status).toBe(200);

    await gate.reached();
    expect(receivePackPosts(w.h.upstream, r.repo)).toHaveLength(1);
    await kill9();
    // The cut request does not land (its pre-receive fails), and is over before the restart.
    await gate.release({ refuse: true });
    await w.h.upstream.settled();
    expect(await w.ref(r.repo)).toBe(r.base);
    await gate.release();
    await restart();

    const hold = await waitForState(w.api('alice', current.url), held.id, FINAL);
    expect(hold.state).toBe('relayed');
    expect(await w.ref(r.repo)).toBe(tip);
    expect(await timesSetTo(w.h.git, w.h.upstream, r.repo, 'refs/heads/main', tip)).toBe(1);
    // The restarted gateway took the relay over once the killed one's lease expired …
    expect(await claims(hold.pushId)).toEqual(backend.name === 'postgres' ? [false, true] : undefined);
    // … found the ref where it was, and sent the push once more.
    // (The first one's answer found its client gone: however the upstream logged it, it was refused.)
    const posts = await receivePackOutcomes(w.h.upstream, r.repo);
    expect(posts).toHaveLength(2);
    expect(posts[1]).toBe('200 served');
  });

  it('does not send again a relay that landed before the gateway was killed', async () => {
    const r = await w.repo('cut-after');
    const gate = await gateHook(r.dir, 'post-receive');
    const tip = await w.h.git.commitFiles(r.work, { 'deploy/app.yaml': 'replicas: 8\n' }, 'scale');
    const held = await pushHeld(w.h.git, r.work, gatewayRemote(current.url, r.repo, w.tokens.alice), ['HEAD:refs/heads/main']);
    expect((await w.api('rita', current.url).approve(held.id)).status).toBe(200);

    // post-receive runs once the ref has moved; the upstream's answer is not finished until it ends.
    await gate.reached();
    expect(await w.ref(r.repo)).toBe(tip);
    await kill9();
    await gate.release();
    await w.h.upstream.settled();
    await restart();

    const hold = await waitForState(w.api('alice', current.url), held.id, FINAL);
    expect(hold.state).toBe('relayed');
    expect(await w.ref(r.repo)).toBe(tip);
    expect(await timesSetTo(w.h.git, w.h.upstream, r.repo, 'refs/heads/main', tip)).toBe(1);
    expect(await claims(hold.pushId)).toEqual(backend.name === 'postgres' ? [false, true] : undefined);
    // Only the one cut by the kill (its answer found the client gone).
    expect(await receivePackOutcomes(w.h.upstream, r.repo)).toHaveLength(1);
    // The restarted gateway keeps working: a new hold on the same repository is relayed too.
    const next = await w.h.git.commitFiles(r.work, { 'deploy/app.yaml': 'replicas: 9\n' }, 'scale again');
    await gate.release();
    const again = await pushHeld(w.h.git, r.work, gatewayRemote(current.url, r.repo, w.tokens.alice), ['HEAD:refs/heads/main']);
    expect((await w.api('ravi', current.url).approve(again.id)).status).toBe(200);
    expect((await waitForState(w.api('alice', current.url), again.id, FINAL)).state).toBe('relayed');
    expect(await w.ref(r.repo)).toBe(next);
  });
});
