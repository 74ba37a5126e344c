/**
 * End to end with the real git client: clone, fetch (protocol v0 and v2) and every kind of push
 * through the gateway to a real upstream that only the gateway holds the credential for, on both
 * database backends. Asserts what the upstream then contains (with git itself), which credential
 * reached it, that its secret is nowhere the client or the logs could see, and the audit record.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { testDatabases, type TestDatabase } from '@pushgate/store/testing';
import { basicAuthorization } from '@pushgate/relay';
import { startHarness, type Harness } from './testing/harness';

const backends: TestDatabase[] = await testDatabases();

describe.each(backends.map((db) => [db.name, db] as const))('through the gateway on %s', (_name, db) => {
  let h: Harness;
  let token: string;
  let upstreamRepo: string;
  /** Everything git printed, for the secret check. */
  const seen: string[] = [];

  const git = async (args: string[], cwd?: string) => {
    const r = await h.git.git(args, { cwd });
    seen.push(r.stdout, r.stderr);
    return r;
  };
  const gitOk = async (args: string[], cwd?: string) => {
    const r = await git(args, cwd);
    if (r.code !== 0) throw new Error(`git ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return r;
  };
  /** The upstream's refs, read with git directly from its bare repository. */
  const upstreamRefs = async () => {
    const out = (await h.git.gitOk(['--git-dir', upstreamRepo, 'for-each-ref', '--format=%(objectname) %(refname)'])).stdout;
    return new Map(
      out
        .trim()
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => {
          const [oid, ref] = l.split(' ');
          return [ref, oid] as const;
        }),
    );
  };

  beforeAll(async () => {
    h = await startHarness({ db });
    upstreamRepo = await h.upstream.createRepo('team/app.git', { initialCommit: { 'README.md': 'hello\n', 'src/main.c': 'int main(){}\n' } });
    // A hook that talks: its output reaches the pusher as `remote:` lines over side-band.
    await writeFile(join(upstreamRepo, 'hooks', 'post-receive'), '#!/bin/sh\necho "upstream hook saw the push"\n');
    await chmod(join(upstreamRepo, 'hooks', 'post-receive'), 0o755);
    // The upstream's own policy refuses one branch: its `ng` must reach the pusher and the record.
    await writeFile(
      join(upstreamRepo, 'hooks', 'pre-receive'),
      '#!/bin/sh\nwhile read old new ref; do if [ "$ref" = refs/heads/blocked ]; then echo "blocked by upstream policy"; exit 1; fi; done\n',
    );
    await chmod(join(upstreamRepo, 'hooks', 'pre-receive'), 0o755);
    token = await h.token({ sub: 'alice', email: 'alice@example.com', groups: ['dev'], agent: true });
  });
  afterAll(async () => {
    await h?.stop();
    await db.cleanup();
  });

  it('clones over protocol v2 and v0, and fetches', async () => {
    await gitOk(['-c', 'protocol.version=2', 'clone', h.remote('team/app.git', token), 'v2']);
    await gitOk(['-c', 'protocol.version=0', 'clone', h.remote('team/app.git', token), 'v0']);
    const head = await h.git.revParse(join(h.git.dir, 'v2'), 'HEAD');
    expect(await h.git.revParse(join(h.git.dir, 'v0'), 'HEAD')).toBe(head);
    expect((await upstreamRefs()).get('refs/heads/main')).toBe(head);
    const versions = h.upstream.requests.map((r) => r.gitProtocol);
    expect(versions).toContain('version=2');
    expect(versions).toContain(undefined);

    // Someone else pushes directly upstream; fetch through the gateway brings it.
    const other = await h.git.initRepo('other');
    await h.git.gitOk(['fetch', upstreamRepo, 'main'], { cwd: other });
    await h.git.gitOk(['reset', '-q', '--hard', 'FETCH_HEAD'], { cwd: other });
    const newer = await h.git.commitFiles(other, { 'NEWS.md': 'news\n' }, 'news');
    await h.git.gitOk(['push', upstreamRepo, 'main:main'], { cwd: other });
    for (const v of ['0', '2']) {
      await gitOk(['-c', `protocol.version=${v}`, 'fetch', 'origin'], join(h.git.dir, `v${v}`));
      expect(await h.git.revParse(join(h.git.dir, `v${v}`), 'origin/main')).toBe(newer);
    }
  });

  it('relays pushes: create, fast-forward, force, delete, tags, several refs, atomic, push options', async () => {
    const work = join(h.git.dir, 'v2');
    await gitOk(['pull', '-q', 'origin', 'main'], work);

    // create a branch
    const feature = await h.git.commitFiles(work, { 'feature.txt': 'one\n' }, 'feature');
    const created = await gitOk(['push', 'origin', 'HEAD:refs/heads/feature'], work);
    expect(created.stderr).toContain('remote: upstream hook saw the push');
    expect((await upstreamRefs()).get('refs/heads/feature')).toBe(feature);

    // fast-forward main
    await gitOk(['push', 'origin', 'HEAD:main'], work);
    expect((await upstreamRefs()).get('refs/heads/main')).toBe(feature);

    // force: rewrite main
    await gitOk(['reset', '-q', '--hard', 'HEAD~1'], work);
    const rewritten = await h.git.commitFiles(work, { 'other.txt': 'two\n' }, 'rewritten');
    const refused = await git(['push', 'origin', 'HEAD:main'], work);
    expect(refused.code).not.toBe(0);
    await gitOk(['push', '--force', 'origin', 'HEAD:main'], work);
    expect((await upstreamRefs()).get('refs/heads/main')).toBe(rewritten);

    // tags: lightweight and annotated
    await gitOk(['tag', 'v1'], work);
    const annotated = await h.git.annotatedTag(work, 'v2', 'release two');
    await gitOk(['push', 'origin', 'v1', 'v2'], work);
    const refs = await upstreamRefs();
    expect(refs.get('refs/tags/v1')).toBe(rewritten);
    expect(refs.get('refs/tags/v2')).toBe(annotated);

    // delete
    await gitOk(['push', 'origin', ':refs/heads/feature'], work);
    expect((await upstreamRefs()).has('refs/heads/feature')).toBe(false);

    // several refs at once, atomically, with push options
    const a = await h.git.commitFiles(work, { 'a.txt': 'a\n' }, 'a');
    await gitOk(['push', '--atomic', '-o', 'ci.skip', '-o', 'agent-session=1234', 'origin', 'HEAD:refs/heads/a', 'HEAD~1:refs/heads/b', 'HEAD:main'], work);
    const after = await upstreamRefs();
    expect(after.get('refs/heads/a')).toBe(a);
    expect(after.get('refs/heads/b')).toBe(rewritten);
    expect(after.get('refs/heads/main')).toBe(a);

    // an atomic push the upstream refuses in part changes nothing
    await gitOk(['reset', '-q', '--hard', 'HEAD~1'], work);
    const diverged = await h.git.commitFiles(work, { 'c.txt': 'c\n' }, 'diverged');
    const atomicRefused = await git(['push', '--atomic', 'origin', 'HEAD:refs/heads/c', 'HEAD:main'], work);
    expect(atomicRefused.code).not.toBe(0);
    expect((await upstreamRefs()).has('refs/heads/c')).toBe(false);
    expect((await upstreamRefs()).get('refs/heads/main')).toBe(a);
    expect(diverged).not.toBe(a);

    // the upstream refuses a ref: git shows its reason and its hook's output
    const blocked = await git(['push', 'origin', 'HEAD:refs/heads/blocked'], work);
    expect(blocked.code).not.toBe(0);
    expect(blocked.stderr).toContain('remote: blocked by upstream policy');
    expect(blocked.stderr).toMatch(/\[remote rejected\]\s+HEAD -> blocked \(pre-receive hook declined\)/);

    // the audit record has every push with its ref updates and options, and what the upstream answered
    const rows = await h.auditRows();
    const blockedRow = rows.find((r) => r.kind === 'http.request' && r.refUpdates?.some((u) => u.ref === 'refs/heads/blocked'))!;
    expect(blockedRow.outcome).toBe('upstream-rejected');
    expect(blockedRow.httpStatus).toBe(200);
    expect(blockedRow.detail).toMatchObject({
      upstreamReport: {
        kind: 'report',
        unpack: 'ok',
        refs: [{ ref: 'refs/heads/blocked', status: 'ng', reason: 'pre-receive hook declined' }],
        messages: expect.arrayContaining([expect.stringContaining('blocked by upstream policy')]),
      },
    });
    const pushes = rows.filter((r) => r.kind === 'http.request' && r.service === 'git-receive-pack' && r.refUpdates !== null && r.refUpdates.length > 0);
    const received = rows.filter((r) => r.kind === 'push.received');
    expect(received.length).toBe(pushes.length);
    const multi = pushes.find((r) => r.refUpdates!.length === 3)!;
    expect(multi.refUpdates!.map((u) => u.ref).sort()).toEqual(['refs/heads/a', 'refs/heads/b', 'refs/heads/main']);
    const report = (multi.detail as { upstreamReport: { kind: string; refs: { ref: string; status: string }[] } }).upstreamReport;
    expect(report.kind).toBe('report');
    expect(report.refs.map((r) => `${r.status} ${r.ref}`).sort()).toEqual(['ok refs/heads/a', 'ok refs/heads/b', 'ok refs/heads/main']);
    expect(multi.outcome).toBe('ok');
    expect(multi.detail).toMatchObject({ pushOptions: ['ci.skip', 'agent-session=1234'] });
    const deletion = pushes.find((r) => r.refUpdates!.some((u) => u.ref === 'refs/heads/feature' && /^0+$/.test(u.newOid)));
    expect(deletion).toBeDefined();
    const rcv = received.find((r) => r.requestId === multi.requestId)!;
    expect(rcv.refUpdates).toEqual(multi.refUpdates);
    expect((rcv.detail as { capabilities: string[] }).capabilities).toEqual(expect.arrayContaining(['atomic', 'push-options']));
  });

  it('relays a push larger than git\'s post buffer, which git sends chunked', async () => {
    const work = join(h.git.dir, 'v0');
    await gitOk(['fetch', '-q', 'origin'], work);
    await gitOk(['reset', '-q', '--hard', 'origin/main'], work);
    const big = await h.git.commitFiles(work, { 'blob.bin': randomBytes(3 * 1024 * 1024) }, 'a big file');
    const pushed = await gitOk(['-c', 'http.postBuffer=65536', 'push', 'origin', 'HEAD:refs/heads/big'], work);
    expect(pushed.code).toBe(0);
    expect((await upstreamRefs()).get('refs/heads/big')).toBe(big);
    const rows = await h.auditRows();
    const row = rows.filter((r) => r.kind === 'http.request' && r.refUpdates?.some((u) => u.ref === 'refs/heads/big')).at(-1)!;
    expect(row.bytesIn).toBeGreaterThan(3 * 1024 * 1024);
  });

  it('records every request with who, where, what and how it ended', async () => {
    const rows = await h.auditRows();
    const requests = rows.filter((r) => r.kind === 'http.request');
    const unauthenticated = requests.filter((r) => r.outcome === 'unauthenticated');
    expect(unauthenticated.length).toBeGreaterThan(0);
    for (const r of unauthenticated) {
      expect(r.httpStatus).toBe(401);
      expect(r.actorSub).toBeNull();
      expect((r.detail as { error: { code: string } }).error.code).toBe('AUTH_MISSING');
    }
    const clone = requests.find((r) => r.service === 'git-upload-pack' && r.outcome === 'ok' && r.bytesOut! > 0 && r.httpStatus === 200);
    expect(clone).toMatchObject({
      actorSub: 'alice',
      actorEmail: 'alice@example.com',
      actorGroups: ['dev'],
      actorAgent: true,
      upstream: 'local',
      repo: 'team/app.git',
      clientAddr: '127.0.0.1',
      outcome: 'ok',
    });
    expect(clone!.userAgent).toMatch(/^git\//);
    expect(clone!.durationMs).toBeGreaterThan(0);
    expect(clone!.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Set(requests.map((r) => r.requestId)).size).toBe(requests.length);
  });

  it('sends the upstream only its own credential, never the caller\'s', async () => {
    await h.upstream.settled();
    const expected = basicAuthorization('x-access-token', h.secret);
    expect(h.upstream.requests.length).toBeGreaterThan(10);
    for (const r of h.upstream.requests) {
      expect(r.authorization).toBe(expected);
      expect(r.authorization).not.toContain(token);
    }
  });

  it('keeps the upstream secret out of everything the client, the logs and the audit record saw', async () => {
    const rows = await h.auditRows();
    const forms = [h.secret, Buffer.from(`x-access-token:${h.secret}`).toString('base64')];
    const haystacks = [...seen, h.gateway.logs.join('\n'), JSON.stringify(rows)];
    expect(h.gateway.logs.length).toBeGreaterThan(10);
    for (const text of haystacks) for (const form of forms) expect(text).not.toContain(form);
    // and the caller's token is not logged either
    expect(h.gateway.logs.join('\n')).not.toContain(token);
  });
});
