import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_LIMITS, isPushgateError, type Oid } from '@pushgate/core';
import { createGitEnv, startGitUpstream, type GitEnv, type GitUpstream } from '@pushgate/testkit';
import { Mirrors, readRefs, type MirrorSource } from './index';

const SECRET = 'mirror-secret-3f9a';
const credential = { username: 'x-access-token', password: SECRET };
const authorization = `Basic ${Buffer.from(`${credential.username}:${SECRET}`).toString('base64')}`;

let upstream: GitUpstream;
let env: GitEnv;
let root: string;
let mirrors: Mirrors;

const source = (repoPath: string, over: Partial<MirrorSource> = {}): MirrorSource => ({
  upstream: 'local',
  repoPath,
  url: `${upstream.url}/${repoPath}`,
  authorization,
  ...over,
});

beforeAll(async () => {
  upstream = await startGitUpstream({ auth: credential });
  env = await createGitEnv();
  root = await mkdtemp(join(tmpdir(), 'pg-mirrors-'));
  mirrors = new Mirrors({ root, maxPacks: 3, limits: DEFAULT_LIMITS });
  await upstream.createRepo('team/app.git', { initialCommit: true });
  await upstream.createRepo('team/sha256.git', { initialCommit: true, objectFormat: 'sha256' });
});

afterAll(async () => {
  await mirrors.close();
  await upstream.close();
  await env.cleanup();
  await rm(root, { recursive: true, force: true });
});

describe('Mirrors', () => {
  it('mirrors the upstream refs with the gateway credential and follows later pushes', async () => {
    const first = await mirrors.open(source('team/app.git'));
    first.release();
    expect([...first.refs.keys()]).toEqual(['refs/heads/main']);
    expect(first.gitDir).toBe(join(root, 'local', 'team', 'app.git'));
    expect(upstream.requests.every((r) => r.authorization === authorization)).toBe(true);

    const work = await env.initRepo();
    await env.gitOk(['pull', '-q', upstream.repoUrl('team/app.git', credential), 'main'], { cwd: work });
    const tip = await env.commitFiles(work, { 'a.txt': 'a\n' }, 'add a');
    await env.gitOk(['push', '-q', upstream.repoUrl('team/app.git', credential), 'HEAD:refs/heads/main', 'HEAD:refs/heads/feature'], { cwd: work });

    const second = await mirrors.open(source('team/app.git'));
    second.release();
    expect(Object.fromEntries(second.refs)).toEqual({ 'refs/heads/feature': tip, 'refs/heads/main': tip });
    expect(await readRefs(second.gitDir)).toEqual(second.refs);
    // The lease's object store already sees what this fetch brought.
    expect(second.objects.read(tip as Oid)?.type).toBe('commit');
    // Every fetch stays a pack (the object store reads packs through their indexes).
    const loose = (await readdir(join(second.gitDir, 'objects'))).filter((d) => /^[0-9a-f]{2}$/.test(d));
    expect(loose).toEqual([]);
  });

  it('prunes refs deleted upstream', async () => {
    const work = await env.initRepo();
    await env.gitOk(['push', '-q', upstream.repoUrl('team/app.git', credential), ':refs/heads/feature'], { cwd: work });
    const lease = await mirrors.open(source('team/app.git'));
    lease.release();
    expect([...lease.refs.keys()]).toEqual(['refs/heads/main']);
  });

  it('repacks when fetches have piled up packs', async () => {
    const work = await env.initRepo();
    await env.gitOk(['pull', '-q', upstream.repoUrl('team/app.git', credential), 'main'], { cwd: work });
    for (let i = 0; i < 5; i++) {
      await env.commitFiles(work, { [`n${i}.txt`]: `${i}\n` }, `n${i}`);
      await env.gitOk(['push', '-q', upstream.repoUrl('team/app.git', credential), 'HEAD:refs/heads/main'], { cwd: work });
      (await mirrors.open(source('team/app.git'))).release();
    }
    const packs = (await readdir(join(root, 'local', 'team', 'app.git', 'objects', 'pack'))).filter((f) => f.endsWith('.pack'));
    expect(packs.length).toBeLessThanOrEqual(4);
  });

  it('serialises concurrent fetches of one repository', async () => {
    const leases = await Promise.all([1, 2, 3].map(() => mirrors.open(source('team/app.git'))));
    leases.forEach((l) => l.release());
    expect(new Set(leases.map((l) => l.refs.get('refs/heads/main'))).size).toBe(1);
  });

  it.each([
    ['a refused credential', () => source('team/app.git', { authorization: 'Basic eDp3cm9uZw==' }), 'MIRROR_UPSTREAM_AUTH_REFUSED'],
    ['a repository the upstream does not have', () => source('team/nope.git'), 'MIRROR_REPO_NOT_FOUND'],
    ['an unreachable upstream', () => source('team/app.git', { url: 'http://127.0.0.1:9/team/app.git' }), 'MIRROR_UPSTREAM_UNREACHABLE'],
    ['a SHA-256 repository', () => source('team/sha256.git'), 'MIRROR_UNSUPPORTED_OBJECT_FORMAT'],
  ])('refuses with a specific code on %s, never showing the secret', async (_what, make, code) => {
    const error = await mirrors.open(make()).catch((e: unknown) => e);
    expect(isPushgateError(error, code)).toBe(true);
    expect(JSON.stringify(error)).not.toContain(SECRET);
    expect(String((error as Error).message)).not.toContain(SECRET);
  });

  it('refuses unsafe repository paths before touching the disk', () => {
    for (const repoPath of ['../escape.git', 'a/../../b.git', '.hidden/x.git', 'a//b.git', 'x.lock']) {
      expect(() => mirrors.pathFor({ upstream: 'local', repoPath })).toThrow(/unsafe mirror path/);
    }
  });
});

