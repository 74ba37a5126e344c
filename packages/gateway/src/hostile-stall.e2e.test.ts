/**
 * A client that stops sending in the middle of its pack (a stalled or deliberately slow pusher)
 * must not hold up anyone else: while it stalls, the upstream moves (so the next push's mirror has
 * to fetch) and a normal push to the same repository goes through at its usual speed. When the
 * stalled client finally goes away it is recorded as aborted, and nothing of it was relayed.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import { join } from 'node:path';
import { listAuditEvents } from '@pushgate/store';
import { HOSTILE_REPOSITORIES, hostileCorpus } from '@pushgate/testkit';
import { startHarness, type Harness } from './testing/harness';

describe('a stalled push', () => {
  let h: Harness;
  let token: string;
  const repo = HOSTILE_REPOSITORIES['one-commit'];
  const receivePackPosts = () => h.upstream.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/git-receive-pack')).length;

  beforeAll(async () => {
    h = await startHarness({ config: { log: { level: 'info' } } });
    token = await h.token({ sub: 'slowpoke' });
    await h.upstream.createRepo(repo.path, { initialCommit: repo.files });
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('does not keep other pushes to the repository waiting, and is recorded as aborted when it goes away', async () => {
    // A valid push (the good commit of the corpus, with a pack git would accept but for the trailer) cut short.
    const body = hostileCorpus().find((c) => c.id === 'pack-bad-trailer')!.body;
    const requestId = 'stalled-push';
    const stalled = http.request(`${h.gateway.url}/local/${repo.path}/git-receive-pack`, {
      method: 'POST',
      agent: false,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-git-receive-pack-request', 'content-length': String(body.length), 'x-request-id': requestId },
    });
    stalled.on('error', () => undefined);
    stalled.write(body.subarray(0, body.length - 30));
    // Let the gateway read the commands and the first part of the pack.
    await new Promise((r) => setTimeout(r, 500));

    // Meanwhile the upstream moves on: the next push's mirror has to fetch.
    const direct = join(h.git.dir, 'direct');
    await h.git.gitOk(['clone', '-q', h.upstream.repoUrl(repo.path, { username: 'x-access-token', password: h.secret }), direct]);
    await h.git.commitFiles(direct, { 'direct.txt': 'pushed around the gateway\n' }, 'direct');
    await h.git.gitOk(['push', '-q', 'origin', 'HEAD:refs/heads/direct'], { cwd: direct });
    const postsBefore = receivePackPosts();

    const work = join(h.git.dir, 'work');
    await h.git.gitOk(['clone', '-q', h.remote(repo.path, token), work]);
    const tip = await h.git.commitFiles(work, { 'meanwhile.txt': 'not held up\n' }, 'meanwhile');
    const started = performance.now();
    const pushed = await h.git.git(['push', 'origin', 'HEAD:refs/heads/meanwhile'], { cwd: work, timeoutMs: 20_000 });
    expect(pushed.code).toBe(0);
    expect(performance.now() - started).toBeLessThan(10_000);
    expect((await h.git.gitOk(['--git-dir', join(h.upstream.root, repo.path), 'rev-parse', 'refs/heads/meanwhile'])).stdout.trim()).toBe(tip);
    expect(receivePackPosts()).toBe(postsBefore + 1);

    // The stalled client gives up: nothing of it reaches the upstream, and the record says so.
    stalled.destroy();
    await h.inProcess!.idle();
    const row = (await listAuditEvents(h.inProcess!.database, { requestId })).find((r) => r.kind === 'http.request');
    expect(row?.outcome).toBe('aborted');
    await h.upstream.settled();
    expect(receivePackPosts()).toBe(postsBefore + 1);
  }, 60_000);
});
