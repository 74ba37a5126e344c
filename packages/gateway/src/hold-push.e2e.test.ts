/**
 * Holding a push, end to end: the real git client pushes through the gateway to a real upstream
 * (`git http-backend`), the policy holds it, and the gateway keeps it in the hold store (PGlite and
 * PostgreSQL). What git shows (`held for approval (<id>)`, the review link), what the upstream has
 * (nothing until approval), what the store and the audit record keep; a push whose ref moved
 * upstream refused as stale; `git push -o wait` ending with the upstream's answer after an
 * approval, with the reviewer's comment after a rejection, with the link after a timeout, and
 * with `-q`; and the push options that reach the upstream (everything but the gateway's own).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chmod, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Identity } from '@pushgate/core';
import type { HoldRecord, HoldStore } from '@pushgate/holds';
import { listAuditEvents, type AuditEventRecord } from '@pushgate/store';
import { testDatabases, type TestDatabase } from '@pushgate/store/testing';
import type { GitResult } from '@pushgate/testkit';
import type { Gateway } from './gateway';
import { startHarness, HARNESS_PUBLIC_URL, type Harness } from './testing/harness';

const backends = await testDatabases();

const POLICY = {
  rules: [{ id: 'protected-deploy', paths: ['deploy/**'], action: 'hold', approvers: { groups: ['release-managers'], count: 1 } }],
};

const bob: Identity = { sub: 'bob', issuer: HARNESS_PUBLIC_URL, email: 'bob@example.com', groups: ['release-managers'], agent: false };

/** Polls `probe` until it returns a value (a condition on the store, never a fixed delay). */
async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe.each(backends.map((db) => [db.name, db] as const))('holding a push on %s', (name, db: TestDatabase) => {
  let h: Harness;
  let gateway: Gateway;
  let holds: HoldStore;
  let upstreamRepo: string;
  let optionsRepo: string;
  let quietRepo: string;
  let work: string;
  let pushes = 0;

  const upstreamRef = async (repo: string, ref: string) => (await h.git.git(['--git-dir', repo, 'rev-parse', '--verify', '-q', ref])).stdout.trim();
  const sync = async () => {
    await h.git.gitOk(['fetch', '-q', 'origin'], { cwd: work });
    await h.git.gitOk(['checkout', '-q', '-B', 'main', 'origin/main'], { cwd: work });
  };
  /** Runs `git push` with a request id of its own (the POST's id is the hold's push id). */
  const push = (args: readonly string[], config: readonly string[] = []): { requestId: string; done: Promise<GitResult> } => {
    const requestId = `hold-${name}-${++pushes}`;
    return { requestId, done: h.git.git([...config.flatMap((c) => ['-c', c]), '-c', `http.extraHeader=X-Request-Id: ${requestId}`, 'push', ...args], { cwd: work }) };
  };
  const holdOf = (requestId: string): Promise<HoldRecord> =>
    until(`the hold of push ${requestId}`, async () => (await holds.list({ repo: 'holds/app.git' })).find((x) => x.pushId === requestId));
  const auditRow = async (requestId: string): Promise<AuditEventRecord> => {
    await gateway.idle();
    const row = (await listAuditEvents(gateway.database, { requestId })).find((e) => e.kind === 'http.request' && (e.detail as { method?: string } | null)?.method === 'POST');
    if (row === undefined) throw new Error(`no audit row for ${requestId}`);
    return row;
  };
  const deployChange = (text: string) => h.git.commitFiles(work, { 'deploy/run.sh': { executable: `#!/bin/sh\necho ${text}\n` } }, `deploy: ${text}`);

  beforeAll(async () => {
    h = await startHarness({ db, config: { policy: POLICY, holds: { keepAlive: '1s' } } });
    gateway = h.inProcess!;
    holds = gateway.holds;
    const token = await h.token({ sub: 'alice', email: 'alice@example.com' });
    upstreamRepo = await h.upstream.createRepo('holds/app.git', { initialCommit: { 'README.md': '# app\n', 'deploy/run.sh': { executable: '#!/bin/sh\necho run\n' } } });
    work = join(h.git.dir, 'work');
    await h.git.gitOk(['clone', '-q', h.remote('holds/app.git', token), work]);
    // Repositories whose pre-receive hook writes down the push options it is given.
    const optionsHook = (log: string) => `#!/bin/sh\ncat >/dev/null\n{ echo "count=\${GIT_PUSH_OPTION_COUNT:-none}"; i=0; while [ "$i" -lt "\${GIT_PUSH_OPTION_COUNT:-0}" ]; do eval "echo \\"option=\\$GIT_PUSH_OPTION_$i\\""; i=$((i+1)); done; } >> ${log}\n`;
    for (const [repo, advertise] of [['holds/options.git', true], ['holds/quiet.git', false]] as const) {
      const path = await h.upstream.createRepo(repo, { initialCommit: { 'README.md': '# options\n', 'deploy/run.sh': 'run\n' } });
      await h.git.gitOk(['--git-dir', path, 'config', 'receive.advertisePushOptions', String(advertise)]);
      await writeFile(join(path, 'hooks', 'pre-receive'), optionsHook(join(path, 'push-options.log')));
      await chmod(join(path, 'hooks', 'pre-receive'), 0o755);
      if (advertise) optionsRepo = path;
      else quietRepo = path;
    }
    await h.git.gitOk(['remote', 'add', 'options', h.remote('holds/options.git', token)], { cwd: work });
    await h.git.gitOk(['remote', 'add', 'plain', h.remote('holds/quiet.git', token)], { cwd: work });
  }, 120_000);
  afterAll(async () => {
    await h?.stop();
    await db.cleanup();
  });

  it('a held push: every ref held under the hold id, the review link shown, the upstream unchanged, the hold stored with its pack', async () => {
    await sync();
    const before = await upstreamRef(upstreamRepo, 'refs/heads/main');
    const tip = await deployChange('v2');
    const p = push(['origin', 'HEAD:refs/heads/main', 'HEAD~1:refs/heads/unrelated']);
    const r = await p.done;
    expect(r.code).not.toBe(0);
    const hold = await holdOf(p.requestId);
    expect(hold.id).toMatch(/^[a-z0-9]{8,}$/);
    expect(r.stderr).toContain(`! [remote rejected] HEAD -> main (held for approval (${hold.id}))`);
    expect(r.stderr).toContain(`! [remote rejected] HEAD~1 -> unrelated (held for approval (${hold.id}))`);
    expect(r.stderr).toContain(`remote: Push held for approval: ${HARNESS_PUBLIC_URL}/review/holds/${hold.id}; nothing was pushed yet.`);
    expect(r.stderr).toMatch(/remote: Needs 1 approval from release-managers \(rule protected-deploy\)/);
    expect(r.stderr).toContain(`pushgate holds show ${hold.id}`);
    expect(r.stderr).not.toContain('not stored');
    expect(await upstreamRef(upstreamRepo, 'refs/heads/main')).toBe(before);
    expect(await upstreamRef(upstreamRepo, 'refs/heads/unrelated')).toBe('');

    expect(hold.state.kind).toBe('pending');
    expect(hold.pusher.sub).toBe('alice');
    expect(hold.commands).toEqual([
      { ref: 'refs/heads/main', oldOid: before, newOid: tip },
      { ref: 'refs/heads/unrelated', oldOid: '0000000000000000000000000000000000000000', newOid: expect.any(String) },
    ]);
    expect(hold.pack?.bytes).toBeGreaterThan(0);
    expect(hold.capabilities).toEqual(expect.arrayContaining(['side-band-64k']));
    expect(hold.decision.reasons).toEqual(expect.arrayContaining([expect.objectContaining({ rule: 'protected-deploy' })]));
    let stored = 0;
    for await (const chunk of holds.readPack(hold)) stored += chunk.byteLength;
    expect(stored).toBe(hold.pack!.bytes);

    const row = await auditRow(p.requestId);
    expect(row.outcome).toBe('held');
    expect((row.detail as { holdId?: string }).holdId).toBe(hold.id);
    // Nothing of it stays in the spool: the pack lives in the database.
    expect(await readdir(join(gateway.config.dataDir, 'spool'))).toEqual([]);
  });

  it('a push whose ref moved upstream after the advertisement is refused as stale, not held', async () => {
    await sync();
    // A commit the upstream has elsewhere, for the ref to be moved to while the push is under way.
    const side = await h.git.commitFiles(work, { 'side.txt': 'side\n' }, 'side');
    expect((await push(['origin', 'HEAD:refs/heads/side']).done).code).toBe(0);
    await h.git.gitOk(['reset', '-q', '--hard', 'HEAD~1'], { cwd: work });
    const expected = await upstreamRef(upstreamRepo, 'refs/heads/main');
    await deployChange('stale');
    // git runs pre-push after reading the gateway's advertisement and before sending the push:
    // another pusher's update lands on the upstream in between.
    const hooks = join(h.git.dir, 'stale-hooks');
    await mkdir(hooks, { recursive: true });
    await writeFile(join(hooks, 'pre-push'), `#!/bin/sh\ncat >/dev/null\nexec git --git-dir='${upstreamRepo}' update-ref refs/heads/main ${side}\n`);
    await chmod(join(hooks, 'pre-push'), 0o755);
    const p = push(['origin', 'HEAD:refs/heads/main'], [`core.hooksPath=${hooks}`]);
    const r = await p.done;
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`! [remote rejected] HEAD -> main (stale: the upstream's refs/heads/main is at ${side.slice(0, 7)}, not ${expected.slice(0, 7)}; fetch, rebase and push again)`);
    expect(r.stderr).toContain('PUSH_STALE');
    expect(await upstreamRef(upstreamRepo, 'refs/heads/main')).toBe(side);
    expect((await holds.list({ repo: 'holds/app.git' })).find((x) => x.pushId === p.requestId)).toBeUndefined();
    const row = await auditRow(p.requestId);
    expect((row.detail as { error?: { code: string } }).error?.code).toBe('PUSH_STALE');
    // Put main back where the other tests expect it.
    await h.git.gitOk(['--git-dir', upstreamRepo, 'update-ref', 'refs/heads/main', expected]);
  });

  it('-o wait: approved by another person, the same git push ends with the upstream\'s answer and the ref moved', async () => {
    await sync();
    const tip = await deployChange('approved');
    // --progress: git asks for `quiet` whenever stderr is not a terminal.
    const p = push(['--progress', '-o', 'wait', 'origin', 'HEAD:refs/heads/main']);
    const hold = await holdOf(p.requestId);
    const approval = await holds.approve(hold.id, { identity: bob, requestId: `approve-${p.requestId}` }, { comment: 'ship it' });
    expect(approval.kind).toBe('approved');
    const r = await p.done;
    expect(r.code).toBe(0);
    // (Whether it saw the hold pending first depends on how fast the approval came: not asserted here.)
    expect(r.stderr).toContain(`remote: Push held for approval: ${HARNESS_PUBLIC_URL}/review/holds/${hold.id}; nothing was pushed yet.`);
    expect(r.stderr).toContain(`remote: pushgate: ${hold.id} approved by bob@example.com and relayed to the upstream`);
    expect(r.stderr).toMatch(/ {3}[0-9a-f]+\.\.[0-9a-f]+ +HEAD -> main/);
    expect(await upstreamRef(upstreamRepo, 'refs/heads/main')).toBe(tip);
    expect((await holds.get(hold.id))?.state.kind).toBe('relayed');
    expect((await auditRow(p.requestId)).outcome).toBe('held');
  });

  it('-o wait: rejected, git exits non-zero showing the reviewer and the comment', async () => {
    await sync();
    const before = await upstreamRef(upstreamRepo, 'refs/heads/main');
    await deployChange('rejected');
    const p = push(['-o', 'wait', 'origin', 'HEAD:refs/heads/main']);
    const hold = await holdOf(p.requestId);
    const rejected = await holds.reject(hold.id, { identity: bob, requestId: `reject-${p.requestId}` }, { comment: 'not before the release' });
    expect(rejected.kind).toBe('done');
    const r = await p.done;
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('! [remote rejected] HEAD -> main (rejected by bob@example.com: not before the release)');
    expect(await upstreamRef(upstreamRepo, 'refs/heads/main')).toBe(before);
  });

  it('-o wait: approved after the upstream moved, git is told the push is stale and nothing is overwritten', async () => {
    await sync();
    const side = await h.git.revParse(work, 'origin/side');
    await deployChange('moved meanwhile');
    const p = push(['-o', 'wait', 'origin', 'HEAD:refs/heads/main']);
    const hold = await holdOf(p.requestId);
    const expected = hold.commands[0].oldOid;
    // Someone else's push lands after the hold was stored, before it is approved.
    await h.git.gitOk(['--git-dir', upstreamRepo, 'update-ref', 'refs/heads/main', side]);
    expect((await holds.approve(hold.id, { identity: bob, requestId: `approve-${p.requestId}` })).kind).toBe('approved');
    const r = await p.done;
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`! [remote rejected] HEAD -> main (stale: the upstream's refs/heads/main is at ${side.slice(0, 7)}, not ${expected.slice(0, 7)}; fetch, rebase and push again)`);
    expect(await upstreamRef(upstreamRepo, 'refs/heads/main')).toBe(side);
    expect((await holds.get(hold.id))?.state.kind).toBe('stale');
    await h.git.gitOk(['--git-dir', upstreamRepo, 'update-ref', 'refs/heads/main', expected]);
  });

  it('-o wait: approved, and the upstream\'s hook refuses it: git shows the upstream\'s reason', async () => {
    await sync();
    const before = await upstreamRef(upstreamRepo, 'refs/heads/main');
    const hook = join(upstreamRepo, 'hooks', 'pre-receive');
    await writeFile(hook, '#!/bin/sh\ncat >/dev/null\necho "no deploys on Fridays" >&2\nexit 1\n');
    await chmod(hook, 0o755);
    try {
      await deployChange('friday');
      const p = push(['-o', 'wait', 'origin', 'HEAD:refs/heads/main']);
      const hold = await holdOf(p.requestId);
      expect((await holds.approve(hold.id, { identity: bob, requestId: `approve-${p.requestId}` })).kind).toBe('approved');
      const r = await p.done;
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('! [remote rejected] HEAD -> main (pre-receive hook declined)');
      expect(r.stderr).toContain('remote: no deploys on Fridays');
      expect(await upstreamRef(upstreamRepo, 'refs/heads/main')).toBe(before);
      expect((await holds.get(hold.id))?.state.kind).toBe('upstream-rejected');
    } finally {
      await rm(hook, { force: true });
    }
  });

  it('-o wait=2: no decision in time, git is told the push is still held, with the link', async () => {
    await sync();
    await deployChange('timeout');
    const p = push(['--progress', '-o', 'wait=2', 'origin', 'HEAD:refs/heads/main']);
    const r = await p.done;
    const hold = await holdOf(p.requestId);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`! [remote rejected] HEAD -> main (held for approval (${hold.id}))`);
    expect(r.stderr).toContain(`remote: pushgate: waiting for approval of ${hold.id} … ${HARNESS_PUBLIC_URL}/review/holds/${hold.id}`);
    expect(r.stderr).toContain(`remote: pushgate: ${hold.id} is still pending: ${HARNESS_PUBLIC_URL}/review/holds/${hold.id}`);
    // The hold outlives the wait.
    expect((await holds.get(hold.id))?.state.kind).toBe('pending');
  });

  it('-q -o wait: approved, exit 0 and no progress text', async () => {
    await sync();
    const tip = await deployChange('quiet');
    const p = push(['-q', '-o', 'wait', 'origin', 'HEAD:refs/heads/main']);
    const hold = await holdOf(p.requestId);
    expect((await holds.approve(hold.id, { identity: bob, requestId: `approve-${p.requestId}` })).kind).toBe('approved');
    const r = await p.done;
    expect(r.code).toBe(0);
    expect(r.stderr).not.toContain('waiting for approval');
    expect(await upstreamRef(upstreamRepo, 'refs/heads/main')).toBe(tip);
  });

  it('-q -o wait=2: keep-alives flow while the quiet push waits (empty band-1 packets, as receive.keepAlive sends)', async () => {
    await sync();
    await deployChange('keep-alive');
    const requestId = `hold-${name}-${++pushes}`;
    const r = await h.git.git(['-c', `http.extraHeader=X-Request-Id: ${requestId}`, 'push', '-q', '-o', 'wait=2', 'origin', 'HEAD:refs/heads/main'], { cwd: work, env: { GIT_TRACE_PACKET: '1' } });
    expect(r.code).not.toBe(0);
    // GIT_TRACE_PACKET shows a band-1 packet with no data as `sideband< \1`. The keep-alive timer
    // (1 s here) is due before the 2-second wait's end, whatever the load.
    const keepAlives = r.stderr.split('\n').filter((l) => /packet: +sideband< \\1$/.test(l));
    expect(keepAlives.length).toBeGreaterThanOrEqual(1);
    expect(r.stderr).not.toContain('waiting for approval');
    expect(r.stderr).toContain('still pending');
  });

  it('push options other than the gateway\'s own reach an upstream that takes them, live and after approval; wait and pushgate.* never do', async () => {
    const log = join(optionsRepo, 'push-options.log');
    await h.git.gitOk(['fetch', '-q', 'options'], { cwd: work });
    await h.git.gitOk(['checkout', '-q', '-B', 'opts', 'options/main'], { cwd: work });
    await h.git.commitFiles(work, { 'notes.txt': 'live\n' }, 'live');
    const live = await push(['-o', 'wait', '-o', 'ci.skip', '-o', 'pushgate.session=s-42', '-o', 'topic=x', 'options', 'HEAD:refs/heads/main']).done;
    expect(live.code).toBe(0);
    expect(await readFile(log, 'utf8')).toBe('count=2\noption=ci.skip\noption=topic=x\n');

    const tip = await h.git.commitFiles(work, { 'deploy/run.sh': 'held\n' }, 'held with options');
    const p = push(['-o', 'ci.skip', '-o', 'wait=60', '-o', 'pushgate.session=s-42', 'options', 'HEAD:refs/heads/main']);
    const hold = await until(`the hold of ${p.requestId}`, async () => (await holds.list({ repo: 'holds/options.git' })).find((x) => x.pushId === p.requestId));
    // The hold keeps every option as sent (the session metadata with it); only the relay leaves the gateway's own out.
    expect(hold.pushOptions).toEqual(['ci.skip', 'wait=60', 'pushgate.session=s-42']);
    expect((await holds.approve(hold.id, { identity: bob, requestId: `approve-${p.requestId}` })).kind).toBe('approved');
    expect((await p.done).code).toBe(0);
    expect(await upstreamRef(optionsRepo, 'refs/heads/main')).toBe(tip);
    expect(await readFile(log, 'utf8')).toBe('count=2\noption=ci.skip\noption=topic=x\ncount=1\noption=ci.skip\n');
  });

  it('the gateway takes -o for an upstream that does not advertise push-options, and passes none on', async () => {
    await h.git.gitOk(['fetch', '-q', 'plain'], { cwd: work });
    await h.git.gitOk(['checkout', '-q', '-B', 'plain-main', 'plain/main'], { cwd: work });
    const tip = await h.git.commitFiles(work, { 'notes.txt': 'plain\n' }, 'plain');
    const r = await push(['-o', 'wait', '-o', 'ci.skip', 'plain', 'HEAD:refs/heads/main']).done;
    expect(r.code).toBe(0);
    expect(await upstreamRef(quietRepo, 'refs/heads/main')).toBe(tip);
    expect(await readFile(join(quietRepo, 'push-options.log'), 'utf8')).toBe('count=0\n');
  });

  // Last: it stops the gateway.
  it('a gateway shutting down ends a wait at once with the still-pending answer', async () => {
    await sync();
    await deployChange('shutdown');
    const p = push(['--progress', '-o', 'wait', 'origin', 'HEAD:refs/heads/main']);
    const hold = await holdOf(p.requestId);
    const [, r] = await Promise.all([gateway.close(), p.done]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`! [remote rejected] HEAD -> main (held for approval (${hold.id}))`);
    expect(r.stderr).toContain(`remote: pushgate: ${hold.id} is still pending (the gateway is shutting down; the hold is kept): ${HARNESS_PUBLIC_URL}/review/holds/${hold.id}`);
  });
});