describe('Mirrors with the upstream refs advertised', () => {
  const repo = 'team/fast.git';
  let work: string;
  /** The upstream's refs as it has them: what an advertisement requested now would list. */
  const upstreamRefs = () => readRefs(join(upstream.root, repo));
  const requestsSince = (n: number) => upstream.requests.slice(n).map((r) => `${r.method} ${r.path}`);
  const pushNew = async (file: string): Promise<Oid> => {
    const tip = (await env.commitFiles(work, { [file]: `${file}\n` }, file)) as Oid;
    await env.gitOk(['push', '-q', upstream.repoUrl(repo, credential), 'HEAD:refs/heads/main'], { cwd: work });
    return tip;
  };

  beforeAll(async () => {
    await upstream.createRepo(repo, { initialCommit: true });
    work = await env.initRepo();
    await env.gitOk(['pull', '-q', upstream.repoUrl(repo, credential), 'main'], { cwd: work });
  });

  it('fetches for a mirror that does not exist yet, whatever was advertised', async () => {
    const lease = await mirrors.open(source(repo), { advertised: upstreamRefs() });
    lease.release();
    expect(lease.refsFrom).toBe('fetch');
    expect(lease.refs).toEqual(await upstreamRefs());
  });

  it('does not fetch when the mirror holds every advertised id, and leases the advertised refs', async () => {
    const before = upstream.requests.length;
    const advertised = await upstreamRefs();
    const lease = await mirrors.open(source(repo), { advertised: Promise.resolve(advertised) });
    lease.release();
    expect(lease.refsFrom).toBe('advertisement');
    expect(lease.refs).toBe(advertised);
    expect(requestsSince(before)).toEqual([]);
  });

  it('fetches when the upstream has moved past the mirror, and leases what it fetched', async () => {
    const tip = await pushNew('moved.txt');
    const advertised = await upstreamRefs();
    expect(advertised.get('refs/heads/main')).toBe(tip);
    const lease = await mirrors.open(source(repo), { advertised: Promise.resolve(advertised) });
    lease.release();
    expect(lease.refsFrom).toBe('fetch');
    expect(lease.refs.get('refs/heads/main')).toBe(tip);
    expect(lease.objects.read(tip)?.type).toBe('commit');
  });

  it('fetches when the advertisement could not be read', async () => {
    const tip = await pushNew('unread.txt');
    const lease = await mirrors.open(source(repo), { advertised: Promise.reject(new Error('no answer')) });
    lease.release();
    expect(lease.refsFrom).toBe('fetch');
    expect(lease.refs.get('refs/heads/main')).toBe(tip);
  });

  it('leases the advertised refs when they moved back to ids the mirror has (a rewound branch)', async () => {
    const old = (await upstreamRefs()).get('refs/heads/main')!;
    await pushNew('later.txt');
    (await mirrors.open(source(repo))).release();
    await env.gitOk(['push', '-q', '--force', upstream.repoUrl(repo, credential), `${old}:refs/heads/main`], { cwd: work });
    await env.gitOk(['reset', '-q', '--hard', old], { cwd: work });
    const before = upstream.requests.length;
    const lease = await mirrors.open(source(repo), { advertised: upstreamRefs() });
    lease.release();
    expect(lease.refsFrom).toBe('advertisement');
    expect(lease.refs.get('refs/heads/main')).toBe(old);
    expect(requestsSince(before)).toEqual([]);
  });

  it('refreshes in the background what a relayed push added, so the next push needs no fetch', async () => {
    const tip = await pushNew('relayed.txt');
    await mirrors.refresh(source(repo), [tip]);
    const before = upstream.requests.length;
    const lease = await mirrors.open(source(repo), { advertised: upstreamRefs() });
    lease.release();
    expect(lease.refsFrom).toBe('advertisement');
    expect(lease.objects.read(tip)?.type).toBe('commit');
    expect(requestsSince(before)).toEqual([]);
  });

  it('makes no request to refresh what the mirror already has, and joins requests that wait', async () => {
    const tip = (await upstreamRefs()).get('refs/heads/main')!;
    const before = upstream.requests.length;
    await mirrors.refresh(source(repo), [tip]);
    expect(requestsSince(before)).toEqual([]);

    // While a lease is held the refresh waits; a second request joins it and one fetch brings both.
    const held = await mirrors.open(source(repo), { advertised: upstreamRefs() });
    const first = await pushNew('joined-1.txt');
    const waiting = mirrors.refresh(source(repo), [first]);
    const second = await pushNew('joined-2.txt');
    const joined = mirrors.refresh(source(repo), [second]);
    expect(joined).toBe(waiting);
    held.release();
    await joined;
    const lease = await mirrors.open(source(repo), { advertised: upstreamRefs() });
    lease.release();
    expect(lease.refsFrom).toBe('advertisement');
    expect(lease.objects.read(second)?.type).toBe('commit');
    expect(upstream.requests.slice(before).filter((r) => r.query === 'service=git-upload-pack').length).toBe(1);
  });

  it('logs a failed background refresh and leaves the next push to fetch for itself', async () => {
    const before = upstream.requests.length;
    await expect(mirrors.refresh(source(repo, { authorization: 'Basic eDp3cm9uZw==' }), ['1'.repeat(40) as Oid])).resolves.toBeUndefined();
    expect(upstream.requests.slice(before).some((r) => r.outcome.kind === 'unauthorized')).toBe(true);
  });

  /** Fetches the mirror made since request `n` (each starts with the upload-pack advertisement). */
  const fetchesSince = (n: number) => upstream.requests.slice(n).filter((r) => r.query === 'service=git-upload-pack').length;

  it('prefetches what a receive-pack advertisement names; the push that follows waits for it and fetches nothing', async () => {
    const tip = await pushNew('prefetched.txt');
    const before = upstream.requests.length;
    mirrors.prefetch(source(repo), upstreamRefs());
    // Opened at once: the push waits for the prefetch rather than fetching beside it.
    const lease = await mirrors.open(source(repo), { advertised: upstreamRefs() });
    lease.release();
    expect(lease.refsFrom).toBe('advertisement');
    expect(lease.objects.read(tip)?.type).toBe('commit');
    expect(fetchesSince(before)).toBe(1);
  });

  it('makes no request to prefetch what the mirror already has, nor for an advertisement that could not be read', async () => {
    const before = upstream.requests.length;
    mirrors.prefetch(source(repo), upstreamRefs());
    mirrors.prefetch(source(repo), Promise.reject(new Error('truncated')));
    await mirrors.settled();
    expect(requestsSince(before)).toEqual([]);
  });

  it('runs one prefetch per mirror however many advertisements ask at once', async () => {
    // A held lease keeps the prefetch waiting for the mirror's lock while the others arrive.
    const held = await mirrors.open(source(repo), { advertised: upstreamRefs() });
    const tip = await pushNew('shared.txt');
    const before = upstream.requests.length;
    for (let i = 0; i < 4; i++) mirrors.prefetch(source(repo), upstreamRefs());
    held.release();
    await mirrors.settled();
    expect(fetchesSince(before)).toBe(1);
    const lease = await mirrors.open(source(repo), { advertised: upstreamRefs() });
    lease.release();
    expect(lease.refsFrom).toBe('advertisement');
    expect(lease.objects.read(tip)?.type).toBe('commit');
  });

  it('fetches once when a prefetch comes while the refresh after a relayed push waits for the lock', async () => {
    const held = await mirrors.open(source(repo), { advertised: upstreamRefs() });
    const relayed = await pushNew('relayed-then-moved.txt');
    const before = upstream.requests.length;
    const refreshed = mirrors.refresh(source(repo), [relayed]);
    const moved = await pushNew('moved-after-relay.txt');
    mirrors.prefetch(source(repo), upstreamRefs());
    held.release();
    await refreshed;
    await mirrors.settled();
    // The refresh fetched everything the upstream had, the moved tip included: the prefetch found it there.
    expect(fetchesSince(before)).toBe(1);
    const lease = await mirrors.open(source(repo), { advertised: upstreamRefs() });
    lease.release();
    expect(lease.refsFrom).toBe('advertisement');
    expect(lease.objects.read(moved)?.type).toBe('commit');
  });

  it('logs a failed prefetch and leaves the push to fetch for itself', async () => {
    const tip = await pushNew('prefetch-refused.txt');
    const before = upstream.requests.length;
    mirrors.prefetch(source(repo, { authorization: 'Basic eDp3cm9uZw==' }), upstreamRefs());
    const lease = await mirrors.open(source(repo), { advertised: upstreamRefs() });
    lease.release();
    expect(upstream.requests.slice(before).some((r) => r.outcome.kind === 'unauthorized')).toBe(true);
    expect(lease.refsFrom).toBe('fetch');
    expect(lease.objects.read(tip)?.type).toBe('commit');
  });

  it('stops background work at close and opens nothing afterwards', async () => {
    const own = new Mirrors({ root: await mkdtemp(join(tmpdir(), 'pg-mirrors-close-')), limits: DEFAULT_LIMITS });
    const tip = (await upstreamRefs()).get('refs/heads/main')!;
    const pending = own.refresh(source(repo), [tip]);
    await own.close();
    await pending;
    await expect(own.refresh(source(repo), [tip])).resolves.toBeUndefined();
  });
});

