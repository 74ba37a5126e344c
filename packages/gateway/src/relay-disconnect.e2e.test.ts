/**
 * A relay outlives its client: the pusher goes away while the upstream is still working on the
 * push (its pre-receive hook waits for a file the test writes only once the client is gone), and
 * the push still lands, the request's audit row carries the upstream's report, and the mirror
 * still fetches what the push added. Once with the real git client (side-band: its progress was
 * streaming when it died), once with a raw client without side-band (its answer was to come at
 * the end), on both database backends.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import { ZERO_OID, type Oid } from '@pushgate/core';
import { receivePackBody } from '@pushgate/testkit';
import { testDatabases, type TestDatabase } from '@pushgate/store/testing';
import { startHarness, type Harness } from './testing/harness';

const backends: TestDatabase[] = await testDatabases();

/** Resolves once `condition()` holds, checking every 50 ms; fails after `timeoutMs`. */
async function until(condition: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe.each(backends.map((db) => [db.name, db] as const))('a client that leaves while its push is relayed, on %s', (_name, db) => {
  let h: Harness;
  let token: string;
  let bare: string;
  let work: string;
  let pushes = 0;

  const upstreamRef = async (ref: string) => (await h.git.git(['--git-dir', bare, 'rev-parse', '--verify', '-q', ref])).stdout.trim();
  const mirrorRefreshes = async (): Promise<number> => {
    const text = await (await fetch(`${h.gateway.url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith('pushgate_mirror_fetches_total{reason="refresh",result="ok"}'));
    return line === undefined ? 0 : Number(line.split(' ').at(-1));
  };
  const pushRow = async (requestId: string) => {
    const rows = await h.auditRows();
    return rows.find((r) => r.requestId === requestId && r.kind === 'http.request' && r.service === 'git-receive-pack' && (r.detail as { method?: string } | null)?.method === 'POST');
  };
  /** The upstream's hook, for the next push: it says so, marks `started`, and waits for `release`. */
  const holdNextPush = async () => {
    const n = ++pushes;
    const started = join(h.git.dir, `started-${n}`);
    const release = join(h.git.dir, `release-${n}`);
    await writeFile(
      join(bare, 'hooks', 'pre-receive'),
      `#!/bin/sh\ncat >/dev/null\necho "upstream checks the push"\ntouch "${started}"\nwhile [ ! -e "${release}" ]; do sleep 0.05; done\n`,
    );
    await chmod(join(bare, 'hooks', 'pre-receive'), 0o755);
    return { requestId: `${db.name}-leaves-${n}`, started, release };
  };

  beforeAll(async () => {
    h = await startHarness({ db });
    token = await h.token({ sub: 'alice' });
    bare = await h.upstream.createRepo('team/app.git', { initialCommit: true });
    work = join(h.git.dir, 'work');
    await h.git.gitOk(['clone', '-q', h.remote('team/app.git', token), work]);
  });
  afterAll(async () => {
    await h?.stop();
    await db.cleanup();
  });

  it('the relay of a live push is its POST alone: the capabilities of the client\'s advertisement are reused', async () => {
    await h.git.gitOk(['fetch', '-q', 'origin'], { cwd: work });
    await h.git.gitOk(['reset', '-q', '--hard', 'origin/main'], { cwd: work });
    await writeFile(join(bare, 'hooks', 'pre-receive'), '#!/bin/sh\ncat >/dev/null\n');
    const tip = await h.git.commitFiles(work, { 'once.txt': 'one request\n' }, 'one request');
    const before = h.upstream.requests.length;
    await h.git.gitOk(['push', '-q', 'origin', 'HEAD:refs/heads/main'], { cwd: work });
    await h.inProcess!.idle();
    expect(await upstreamRef('refs/heads/main')).toBe(tip);
    const byGateway = h.upstream.requests.slice(before).filter((r) => r.userAgent?.startsWith('pushgate/'));
    expect(byGateway.map((r) => `${r.method} ${r.path}`)).toEqual(['POST /team/app.git/git-receive-pack']);
  });

  it('git dies mid-relay: the push lands, the audit row has the upstream report, the mirror refreshes', async () => {
    const tip = await h.git.commitFiles(work, { 'left.txt': 'pushed, then the pusher left\n' }, 'leave early');
    const { requestId, started, release } = await holdNextPush();
    const refreshes = await mirrorRefreshes();
    // Its own process group, so that git's HTTP helper (which holds the connection) dies with it.
    const git = spawn('git', ['-c', `http.extraHeader=X-Request-Id: ${requestId}`, 'push', '--progress', 'origin', 'HEAD:refs/heads/main'], {
      cwd: work,
      env: { ...h.git.vars },
      stdio: 'ignore',
      detached: true,
    });
    const exited = new Promise((resolve) => git.once('exit', resolve));
    await until(() => existsSync(started), 'the upstream to start on the push');
    process.kill(-git.pid!, 'SIGKILL');
    await exited;
    expect(await upstreamRef('refs/heads/main')).not.toBe(tip);

    await writeFile(release, '');
    await h.inProcess!.idle();
    expect(await upstreamRef('refs/heads/main')).toBe(tip);
    const row = await pushRow(requestId);
    expect(row).toMatchObject({ outcome: 'aborted', refUpdates: [{ ref: 'refs/heads/main', newOid: tip }] });
    expect((row!.detail as { upstreamReport?: unknown }).upstreamReport).toEqual({
      kind: 'report',
      unpack: 'ok',
      refs: [{ ref: 'refs/heads/main', status: 'ok' }],
      messages: expect.arrayContaining(['upstream checks the push']),
    });
    expect(await mirrorRefreshes()).toBeGreaterThan(refreshes);
  });

  it('a client without side-band leaves before its answer: the push lands and is recorded', async () => {
    await h.git.gitOk(['fetch', '-q', 'origin'], { cwd: work });
    await h.git.gitOk(['reset', '-q', '--hard', 'origin/main'], { cwd: work });
    const base = (await h.git.revParse(work, 'HEAD')) as Oid;
    const tip = (await h.git.commitFiles(work, { 'raw.txt': 'a raw client\n' }, 'raw')) as Oid;
    const pack = (await h.git.gitOk(['pack-objects', '--stdout', '--revs'], { cwd: work, input: `${tip}\n^${base}\n` })).stdoutBuffer;
    const body = receivePackBody({ commands: [{ ref: 'refs/heads/raw', oldOid: ZERO_OID, newOid: tip }], caps: ['report-status', 'agent=raw-client/1'], pack });
    const { requestId, started, release } = await holdNextPush();

    const gone = new Promise<void>((resolve, reject) => {
      const req = http.request(`${h.gateway.url}/local/team/app.git/git-receive-pack`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'x-request-id': requestId, 'content-type': 'application/x-git-receive-pack-request', 'content-length': body.length },
      });
      req.on('response', () => reject(new Error('answered before the upstream was released')));
      req.on('error', () => resolve());
      req.on('close', () => resolve());
      req.end(body);
      void until(() => existsSync(started), 'the upstream to start on the push').then(() => req.destroy(), reject);
    });
    await gone;
    await writeFile(release, '');
    await h.inProcess!.idle();
    expect(await upstreamRef('refs/heads/raw')).toBe(tip);
    const row = await pushRow(requestId);
    expect(row).toMatchObject({ outcome: 'aborted' });
    expect((row!.detail as { upstreamReport?: unknown }).upstreamReport).toMatchObject({ kind: 'report', unpack: 'ok', refs: [{ ref: 'refs/heads/raw', status: 'ok' }] });
  });
});
