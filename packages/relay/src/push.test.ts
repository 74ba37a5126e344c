/**
 * relayPush and compareRefs against a real upstream (`git http-backend` from @pushgate/testkit):
 * the report of a push that lands and of one the upstream's hook refuses, push options dropped
 * when the upstream does not take them, an unreachable upstream (nothing sent), an answer cut
 * midway (sent), and the answer of an upstream that aborts on band 3 — which git's receive-pack
 * never sends, so that one comes from a loopback server written for it.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync } from 'node:fs';
import { chmod, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { ZERO_OID, type Oid, type RefUpdate } from '@pushgate/core';
import { FLUSH, encodePkt, encodeSideband } from '@pushgate/pktline';
import { Capabilities } from '@pushgate/protocol';
import { createGitEnv, startGitUpstream, type GitEnv, type GitUpstream } from '@pushgate/testkit';
import { Upstream, compareRefs, readReceivePackAdvertisement, relayPush, type RelayResult, type StoredPush } from './index';

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** A pack of what `tip` has that `base` has not, made by git. */
async function packOf(env: GitEnv, repo: string, tip: string, base: string): Promise<Buffer> {
  return (await env.gitOk(['pack-objects', '--stdout', '--revs', '--thin'], { cwd: repo, input: `${tip}\n^${base}\n` })).stdoutBuffer;
}

function packSource(bytes: Buffer): StoredPush['pack'] {
  return {
    bytes: bytes.length,
    async *open() {
      // In pieces, as a spool file would be read.
      for (let at = 0; at < bytes.length; at += 1000) yield bytes.subarray(at, at + 1000);
    },
  };
}

function expectReport(result: RelayResult): Extract<RelayResult, { kind: 'report' }> {
  if (result.kind !== 'report') throw new Error(`expected a report, got ${JSON.stringify(result)}`);
  return result;
}