describe('Mirrors closing unused object stores', () => {
  it('closes the least recently used beyond the bound at once, the rest once idle, and never one in use', async () => {
    await upstream.createRepo('team/lru-a.git', { initialCommit: true });
    await upstream.createRepo('team/lru-b.git', { initialCommit: true });
    const own = new Mirrors({ root: await mkdtemp(join(tmpdir(), 'pg-mirrors-lru-')), limits: DEFAULT_LIMITS, storeIdleMs: 300, maxIdleStores: 1 });
    try {
      const a = await own.open(source('team/lru-a.git'));
      const b = await own.open(source('team/lru-b.git'));
      expect(own.openStores).toBe(2);
      a.release();
      b.release();
      expect(own.openStores).toBe(1);
      // The survivor is the most recently used, and still reads.
      const again = await own.open(source('team/lru-b.git'), { advertised: Promise.resolve(b.refs) });
      expect(again.refsFrom).toBe('advertisement');
      await new Promise((r) => setTimeout(r, 700));
      expect(own.openStores).toBe(1);
      expect(again.objects.read(b.refs.get('refs/heads/main')!)?.type).toBe('commit');
      again.release();
      await new Promise((r) => setTimeout(r, 700));
      expect(own.openStores).toBe(0);
      // A closed store is reopened from disk by the next push, with no fetch.
      const reopened = await own.open(source('team/lru-a.git'), { advertised: Promise.resolve(a.refs) });
      reopened.release();
      expect(reopened.refsFrom).toBe('advertisement');
    } finally {
      await own.close();
    }
  });
});
