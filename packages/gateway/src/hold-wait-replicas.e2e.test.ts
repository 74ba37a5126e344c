/**
 * `git push -o wait` across replicas: two gateway processes (the real `pushgate serve`, as children)
 * on one PostgreSQL database with one hold key, in front of one real upstream (`git http-backend`).
 * The real git client pushes through replica A and waits there; a reviewer decides through replica
 * B's API. The waiting push on A must learn of the decision made on B (the hold store's
 * LISTEN/NOTIFY, with polling behind it): after an approval it ends with the upstream's own answer,
 * the upstream's ref at the pushed commit and exactly one git-receive-pack POST in its request log;
 * after a rejection it fails with the reviewer's comment and nothing reaches the upstream.
 *
 * PostgreSQL only: the embedded database belongs to one process. Who is who: HOLD_TEST_PEOPLE.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { testDatabases, type TestDatabase } from '@pushgate/store/testing';
import type { StartedGateway } from '@pushgate/testkit';
import {
  HOLD_TEST_POLICY,
  gateHook,
  gatewayRemote,
  holdKey,
  receivePackOutcomes,
  receivePackPosts,
  startHoldsWorld,
  timesSetTo,
  waitFor,
  type HoldView,
  type HoldsWorld,
} from './testing/holds';

const postgres = (await testDatabases()).filter((b) => b.name === 'postgres');

/** How long the pusher asks to wait (`-o wait=<seconds>`): far beyond what a loaded machine needs. */
const WAIT_SECONDS = 120;
/** How long a condition of these tests may take to come true on a loaded machine. */
const CONDITION_MS = 150_000;
/** A push still running this long after it started is killed, so a broken test leaves no process. */
const PUSH_KILL_MS = (WAIT_SECONDS + 90) * 1000;
/** Each case: the push's whole wait and more. */
const CASE_MS = 300_000;

/** A `git push` running in the background, whose stderr can be read while it waits. */
interface RunningPush {
  /** What git has written to stderr so far. */
  stderr(): string;
  /** Settles when git has exited (code -1 when a signal ended it). */
  readonly done: Promise<{ readonly code: number; readonly signal: NodeJS.Signals | null; readonly stderr: string }>;
  /** Kills git and its HTTP helper (which holds the connection), if still running. */
  kill(): void;
}

/**
 * Starts `git push` with the harness's isolated environment. Spawned here rather than through
 * GitEnv.git, which gives the output only at the end: the test waits for git to show that it is
 * waiting on replica A before the decision is made on B.
 */