describe('relayPush against a real upstream', () => {
  let env: GitEnv;
  let git: GitUpstream;
  let upstream: Upstream;
  let bare: string;
  let work: string;
  let base: Oid;

  const refOf = async (ref: string) => (await env.git(['--git-dir', bare, 'rev-parse', '--verify', '-q', ref])).stdout.trim() || ZERO_OID;
  const push = (commands: RefUpdate[], pack: Buffer | undefined, more: Partial<StoredPush> = {}): StoredPush => ({
    upstream,
    repoPath: 'app.git',
    commands,
    atomic: false,
    pushOptions: [],
    pack: pack === undefined ? undefined : packSource(pack),
    ...more,
  });

  beforeAll(async () => {
    env = await createGitEnv();
    git = await startGitUpstream();
    bare = await git.createRepo('app.git', { initialCommit: true });
    const hooks = join(bare, 'hooks');
    await writeFile(join(hooks, 'pre-receive'), '#!/bin/sh\nwhile read old new ref; do if [ "$ref" = refs/heads/blocked ]; then echo "blocked by upstream policy"; exit 1; fi; done\n');
    await writeFile(join(hooks, 'post-receive'), '#!/bin/sh\necho "upstream hook saw the push"\nif [ "${GIT_PUSH_OPTION_COUNT:-0}" -gt 0 ]; then echo "options: $GIT_PUSH_OPTION_COUNT"; fi\n');
    await chmod(join(hooks, 'pre-receive'), 0o755);
    await chmod(join(hooks, 'post-receive'), 0o755);
    upstream = new Upstream({ name: 'local', url: git.url, credential: { kind: 'none' } });
    work = join(env.dir, 'work');
    await env.gitOk(['clone', '-q', git.repoUrl('app.git'), work]);
    base = (await env.revParse(work, 'HEAD')) as Oid;
  });
  afterAll(async () => {
    upstream?.close();
    await git?.close();
    await env?.cleanup();
  });

  it('relays a push that lands: its report, the hook output, progress as it came, an exact Content-Length', async () => {
    const tip = (await env.commitFiles(work, { 'a.txt': 'a\n' }, 'a')) as Oid;
    const pack = await packOf(env, work, tip, base);
    const progress: string[] = [];
    const before = git.requests.length;
    const result = expectReport(await relayPush(push([{ ref: 'refs/heads/main', oldOid: base, newOid: tip }], pack, { requestId: 'relay-ok', onProgress: (t) => progress.push(t) })));
    expect(result).toEqual({ kind: 'report', unpack: 'ok', refs: [{ ref: 'refs/heads/main', status: 'ok' }], messages: expect.arrayContaining(['upstream hook saw the push']), droppedPushOptions: false });
    expect(progress.join('')).toContain('upstream hook saw the push\n');
    expect(await refOf('refs/heads/main')).toBe(tip);
    // No advertisement was given: it was read first, then the push sent whole with its length.
    const sent = git.requests.slice(before);
    expect(sent.map((r) => `${r.method} ${r.path}?${r.query}`)).toEqual(['GET /app.git/info/refs?service=git-receive-pack', 'POST /app.git/git-receive-pack?']);
    const post = sent[1]!;
    expect(post.transferEncoding).toBeUndefined();
    expect(post.contentLength).toBe(post.requestBytes);
    expect(post.userAgent).toMatch(/^pushgate\//);
    // The answer was read to its end: the upstream saw it taken whole, not a client hanging up after the report.
    await git.settled();
    expect(post.outcome).toEqual({ kind: 'served', exitCode: 0 });
    base = tip;
  });

  it('reports the ref the upstream refused, with its reason and its hook output', async () => {
    const tip = (await env.commitFiles(work, { 'b.txt': 'b\n' }, 'b')) as Oid;
    const pack = await packOf(env, work, tip, base);
    const advertised = await readReceivePackAdvertisement(upstream, 'app.git');
    const result = expectReport(await relayPush(push([{ ref: 'refs/heads/blocked', oldOid: ZERO_OID, newOid: tip }], pack, { advertised })));
    expect(result.unpack).toBe('ok');
    expect(result.refs).toEqual([{ ref: 'refs/heads/blocked', status: 'ng', reason: 'pre-receive hook declined' }]);
    expect(result.messages).toContain('blocked by upstream policy');
    expect(await refOf('refs/heads/blocked')).toBe(ZERO_OID);
  });

  it('drops push options the upstream does not take, and says so; passes them when it does', async () => {
    const tip = (await env.commitFiles(work, { 'c.txt': 'c\n' }, 'c')) as Oid;
    const pack = await packOf(env, work, tip, base);
    await env.gitOk(['--git-dir', bare, 'config', 'receive.advertisePushOptions', 'false']);
    try {
      const result = expectReport(await relayPush(push([{ ref: 'refs/heads/opts', oldOid: ZERO_OID, newOid: tip }], pack, { pushOptions: ['ci.skip'] })));
      expect(result.droppedPushOptions).toBe(true);
      expect(result.refs).toEqual([{ ref: 'refs/heads/opts', status: 'ok' }]);
      expect(result.messages.some((m) => m.startsWith('options:'))).toBe(false);
    } finally {
      await env.gitOk(['--git-dir', bare, 'config', '--unset', 'receive.advertisePushOptions']);
    }
    const again = expectReport(await relayPush(push([{ ref: 'refs/heads/opts', oldOid: tip, newOid: ZERO_OID }], undefined, { pushOptions: ['ci.skip', 'x=1'] })));
    expect(again.droppedPushOptions).toBe(false);
    expect(again.messages).toContain('options: 2');
    expect(await refOf('refs/heads/opts')).toBe(ZERO_OID);
  });

  it('refuses to send an atomic push to an upstream that does not offer atomic, sending nothing', async () => {
    const advertised = await readReceivePackAdvertisement(upstream, 'app.git');
    const withoutAtomic = { refs: advertised.refs, capabilities: advertised.capabilities.filter((c) => c.name !== 'atomic') };
    const before = git.requests.length;
    const result = await relayPush(push([{ ref: 'refs/heads/never', oldOid: ZERO_OID, newOid: base }], undefined, { atomic: true, advertised: withoutAtomic }));
    expect(result).toMatchObject({ kind: 'failed', sent: false, error: { code: 'UPSTREAM_PUSH_UNSENDABLE' } });
    expect(git.requests.length).toBe(before);
  });

  it('compares a push with the upstream refs: landed, not applied, moved', async () => {
    const one = (await env.commitFiles(work, { 'd.txt': 'd\n' }, 'd')) as Oid;
    const pack = await packOf(env, work, one, base);
    expectReport(await relayPush(push([{ ref: 'refs/heads/landed', oldOid: ZERO_OID, newOid: one }], pack)));
    // Someone else moves main under the push that expected `base`.
    await env.gitOk(['--git-dir', bare, 'update-ref', 'refs/heads/main', one, base]);
    const { refs } = await readReceivePackAdvertisement(upstream, 'app.git');
    const commands: RefUpdate[] = [
      { ref: 'refs/heads/landed', oldOid: ZERO_OID, newOid: one },
      { ref: 'refs/heads/absent', oldOid: ZERO_OID, newOid: one },
      { ref: 'refs/heads/main', oldOid: base, newOid: 'e'.repeat(40) as Oid },
    ];
    expect(compareRefs(commands, refs)).toEqual({
      landed: [commands[0]],
      notApplied: [commands[1]],
      moved: [{ ref: 'refs/heads/main', expected: base, actual: one }],
    });
    base = one;
  });

  it('an unreachable upstream: failed, and certainly not sent', async () => {
    const down = new Upstream({ name: 'down', url: `http://127.0.0.1:${await closedPort()}`, credential: { kind: 'none' } });
    try {
      const advertised = { refs: new Map(), capabilities: Capabilities.parse('report-status side-band-64k delete-refs') };
      for (const more of [{}, { advertised }]) {
        const result = await relayPush({ ...push([{ ref: 'refs/heads/x', oldOid: ZERO_OID, newOid: base }], Buffer.from('PACK')), upstream: down, ...more });
        expect(result).toMatchObject({ kind: 'failed', sent: false, error: { code: 'UPSTREAM_UNREACHABLE' } });
      }
    } finally {
      down.close();
    }
  });

  it('an answer cut midway: failed, and possibly sent', async () => {
    // An upstream of its own, whose hook says it is working and then waits: the test cuts it there.
    const slow = await startGitUpstream();
    const slowUpstream = new Upstream({ name: 'slow', url: slow.url, credential: { kind: 'none' } });
    try {
      const repo = await slow.createRepo('app.git', { initialCommit: true });
      const release = join(slow.root, 'release');
      await writeFile(join(repo, 'hooks', 'pre-receive'), `#!/bin/sh\necho "checking the push"\nwhile [ ! -e "${release}" ]; do sleep 0.1; done\n`);
      await chmod(join(repo, 'hooks', 'pre-receive'), 0o755);
      const start = await env.gitOk(['--git-dir', repo, 'rev-parse', 'refs/heads/main']);
      const result = relayPush({
        upstream: slowUpstream,
        repoPath: 'app.git',
        commands: [{ ref: 'refs/heads/cut', oldOid: ZERO_OID, newOid: start.stdout.trim() as Oid }],
        atomic: false,
        pushOptions: [],
        pack: packSource((await env.gitOk(['pack-objects', '--stdout'], { cwd: work, input: '' })).stdoutBuffer),
        onProgress: (text) => {
          if (text.includes('checking the push')) void slow.close();
        },
      });
      expect(await result).toMatchObject({ kind: 'failed', sent: true, error: { code: 'UPSTREAM_STREAM_FAILED' } });
      expect(existsSync(release)).toBe(false);
    } finally {
      slowUpstream.close();
      await slow.close();
    }
  });
});

describe('relayPush against an upstream that aborts the push', () => {
  it('returns band 3 as fatal, with the messages before it', async () => {
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/x-git-receive-pack-result' });
        res.end(Buffer.concat([encodeSideband(2, 'starting\n', 'side-band-64k'), encodeSideband(3, 'fatal: the disk is full\n', 'side-band-64k')]));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const upstream = new Upstream({ name: 'aborts', url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, credential: { kind: 'none' } });
    try {
      const advertised = { refs: new Map(), capabilities: Capabilities.parse('report-status side-band-64k delete-refs') };
      const result = await relayPush({ upstream, repoPath: 'app.git', commands: [{ ref: 'refs/heads/x', oldOid: 'a'.repeat(40) as Oid, newOid: ZERO_OID }], atomic: false, pushOptions: [], pack: undefined, advertised });
      expect(result).toEqual({ kind: 'fatal', message: 'fatal: the disk is full', messages: ['starting'] });
      // Without side-band, an ERR packet is the same abort.
      const plain = { refs: new Map(), capabilities: Capabilities.parse('report-status delete-refs') };
      server.removeAllListeners('request');
      server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
        req.resume();
        req.on('end', () => res.end(Buffer.concat([encodePkt('ERR the disk is full\n'), FLUSH])));
      });
      const err = await relayPush({ upstream, repoPath: 'app.git', commands: [{ ref: 'refs/heads/x', oldOid: 'a'.repeat(40) as Oid, newOid: ZERO_OID }], atomic: false, pushOptions: [], pack: undefined, advertised: plain });
      expect(err).toMatchObject({ kind: 'fatal', message: 'the disk is full' });
    } finally {
      upstream.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
