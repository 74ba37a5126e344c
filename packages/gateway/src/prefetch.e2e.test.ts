/**
 * The mirror's fetch starting at the receive-pack advertisement, end to end with the real git
 * client and a real upstream: when the upstream moved since the gateway's last push (a direct push
 * to another branch, as a merge on the forge or a bot would make), the fetch runs while the client
 * packs and sends, and the push itself fetches nothing. Fetches are read from the gateway's
 * `pushgate_mirror_fetches_total` counter, by reason; `idle()` waits for background mirror work.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { writeFile } from 'node:fs/promises';
import { get as httpGet } from 'node:http';
import { join } from 'node:path';
import { startHarness, type Harness } from './testing/harness';

/** When set, the next fetch the mirror makes (git's own upload-pack advertisement request) is answered 500. */
let failNextMirrorFetch = false;

describe('the mirror fetching at the receive-pack advertisement', () => {
  let h: Harness;
  let token: string;
  let work: string;
  let mover: string;
  const repo = 'team/moving.git';

  /** Successful (and failed) mirror fetches so far, by reason. */
  const fetches = async () => {
    const metric = await h.inProcess!.metrics.mirrorFetches.get();
    const count = (reason: string, result = 'ok') => metric.values.filter((v) => v.labels.reason === reason && v.labels.result === result).reduce((n, v) => n + v.value, 0);
    return { push: count('push'), prefetch: count('prefetch'), prefetchFailed: count('prefetch', 'failed'), refresh: count('refresh') };
  };
  const since = async (before: Awaited<ReturnType<typeof fetches>>) => {
    const now = await fetches();
    return { push: now.push - before.push, prefetch: now.prefetch - before.prefetch, prefetchFailed: now.prefetchFailed - before.prefetchFailed };
  };
  const directUrl = () => h.upstream.repoUrl(repo, { username: 'x-access-token', password: h.secret });
  /** Moves the upstream as another writer would: a new commit pushed straight to another branch. */
  const moveUpstream = async (name: string): Promise<string> => {
    const tip = await h.git.commitFiles(mover, { [`${name}.txt`]: `${name}\n` }, name);
    await h.git.gitOk(['push', '-q', directUrl(), 'HEAD:refs/heads/side'], { cwd: mover });
    return tip;
  };
  const pushThroughGateway = async (name: string) => {
    await h.git.commitFiles(work, { [`${name}.txt`]: `${name}\n` }, name);
    const r = await h.git.git(['push', 'origin', 'HEAD:refs/heads/main'], { cwd: work });
    expect(r.code).toBe(0);
    await h.inProcess!.idle();
  };
  const advertisementUrl = (path = repo) => `${h.gateway.url}/local/${path}/info/refs?service=git-receive-pack`;
  const bearer = () => ({ authorization: `Bearer ${token}` });

  beforeAll(async () => {
    h = await startHarness({
      fault: (req) => {
        // The mirror's fetch is git's: its advertisement request carries git's user agent, unlike
        // the gateway's own request for the refs when a push arrives.
        if (failNextMirrorFetch && req.query === 'service=git-upload-pack' && String(req.headers['user-agent'] ?? '').startsWith('git/')) {
          failNextMirrorFetch = false;
          return 500;
        }
        return undefined;
      },
    });
    token = await h.token({ sub: 'alice' });
    await h.upstream.createRepo(repo, { initialCommit: { 'README.md': 'moving\n' } });
    work = join(h.git.dir, 'work');
    await h.git.gitOk(['clone', '-q', h.remote(repo, token), work]);
    mover = join(h.git.dir, 'mover');
    await h.git.gitOk(['clone', '-q', directUrl(), mover]);
    // The mirror exists and is current before the tests start.
    await pushThroughGateway('warm-up');
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('fetches while the client sends when the upstream moved, so the push fetches nothing', async () => {
    const moved = await moveUpstream('moved-1');
    const before = await fetches();
    await pushThroughGateway('after-move-1');
    expect(await since(before)).toEqual({ push: 0, prefetch: 1, prefetchFailed: 0 });
    // The push was inspected against the moved upstream: its refs (side included) were learnt.
    const row = (await h.auditRows()).filter((e) => e.kind === 'http.request' && e.service === 'git-receive-pack' && (e.detail as { method?: string }).method === 'POST').pop()!;
    expect(row.outcome).toBe('ok');
    expect((row.detail as { inspection: { upstream: { refs: number } } }).inspection.upstream.refs).toBe(2);
    expect((await h.git.gitOk(['--git-dir', join(h.gateway.dataDir, 'mirrors', 'local', repo), 'cat-file', '-t', moved])).stdout.trim()).toBe('commit');
  });

  it('fetches nothing at the advertisement when the upstream is quiet', async () => {
    const before = await fetches();
    await pushThroughGateway('quiet');
    expect(await since(before)).toEqual({ push: 0, prefetch: 0, prefetchFailed: 0 });
  });

  it('runs one fetch for advertisements requested at once', async () => {
    await moveUpstream('moved-2');
    const before = await fetches();
    const answers = await Promise.all([1, 2, 3, 4].map(() => fetch(advertisementUrl(), { headers: bearer() })));
    for (const a of answers) {
      expect(a.status).toBe(200);
      expect(Buffer.from(await a.arrayBuffer()).toString('latin1')).toContain('refs/heads/side');
    }
    await h.inProcess!.idle();
    expect(await since(before)).toEqual({ push: 0, prefetch: 1, prefetchFailed: 0 });
  });

  it('leaves the push to fetch for itself when the prefetch fails', async () => {
    await moveUpstream('moved-3');
    const before = await fetches();
    failNextMirrorFetch = true;
    await pushThroughGateway('after-failed-prefetch');
    expect(failNextMirrorFetch).toBe(false);
    expect(await since(before)).toEqual({ push: 1, prefetch: 0, prefetchFailed: 1 });
  });

  it('finishes the prefetch when the client goes away right after reading the advertisement', async () => {
    const moved = await moveUpstream('moved-4');
    const before = await fetches();
    // Reads pkt-lines until the flush that ends the refs, then drops the connection at once.
    await new Promise<void>((resolve, reject) => {
      const req = httpGet(advertisementUrl(), { headers: bearer() }, (res) => {
        let buffered = Buffer.alloc(0);
        let flushes = 0;
        res.on('data', (chunk: Buffer) => {
          buffered = Buffer.concat([buffered, chunk]);
          while (buffered.length >= 4) {
            const size = parseInt(buffered.subarray(0, 4).toString('latin1'), 16);
            if (size === 0) {
              flushes++;
              buffered = buffered.subarray(4);
              // The first flush ends the `# service=` header; the second, the refs.
              if (flushes === 2) {
                req.destroy();
                resolve();
                return;
              }
              continue;
            }
            if (buffered.length < size) break;
            buffered = buffered.subarray(size);
          }
        });
        res.on('error', () => undefined);
      });
      req.on('error', (e) => (req.destroyed ? undefined : reject(e)));
    });
    await h.inProcess!.idle();
    expect(await since(before)).toEqual({ push: 0, prefetch: 1, prefetchFailed: 0 });
    expect((await h.git.gitOk(['--git-dir', join(h.gateway.dataDir, 'mirrors', 'local', repo), 'cat-file', '-t', moved])).stdout.trim()).toBe('commit');
  });

  it('does no upstream work for a caller that is not authenticated', async () => {
    await moveUpstream('moved-5');
    const before = await fetches();
    const requests = h.upstream.requests.length;
    const refused = await fetch(advertisementUrl());
    expect(refused.status).toBe(401);
    const wrong = await fetch(advertisementUrl(), { headers: { authorization: 'Bearer not-a-token' } });
    expect(wrong.status).toBe(401);
    await h.inProcess!.idle();
    expect(h.upstream.requests.length).toBe(requests);
    expect(await since(before)).toEqual({ push: 0, prefetch: 0, prefetchFailed: 0 });
  });

  it('reads an empty repository’s advertisement (capabilities^{}) and one with .have lines, fetching only for refs', async () => {
    await h.upstream.createRepo('team/empty.git');
    const fork = await h.upstream.createRepo('team/fork.git');
    // Objects borrowed from another repository are advertised by receive-pack as `.have` lines.
    await writeFile(join(fork, 'objects', 'info', 'alternates'), `${join(h.upstream.root, repo, 'objects')}\n`);
    const before = await fetches();
    for (const path of ['team/empty.git', 'team/fork.git']) {
      const answer = await fetch(advertisementUrl(path), { headers: bearer() });
      expect(answer.status).toBe(200);
      const text = Buffer.from(await answer.arrayBuffer()).toString('latin1');
      expect(text).toContain(path === 'team/empty.git' ? 'capabilities^{}' : ' .have');
    }
    await h.inProcess!.idle();
    // Neither names a ref: nothing to fetch.
    expect(await since(before)).toEqual({ push: 0, prefetch: 0, prefetchFailed: 0 });

    // The fork gets a branch: its advertisement now has a ref besides the .have lines.
    const clone = join(h.git.dir, 'fork-work');
    await h.git.gitOk(['clone', '-q', h.remote('team/fork.git', token), clone]);
    await h.git.commitFiles(clone, { 'f.txt': 'fork\n' }, 'fork');
    const pushed = await h.git.git(['push', 'origin', 'HEAD:refs/heads/main'], { cwd: clone });
    expect(pushed.code).toBe(0);
    await h.inProcess!.idle();
    const afterPush = await fetches();
    const answer = await fetch(advertisementUrl('team/fork.git'), { headers: bearer() });
    const text = Buffer.from(await answer.arrayBuffer()).toString('latin1');
    expect(text).toContain(' .have');
    expect(text).toContain('refs/heads/main');
    await h.inProcess!.idle();
    // The mirror already holds main (the push's own refresh brought it), and `.have` is not a ref.
    expect(await since(afterPush)).toEqual({ push: 0, prefetch: 0, prefetchFailed: 0 });
  });
});
