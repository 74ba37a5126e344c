import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { createGitEnv, FLUSH, makeLargeRepo, pkt, type GitEnv } from '@pushgate/testkit';
import { startGitUpstream, type FaultRequest, type GitUpstream, type UpstreamRequestLog } from './upstream';

let env: GitEnv;
beforeAll(async () => {
  env = await createGitEnv();
});
afterAll(async () => {
  await env.cleanup();
});

/** Runs `body` against a fresh upstream that is always closed afterwards. */
async function withUpstream<T>(options: Parameters<typeof startGitUpstream>[0], body: (u: GitUpstream) => Promise<T>): Promise<T> {
  const upstream = await startGitUpstream(options);
  try {
    return await body(upstream);
  } finally {
    await upstream.close();
  }
}

const isPost = (service: string) => (r: UpstreamRequestLog) => r.method === 'POST' && r.path.endsWith(`/${service}`);

/** A raw HTTP GET (no git client) returning status and body. */
function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    request(url, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    })
      .on('error', reject)
      .end();
  });
}

/** Ids of running processes whose environment names `root` as GIT_PROJECT_ROOT (http-backend and its children). */
async function backendProcesses(root: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of (await readdir('/proc')).filter((p) => /^\d+$/.test(p))) {
    const environ = await readFile(`/proc/${pid}/environ`, 'latin1').catch(() => '');
    if (environ.split('\0').includes(`GIT_PROJECT_ROOT=${root}`)) found.push(pid);
  }
  return found;
}