function startPush(vars: Readonly<Record<string, string>>, cwd: string, args: readonly string[]): RunningPush {
  let stderr = '';
  // Its own process group, so that killing it also kills git-remote-http.
  const child: ChildProcess = spawn('git', args, { cwd, env: { ...vars }, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => (stderr += chunk));
  let running = true;
  const kill = (): void => {
    if (!running || child.pid === undefined) return;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  };
  const killer = setTimeout(kill, PUSH_KILL_MS);
  const done = new Promise<{ code: number; signal: NodeJS.Signals | null; stderr: string }>((resolve, reject) => {
    child.once('error', (e) => {
      running = false;
      clearTimeout(killer);
      reject(e);
    });
    // 'close', not 'exit': stderr has been read to its end.
    child.once('close', (code, signal) => {
      running = false;
      clearTimeout(killer);
      resolve({ code: code ?? -1, signal, stderr });
    });
  });
  return { stderr: () => stderr, done, kill };
}

/**
 * Waits for `probe` (see waitFor) while `push` runs, failing at once with git's output if the push
 * ends first: a push that was not held, or not kept waiting, must not look like a slow condition.
 */
async function whilePushing<T>(push: RunningPush, what: string, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const ended = push.done.then((r) => {
    throw new Error(`git push ended (exit ${r.code}) before ${what}:\n${r.stderr}`);
  });
  return Promise.race([waitFor(what, probe, CONDITION_MS), ended]);
}

if (postgres.length === 0) it.skip('`git push -o wait` on one replica, decided on another (needs PostgreSQL)', () => undefined);
else
  describe.each(postgres)('`git push -o wait` on one replica, decided on another ($name)', (backend: TestDatabase) => {
    let w: HoldsWorld;
    /** Where the pusher waits: the harness's gateway. */
    let replicaA: StartedGateway;
    /** Where the reviewer decides: a second process on the same database and hold key. */
    let replicaB: StartedGateway;
    const pushes: RunningPush[] = [];

    beforeAll(async () => {
      // The relayer's default lease (30 s): a short one could expire under load while the relay is
      // in flight, and a takeover would then send the push a second time (refused by the
      // upstream's compare-and-swap, but a second POST all the same).
      w = await startHoldsWorld({ mode: 'child', db: backend, config: { policy: HOLD_TEST_POLICY }, env: { PUSHGATE_HOLD_KEY: holdKey() } });
      replicaA = w.h.gateway;
      replicaB = await w.h.startGateway();
    }, 180_000);
    afterAll(async () => {
      for (const p of pushes) p.kill();
      await Promise.allSettled(pushes.map((p) => p.done));
      await w?.h.stop();
      await backend.cleanup();
    });

    /**
     * A fresh upstream repository with a deploy change committed in its clone, pushed through
     * replica A with `-o wait`; resolves once replica B lists the hold as pending to a reviewer
     * and git shows that it waits on A for the decision.
     */
    const heldAndWaiting = async (name: string) => {
      const { repo, dir, work, base } = await w.repo(name);
      // The upstream's own voice in its answer, to tell it apart from anything the gateway says.
      const hook = join(dir, 'hooks', 'post-receive');
      await writeFile(hook, '#!/bin/sh\nwhile read old new ref; do echo "upstream stored $ref at $new" >&2; done\n');
      await chmod(hook, 0o755);
      const tip = await w.h.git.commitFiles(work, { 'deploy/app.yaml': `replicas: 7 # ${name}\n` }, `deploy: ${name}`);
      const pushId = `${name}-${randomBytes(6).toString('hex')}`;
      // --progress: git asks for `quiet` whenever its stderr is not a terminal.
      const push = startPush(w.h.git.vars, work, [
        '-c',
        `http.extraHeader=X-Request-Id: ${pushId}`,
        'push',
        '--progress',
        '-o',
        `wait=${WAIT_SECONDS}`,
        gatewayRemote(replicaA.url, repo, w.tokens.alice),
        'HEAD:refs/heads/main',
      ]);
      pushes.push(push);
      const hold = await whilePushing(push, `replica B to list the hold of ${pushId} as pending`, async () => {
        const listed = await w.api('rita', replicaB.url).list('state=pending');
        const holds = (listed.body as { holds?: HoldView[] } | undefined)?.holds;
        if (listed.status !== 200 || !Array.isArray(holds)) throw new Error(`GET /api/holds?state=pending answered ${listed.status}: ${listed.text}`);
        return holds.find((h) => h.pushId === pushId);
      });
      expect(hold.state).toBe('pending');
      // The wait has subscribed to the hold's changes and read it pending before it says this.
      await whilePushing(push, `git to show that it waits on replica A for ${hold.id}`, () =>
        push.stderr().includes(`remote: pushgate: waiting for approval of ${hold.id}`) ? true : undefined,
      );
      return { repo, dir, base, tip, hold, push };
    };

    it(
      'approved on B: the push waiting on A ends with the upstream\'s own answer, the ref moved, one POST upstream',
      async () => {
        const { repo, dir, base, tip, hold, push } = await heldAndWaiting('wait-approve');
        expect(receivePackPosts(w.h.upstream, repo)).toEqual([]);
        // The relay is kept in flight at the upstream until A has shown that it knows of the approval:
        // a wait that only re-read its hold when its time ran out would find it still relaying and
        // end with the still-held answer, so the push ending well proves A learned of it meanwhile.
        const gate = await gateHook(dir, 'pre-receive');

        try {
          const approved = await w.api('rita', replicaB.url).approve(hold.id, { comment: 'ship it' });
          expect(`${approved.status} ${approved.text}`).toMatch(/^200 /);
          await whilePushing(push, `git to show that replica A knows ${hold.id} is approved`, () =>
            push.stderr().includes(`remote: pushgate: ${hold.id} approved; relaying it to the upstream`) ? true : undefined,
          );
        } finally {
          await gate.release();
        }

        const r = await push.done;
        // git's exit code, with what it printed when that is not 0.
        expect(r.code === 0 ? 0 : `exit ${r.code}:\n${r.stderr}`).toBe(0);
        // The upstream's answer, as git prints it: its hook's message and the ref update it made.
        expect(r.stderr).toContain(`remote: upstream stored refs/heads/main at ${tip}`);
        expect(r.stderr).toMatch(new RegExp(`\\n {3}${base.slice(0, 7)}[0-9a-f]*\\.\\.${tip.slice(0, 7)}[0-9a-f]* +HEAD -> main\\n`));
        expect(r.stderr).toContain(`remote: pushgate: ${hold.id} approved by rita@example.com and relayed to the upstream`);
        expect(r.stderr).not.toContain('[remote rejected]');
        // Said once, though the hold went through approved and relaying while A waited.
        expect(r.stderr.split(`remote: pushgate: ${hold.id} approved; relaying it to the upstream`)).toHaveLength(2);

        expect(await w.ref(repo)).toBe(tip);
        expect(await receivePackOutcomes(w.h.upstream, repo)).toEqual(['200 served']);
        expect(await timesSetTo(w.h.git, w.h.upstream, repo, 'refs/heads/main', tip)).toBe(1);
        // Both replicas read the same hold.
        for (const gateway of [replicaA, replicaB]) expect((await w.api('alice', gateway.url).hold(hold.id)).state).toBe('relayed');
      },
      CASE_MS,
    );

    it(
      'rejected on B with a comment: the push waiting on A fails showing the comment, nothing reaches the upstream',
      async () => {
        const { repo, base, hold, push } = await heldAndWaiting('wait-reject');

        const rejected = await w.api('rita', replicaB.url).reject(hold.id, { comment: 'not during the freeze' });
        expect(`${rejected.status} ${rejected.text}`).toMatch(/^200 /);

        const r = await push.done;
        expect(r.code).not.toBe(0);
        expect(r.signal).toBeNull();
        expect(r.stderr).toContain('! [remote rejected] HEAD -> main (rejected by rita@example.com: not during the freeze)');
        expect(r.stderr).toContain(`remote: pushgate: ${hold.id} was rejected by rita@example.com: not during the freeze`);

        expect(await w.ref(repo)).toBe(base);
        expect(receivePackPosts(w.h.upstream, repo)).toEqual([]);
        expect(await w.api('alice', replicaA.url).hold(hold.id)).toMatchObject({ state: 'rejected', comment: 'not during the freeze' });
      },
      CASE_MS,
    );
  });