describe('a held push the store will not keep, and the webhook of one it keeps (embedded database)', () => {
  let h: Harness;
  let receiver: Server;
  const received: { event: string; hold: { id: string; link: string; state: string } }[] = [];
  let work: string;

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => {
        received.push(JSON.parse(Buffer.concat(parts).toString('utf8')) as (typeof received)[number]);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    // 2000 bytes: a one-line change fits; 6000 random hex digits (about 3 kB deflated) do not.
    h = await startHarness({ config: { policy: POLICY, holds: { maxHeldPackBytes: 2000, webhooks: [{ url: hook, events: ['held'] }] } } });
    const token = await h.token({ sub: 'alice', email: 'alice@example.com' });
    await h.upstream.createRepo('holds/app.git', { initialCommit: { 'deploy/run.sh': 'run\n' } });
    work = join(h.git.dir, 'work');
    await h.git.gitOk(['clone', '-q', h.remote('holds/app.git', token), work]);
  }, 120_000);
  afterAll(async () => {
    await h?.stop();
    await new Promise((resolve) => receiver?.close(resolve));
  });

  it('a pack over maxHeldPackBytes is refused with HOLD_PACK_TOO_LARGE and nothing is kept', async () => {
    const noise = randomBytes(3000).toString('hex');
    await h.git.commitFiles(work, { 'deploy/big.txt': noise }, 'too big to hold');
    const r = await h.git.git(['push', 'origin', 'HEAD:refs/heads/main'], { cwd: work });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('HOLD_PACK_TOO_LARGE');
    expect(r.stderr).toMatch(/! \[remote rejected\] HEAD -> main \(HOLD_PACK_TOO_LARGE: /);
    expect(await h.inProcess!.holds.list()).toEqual([]);
    expect(await readdir(join(h.inProcess!.config.dataDir, 'spool'))).toEqual([]);
  });

  it('a stored hold is announced to the configured webhook with its link', async () => {
    await h.git.gitOk(['reset', '-q', '--hard', 'origin/main'], { cwd: work });
    await h.git.commitFiles(work, { 'deploy/run.sh': 'small\n' }, 'small enough');
    const r = await h.git.git(['push', 'origin', 'HEAD:refs/heads/main'], { cwd: work });
    expect(r.code).not.toBe(0);
    const [hold] = await h.inProcess!.holds.list();
    expect(hold).toBeDefined();
    const note = await until('the webhook', async () => received.find((n) => n.hold.id === hold.id));
    expect(note).toMatchObject({ event: 'held', hold: { id: hold.id, link: `${HARNESS_PUBLIC_URL}/review/holds/${hold.id}`, state: 'pending' } });
  });
});
