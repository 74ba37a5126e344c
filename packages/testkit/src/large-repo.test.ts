import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import { createGitEnv, type GitEnv } from './git-env';
import { makeLargeRepo } from './large-repo';
import { startGitUpstream } from '@pushgate/git-server';

let env: GitEnv;
beforeAll(async () => {
  env = await createGitEnv();
});
afterAll(async () => {
  await env.cleanup();
});

describe('makeLargeRepo', () => {
  it('builds a valid repository at least the requested size, identical for identical parameters', async () => {
    const a = await makeLargeRepo(join(env.dir, 'a.git'), { megabytes: 3, commits: 4, seed: 'x' });
    const b = await makeLargeRepo(join(env.dir, 'b.git'), { megabytes: 3, commits: 4, seed: 'x' });
    const c = await makeLargeRepo(join(env.dir, 'c.git'), { megabytes: 3, commits: 4, seed: 'y' });
    expect(a.packBytes).toBeGreaterThanOrEqual(3 * 1024 * 1024);
    expect(a.blobBytes).toBe(3 * 1024 * 1024);
    expect(b.head).toBe(a.head);
    expect(b.packBytes).toBe(a.packBytes);
    expect(c.head).not.toBe(a.head);
    await env.gitOk(['fsck', '--strict', '--no-dangling'], { cwd: a.path });
    expect((await env.gitOk(['rev-list', '--count', 'refs/heads/main'], { cwd: a.path })).stdout.trim()).toBe('4');
    const sizes = (await env.gitOk(['cat-file', '--batch-all-objects', '--batch-check=%(objecttype) %(objectsize)'], { cwd: a.path })).stdout;
    const blobTotal = sizes
      .split('\n')
      .filter((l) => l.startsWith('blob ') && Number(l.split(' ')[1]) > 1000)
      .reduce((sum, l) => sum + Number(l.split(' ')[1]), 0);
    expect(blobTotal).toBe(3 * 1024 * 1024);
  });

  it('refuses nonsensical parameters', async () => {
    await expect(makeLargeRepo(join(env.dir, 'bad.git'), { megabytes: 0, commits: 1, seed: 1 })).rejects.toMatchObject({ code: 'TESTKIT_BAD_OPTION' });
    await expect(makeLargeRepo(join(env.dir, 'bad.git'), { megabytes: 1, commits: 0.5, seed: 1 })).rejects.toMatchObject({ code: 'TESTKIT_BAD_OPTION' });
  });

  it('streams a 128 MiB clone through the upstream with flat memory', async () => {
    const upstream = await startGitUpstream();
    try {
      const repo = await makeLargeRepo(join(upstream.root, 'big.git'), { megabytes: 128, commits: 8, seed: 7 });
      const baseline = process.memoryUsage();
      let peakRss = baseline.rss;
      const sampler = setInterval(() => {
        const m = process.memoryUsage();
        peakRss = Math.max(peakRss, m.rss);
      }, 5);
      const dest = join(env.dir, 'big-clone');
      try {
        await env.gitOk(['clone', '-q', '--bare', upstream.repoUrl('big.git'), dest]);
      } finally {
        clearInterval(sampler);
      }
      expect(await env.revParse(dest, 'refs/heads/main')).toBe(repo.head);
      await upstream.settled();
      const pack = upstream.requests.filter((r) => r.method === 'POST').reduce((max, r) => Math.max(max, r.responseBytes), 0);
      expect(pack).toBeGreaterThan(128 * 1024 * 1024);
      // Streaming keeps growth to socket and pipe buffers and the chunks not yet collected (tens of
      // MiB at most: how far garbage runs ahead of the collector varies with the machine's load);
      // holding the pack would add 128 MiB.
      expect(peakRss - baseline.rss).toBeLessThan(64 * 1024 * 1024);
    } finally {
      await upstream.close();
    }
  });
});
