/**
 * When the audit store is down: /readyz says so, fetches are still served (their lost records are
 * logged loudly and counted), and pushes are refused before anything reaches the upstream —
 * a push is never relayed unrecorded. PostgreSQL lets the test take the database away for real
 * (ALLOW_CONNECTIONS false and the gateway's sessions terminated) and give it back.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import pg from 'pg';
import { testDatabases, testPgUrl } from '@pushgate/store/testing';
import { rawRequest } from './testing/raw-http';
import { startHarness, type Harness } from './testing/harness';

const postgres = (await testDatabases()).filter((b) => b.name === 'postgres');

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: testPgUrl() });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

// testDatabases() has already warned (or failed, with PUSHGATE_TEST_PG=require) when PostgreSQL is absent.
if (postgres.length === 0) it.skip('with the audit store down (needs PostgreSQL)', () => undefined);
else describe.each(postgres.map((b) => [b.name, b] as const))('with the audit store down (%s)', (_name, db) => {
  let h: Harness;
  let token: string;
  let dbName: string;

  beforeAll(async () => {
    h = await startHarness({ db });
    dbName = new URL((await db.options()).url!).pathname.slice(1);
    await h.upstream.createRepo('app.git', { initialCommit: true });
    token = await h.token();
    await h.git.gitOk(['clone', h.remote('app.git', token), 'work']);
  });
  afterAll(async () => {
    await admin(`ALTER DATABASE ${dbName} ALLOW_CONNECTIONS true`).catch(() => undefined);
    await h?.stop();
    await db.cleanup();
  });

  it('reports not ready, serves fetches, refuses pushes, and recovers', async () => {
    const upstreamMain = async () => (await h.git.gitOk(['--git-dir', join(h.upstream.root, 'app.git'), 'rev-parse', 'main'])).stdout.trim();
    const before = await upstreamMain();
    const work = join(h.git.dir, 'work');
    await h.git.commitFiles(work, { 'x.txt': 'x\n' }, 'x');

    await admin(`ALTER DATABASE ${dbName} ALLOW_CONNECTIONS false`);
    await admin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${dbName}'`);

    expect((await rawRequest(h.gateway.url, 'GET', '/readyz')).status).toBe(503);
    expect((await rawRequest(h.gateway.url, 'GET', '/healthz')).status).toBe(200);

    const fetched = await h.git.git(['fetch', 'origin'], { cwd: work });
    expect(fetched.code).toBe(0);

    const receivePackPosts = () => h.upstream.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/git-receive-pack')).length;
    const posts = receivePackPosts();
    const pushed = await h.git.git(['push', 'origin', 'HEAD:main'], { cwd: work });
    expect(pushed.code).not.toBe(0);
    expect(pushed.stderr).toMatch(/503/);
    expect(receivePackPosts()).toBe(posts);
    expect(await upstreamMain()).toBe(before);

    await h.inProcess!.idle();
    const metrics = (await rawRequest(h.gateway.url, 'GET', '/metrics')).body.toString();
    expect(metrics).toMatch(/pushgate_audit_write_failures_total\{kind="http.request"\} [1-9]/);
    expect(metrics).toMatch(/pushgate_audit_write_failures_total\{kind="push.received"\} 1/);
    expect(h.gateway.logs.some((l) => l.includes('AUDIT WRITE FAILED') && l.includes('"level":"error"'))).toBe(true);

    await admin(`ALTER DATABASE ${dbName} ALLOW_CONNECTIONS true`);
    expect((await rawRequest(h.gateway.url, 'GET', '/readyz')).status).toBe(200);
    const retried = await h.git.git(['push', 'origin', 'HEAD:main'], { cwd: work });
    expect(retried.code).toBe(0);
    expect(await upstreamMain()).not.toBe(before);
  });
});