/** Fails instead of hanging when `p` does not settle within `ms`. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

describe('startGitUpstream', () => {
  it('serves clones over protocol v2 and v0, and logs what each request was', async () => {
    await withUpstream({}, async (u) => {
      const path = await u.createRepo('org/app.git', {
        initialCommit: { 'README.md': '# app\n', 'bin/run': { executable: '#!/bin/sh\necho hi\n' }, 'link': { symlink: 'README.md' } },
      });
      expect(path).toBe(join(u.root, 'org/app.git'));
      const head = (await env.gitOk(['rev-parse', 'refs/heads/main'], { cwd: path })).stdout.trim();

      const v2 = join(env.dir, 'clone-v2');
      await env.gitOk(['-c', 'protocol.version=2', 'clone', '-q', u.repoUrl('org/app.git'), v2]);
      expect(await env.revParse(v2, 'HEAD')).toBe(head);
      const tree = (await env.gitOk(['ls-tree', '-r', 'HEAD'], { cwd: v2 })).stdout;
      expect(tree).toMatch(/^100755 blob \w+\tbin\/run$/m);
      expect(tree).toMatch(/^120000 blob \w+\tlink$/m);

      await u.settled();
      const v2Requests = [...u.requests];
      expect(v2Requests.map((r) => `${r.method} ${r.path}?${r.query} ${r.status}`)).toEqual([
        'GET /org/app.git/info/refs?service=git-upload-pack 200',
        'POST /org/app.git/git-upload-pack? 200',
        'POST /org/app.git/git-upload-pack? 200',
      ]);
      for (const r of v2Requests) {
        expect(r.gitProtocol).toBe('version=2');
        expect(r.outcome).toEqual({ kind: 'served', exitCode: 0 });
        expect(r.authorization).toBeUndefined();
        expect(r.responseBytes).toBeGreaterThan(0);
        expect(r.userAgent).toMatch(/^git\/2\./);
      }
      for (const r of v2Requests.filter(isPost('git-upload-pack'))) {
        expect(r.contentType).toBe('application/x-git-upload-pack-request');
        expect(r.requestBytes).toBe(r.contentLength);
      }

      const v0 = join(env.dir, 'clone-v0');
      await env.gitOk(['-c', 'protocol.version=0', 'clone', '-q', u.repoUrl('org/app.git'), v0]);
      expect(await env.revParse(v0, 'HEAD')).toBe(head);
      await u.settled();
      const v0Requests = u.requests.slice(v2Requests.length);
      expect(v0Requests.map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual([
        'GET /org/app.git/info/refs 200',
        'POST /org/app.git/git-upload-pack 200',
      ]);
      expect(v0Requests.every((r) => r.gitProtocol === undefined)).toBe(true);
    });
  });

  it('accepts pushes, including a chunked one, and serves fetches of what was pushed', async () => {
    await withUpstream({}, async (u) => {
      await u.createRepo('push.git', { initialCommit: true });
      const work = join(env.dir, 'push-work');
      await env.gitOk(['clone', '-q', u.repoUrl('push.git'), work]);
      const small = await env.commitFiles(work, { 'a.txt': 'a\n' }, 'small change\n');
      await env.gitOk(['push', '-q', 'origin', 'main'], { cwd: work });
      expect(await env.revParse(join(u.root, 'push.git'), 'refs/heads/main')).toBe(small);

      // Over http.postBuffer git cannot know the body's length up front and sends it chunked.
      const big = await env.commitFiles(work, { 'blob.bin': randomBytes(256 * 1024) }, 'large change\n');
      const before = u.requests.length;
      await env.gitOk(['-c', 'http.postBuffer=4096', 'push', '-q', 'origin', 'main:refs/heads/feature'], { cwd: work });
      expect(await env.revParse(join(u.root, 'push.git'), 'refs/heads/feature')).toBe(big);
      await u.settled();
      const posts = u.requests.slice(before).filter(isPost('git-receive-pack'));
      const chunked = posts.filter((r) => r.transferEncoding === 'chunked');
      expect(chunked).toHaveLength(1);
      expect(chunked[0]?.contentLength).toBeUndefined();
      expect(chunked[0]?.requestBytes).toBeGreaterThan(256 * 1024);
      expect(chunked[0]?.outcome).toEqual({ kind: 'served', exitCode: 0 });

      const other = join(env.dir, 'push-other');
      await env.gitOk(['clone', '-q', u.repoUrl('push.git'), other]);
      const next = await env.commitFiles(work, { 'a.txt': 'b\n' }, 'after clone\n');
      await env.gitOk(['push', '-q', 'origin', 'main'], { cwd: work });
      await env.gitOk(['fetch', '-q', 'origin'], { cwd: other });
      expect(await env.revParse(other, 'refs/remotes/origin/main')).toBe(next);
      expect(await env.revParse(other, 'refs/remotes/origin/feature')).toBe(big);
    });
  });

  it('inflates gzip-encoded upload-pack requests (v0 and v2)', async () => {
    await withUpstream({}, async (u) => {
      await u.createRepo('many.git');
      const work = await env.initRepo();
      // Forty tags on forty commits: the clone's want list is over git's 1 KiB gzip threshold.
      for (let i = 0; i < 40; i++) {
        await env.commitFiles(work, { 'n.txt': `${i}\n` }, `commit ${i}\n`);
        await env.gitOk(['tag', `t${i}`], { cwd: work });
      }
      await env.gitOk(['push', '-q', u.repoUrl('many.git'), 'main', '--tags'], { cwd: work });
      for (const version of ['0', '2']) {
        const before = u.requests.length;
        const dest = join(env.dir, `many-v${version}`);
        await env.gitOk(['-c', `protocol.version=${version}`, 'clone', '-q', '--mirror', u.repoUrl('many.git'), dest]);
        expect(await env.revParse(dest, 'refs/tags/t0')).toBe(await env.revParse(work, 'refs/tags/t0'));
        await u.settled();
        const gz = u.requests.slice(before).filter((r) => isPost('git-upload-pack')(r) && r.contentEncoding === 'gzip');
        expect(gz.length).toBeGreaterThan(0);
        expect(gz.every((r) => r.status === 200 && r.requestBytes === r.contentLength)).toBe(true);
      }
    });
  });

  it('refuses requests without the exact Basic credential and logs the header that arrived', async () => {
    const auth = { username: 'svc', password: 's3cret' };
    await withUpstream({ auth }, async (u) => {
      await u.createRepo('private.git', { initialCommit: true });
      const none = await env.git(['clone', '-q', u.repoUrl('private.git'), join(env.dir, 'p1')]);
      expect(none.code).toBe(128);
      expect(none.stderr).toMatch(/terminal prompts disabled|Authentication failed/);
      expect(u.requests.at(-1)).toMatchObject({ status: 401, authorization: undefined, outcome: { kind: 'unauthorized' } });

      const wrong = await env.git(['clone', '-q', u.repoUrl('private.git', { username: 'svc', password: 'nope' }), join(env.dir, 'p2')]);
      expect(wrong.code).toBe(128);
      expect(wrong.stderr).toMatch(/Authentication failed/);
      const wrongHeader = `Basic ${Buffer.from('svc:nope').toString('base64')}`;
      expect(u.requests.filter((r) => r.authorization === wrongHeader).every((r) => r.status === 401)).toBe(true);
      expect(u.requests.some((r) => r.authorization === wrongHeader)).toBe(true);

      const before = u.requests.length;
      await env.gitOk(['clone', '-q', u.repoUrl('private.git', auth), join(env.dir, 'p3')]);
      await u.settled();
      const good = `Basic ${Buffer.from('svc:s3cret').toString('base64')}`;
      const served = u.requests.slice(before).filter((r) => r.status === 200);
      expect(served.length).toBeGreaterThanOrEqual(2);
      expect(served.every((r) => r.authorization === good)).toBe(true);
    });
  });

  it('injects faults: an HTTP status, or a dropped connection', async () => {
    let mode: 'none' | '503' | 'close' | 'push-500' = 'none';
    const seen: FaultRequest[] = [];
    const fault = (req: FaultRequest) => {
      seen.push(req);
      if (mode === '503') return 503;
      if (mode === 'close') return 'close' as const;
      if (mode === 'push-500' && req.method === 'POST' && req.path.endsWith('/git-receive-pack')) return 500;
      return undefined;
    };
    await withUpstream({ fault }, async (u) => {
      const repo = await u.createRepo('faulty.git', { initialCommit: true });
      mode = '503';
      const r503 = await env.git(['clone', '-q', u.repoUrl('faulty.git'), join(env.dir, 'f1')]);
      expect(r503.code).toBe(128);
      expect(r503.stderr).toMatch(/503/);
      expect(u.requests.at(-1)).toMatchObject({ status: 503, outcome: { kind: 'fault', fault: 503 } });

      mode = 'close';
      const closed = await env.git(['clone', '-q', u.repoUrl('faulty.git'), join(env.dir, 'f2')]);
      expect(closed.code).toBe(128);
      expect(closed.stderr).toMatch(/Empty reply from server|Recv failure|Connection reset|remote end hung up/i);
      expect(u.requests.at(-1)).toMatchObject({ status: undefined, outcome: { kind: 'fault', fault: 'close' } });

      mode = 'none';
      const work = join(env.dir, 'f3');
      await env.gitOk(['clone', '-q', u.repoUrl('faulty.git'), work]);
      const before = await env.revParse(repo, 'refs/heads/main');
      await env.commitFiles(work, { 'x.txt': 'x\n' }, 'x\n');
      mode = 'push-500';
      const push = await env.git(['push', '-q', 'origin', 'main'], { cwd: work });
      expect(push.code).not.toBe(0);
      expect(push.stderr).toMatch(/500/);
      expect(await env.revParse(repo, 'refs/heads/main')).toBe(before);
      expect(seen.map((s) => s.index)).toEqual(seen.map((_, i) => i));
    });
  });

  it('serves concurrent clones, each logged once', async () => {
    await withUpstream({}, async (u) => {
      const files: Record<string, Buffer> = {};
      for (let i = 0; i < 20; i++) files[`f${i}.bin`] = randomBytes(64 * 1024);
      const path = await u.createRepo('busy.git', { initialCommit: files });
      const head = await env.revParse(path, 'refs/heads/main');
      const dests = Array.from({ length: 6 }, (_, i) => join(env.dir, `busy-${i}`));
      await Promise.all(dests.map((d, i) => env.gitOk(['-c', `protocol.version=${i % 2 === 0 ? 2 : 0}`, 'clone', '-q', u.repoUrl('busy.git'), d])));
      for (const d of dests) expect(await env.revParse(d, 'HEAD')).toBe(head);
      await u.settled();
      expect(u.requests).toHaveLength(3 * 3 + 3 * 2);
      expect(u.requests.map((r) => r.id)).toEqual(u.requests.map((_, i) => i));
      expect(u.requests.every((r) => r.outcome.kind === 'served' && r.status === 200)).toBe(true);
      const packs = u.requests.filter((r) => isPost('git-upload-pack')(r) && r.responseBytes > 20 * 64 * 1024);
      expect(packs).toHaveLength(6);
    });
  });

  it('answers what http-backend answers for unknown repositories, with its stderr captured', async () => {
    await withUpstream({}, async (u) => {
      const r = await env.git(['ls-remote', u.repoUrl('missing.git')]);
      expect(r.code).toBe(128);
      await u.settled();
      expect(u.requests[0]).toMatchObject({ status: 404, outcome: { kind: 'served' } });
      expect(u.requests[0]?.stderr).toMatch(/not a git repository|Request not supported/i);
    });
  });

  it('refuses paths that leave the project root, and repository names that would', async () => {
    await withUpstream({}, async (u) => {
      await u.createRepo('safe.git', { initialCommit: true });
      const res = await get(`${u.url}/safe.git%2F..%2F..%2Fetc/info/refs`);
      expect(res.status).toBe(400);
      expect(u.requests.at(-1)?.outcome).toEqual({ kind: 'bad-request', reason: 'path has an empty, "." or ".." segment' });
      const ok = await get(`${u.url}/safe.git/info/refs?service=git-upload-pack`);
      expect(ok.status).toBe(200);
      expect(ok.body.startsWith('001e# service=git-upload-pack\n')).toBe(true);
      await expect(u.createRepo('../escape.git')).rejects.toMatchObject({ code: 'GIT_SERVER_BAD_REPO_PATH' });
      await expect(u.createRepo('/abs.git')).rejects.toMatchObject({ code: 'GIT_SERVER_BAD_REPO_PATH' });
    });
  });

  it('creates SHA-256 repositories on request', async () => {
    await withUpstream({}, async (u) => {
      await u.createRepo('sha256.git', { objectFormat: 'sha256', initialCommit: true });
      const r = await env.gitOk(['ls-remote', u.repoUrl('sha256.git'), 'refs/heads/main']);
      expect(r.stdout).toMatch(/^[0-9a-f]{64}\trefs\/heads\/main\n$/);
    });
  });

  it('stops the backend when a client goes away mid-response or mid-request', async () => {
    await withUpstream({}, async (u) => {
      const big = await makeLargeRepo(join(u.root, 'big.git'), { megabytes: 16, commits: 2, seed: 'abort' });
      await u.createRepo('push.git', { initialCommit: true });
      const port = Number(new URL(u.url).port);

      // A fetch whose client reads the first bytes of the pack and hangs up.
      const body = pkt(`want ${big.head}\n`, FLUSH, 'done\n');
      await new Promise<void>((resolve, reject) => {
        const req = request({ port, host: '127.0.0.1', method: 'POST', path: '/big.git/git-upload-pack', agent: false, headers: { 'content-type': 'application/x-git-upload-pack-request' } }, (res) => {
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        });
        req.on('error', () => {});
        req.once('error', reject);
        req.end(body);
      });
      await within(u.settled(), 10_000, 'the aborted fetch');
      const fetch = u.requests.at(-1);
      expect(fetch).toMatchObject({ status: 200, outcome: { kind: 'failed' } });
      expect(fetch?.responseBytes).toBeLessThan(16 * 1024 * 1024);

      // A chunked push whose client stops after the commands and half a pack header.
      const push = request({ port, host: '127.0.0.1', method: 'POST', path: '/push.git/git-receive-pack', agent: false, headers: { 'content-type': 'application/x-git-receive-pack-request', 'transfer-encoding': 'chunked' } });
      push.on('error', () => {});
      push.write(pkt(`${'0'.repeat(40)} ${big.head} refs/heads/new\0report-status\n`, FLUSH));
      push.write(Buffer.from('PACK\0\0'));
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(await backendProcesses(u.root)).not.toEqual([]);
      push.destroy();
      await within(u.settled(), 10_000, 'the aborted push');
      expect(u.requests.at(-1)).toMatchObject({ path: '/push.git/git-receive-pack', outcome: { kind: 'failed' } });
      expect(await backendProcesses(u.root)).toEqual([]);
    });
  });

  it('removes its temporary directories and kills nothing it did not start on close', async () => {
    const u = await startGitUpstream();
    await u.createRepo('x.git');
    await u.close();
    await expect(get(`${u.url}/x.git/info/refs`)).rejects.toThrow();
    const { existsSync } = await import('node:fs');
    expect(existsSync(u.root)).toBe(false);
  });
});
