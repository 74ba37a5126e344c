import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import { gunzipSync, inflateSync } from 'node:zlib';
import { createGitEnv, type GitEnv } from './git-env';
import { commitObject, gitObjectId, sortTreeEntries, tagObject, treeObject, TREE_MODE } from './git-objects';
import { HOSTILE_REPOSITORIES } from './hostile-corpus';
import { startPushCapture } from './push-capture';
import { startGitUpstream, type GitUpstream } from '@pushgate/git-server';
import { adler32, repeatZlib, storedGzip, storedZlib } from './zlib-builders';

describe('zlib builders', () => {
  it('write stored and repeated streams that zlib inflates to exactly the input', () => {
    for (const n of [0, 1, 5, 65535, 65536, 200_001]) {
      const data = Buffer.alloc(n);
      for (let i = 0; i < n; i++) data[i] = (i * 31 + 7) & 0xff;
      expect(inflateSync(storedZlib(data)).equals(data)).toBe(true);
      expect(gunzipSync(storedGzip(data)).equals(data)).toBe(true);
    }
    for (const [byte, n] of [[0, 0], [0, 1], [7, 258], [7, 259], [143, 1000], [144, 1000], [255, 70_000]] as const) {
      const out = inflateSync(repeatZlib(byte, n));
      expect(out.length).toBe(n);
      expect(out.every((b) => b === byte)).toBe(true);
    }
  });

  it('compresses a run about 158:1 and computes Adler-32 as zlib does', () => {
    expect(repeatZlib(0, 64 * 1024 * 1024).length).toBeLessThan(450_000);
    expect(adler32(Buffer.from('Wikipedia'))).toBe(0x11e60398);
  });

  it('write a wrong CRC when asked, which gunzip refuses', () => {
    expect(() => gunzipSync(storedGzip(Buffer.from('data'), { crc: 1 }))).toThrow(/incorrect data check/);
  });
});

describe('git object builders', () => {
  let env: GitEnv;
  let repo: string;
  beforeAll(async () => {
    env = await createGitEnv();
    repo = await env.initRepo(undefined, { kind: 'bare' });
  });
  afterAll(async () => {
    await env.cleanup();
  });

  it('give the ids and bytes git gives the same objects', async () => {
    const blob = (await env.gitOk(['hash-object', '-w', '--stdin'], { cwd: repo, input: 'hello\n' })).stdout.trim();
    expect(gitObjectId('blob', 'hello\n')).toBe(blob);
    const sub = (await env.gitOk(['mktree'], { cwd: repo, input: `100644 blob ${blob}\tx\n` })).stdout.trim();
    const entries = [
      { mode: '100644', name: 'b.txt', oid: blob },
      { mode: TREE_MODE, name: 'a', oid: sub },
      { mode: '100755', name: 'a.sh', oid: blob },
    ];
    const tree = (await env.gitOk(['mktree'], { cwd: repo, input: entries.map((e) => `${e.mode} ${e.mode === TREE_MODE ? 'tree' : 'blob'} ${e.oid}\t${e.name}\n`).join('') })).stdout.trim();
    const ours = treeObject(sortTreeEntries(entries));
    expect(gitObjectId('tree', ours)).toBe(tree);
    expect((await env.gitOk(['cat-file', 'tree', tree], { cwd: repo })).stdoutBuffer.equals(ours)).toBe(true);
    const commit = commitObject({ tree, parents: [], message: 'm\n' });
    const viaGit = (await env.gitOk(['hash-object', '-t', 'commit', '-w', '--stdin'], { cwd: repo, input: commit })).stdout.trim();
    expect(gitObjectId('commit', commit)).toBe(viaGit);
    const tag = tagObject({ object: viaGit, type: 'commit', tag: 'v1', message: 'release\n' });
    expect((await env.gitOk(['hash-object', '-t', 'tag', '-w', '--stdin'], { cwd: repo, input: tag })).stdout.trim()).toBe(gitObjectId('tag', tag));
    expect((await env.gitOk(['fsck', '--strict', '--no-dangling'], { cwd: repo })).code).toBe(0);
  });
});

describe('push capture', () => {
  let upstream: GitUpstream;
  let env: GitEnv;
  beforeAll(async () => {
    upstream = await startGitUpstream();
    env = await createGitEnv();
  });
  afterAll(async () => {
    await upstream.close();
    await env.cleanup();
  });

  it('keeps the body git sends for a push, against the real repository state, and changes nothing', async () => {
    const state = HOSTILE_REPOSITORIES['one-commit'];
    const bare = await upstream.createRepo(state.path, { initialCommit: state.files });
    // The corpus's repository state is what createRepo makes, id for id.
    expect((await env.gitOk(['--git-dir', bare, 'rev-parse', 'refs/heads/main'])).stdout.trim()).toBe(state.refs['refs/heads/main']);
    const capture = await startPushCapture({ target: upstream.repoUrl(state.path) });
    try {
      const work = join(env.dir, 'captured');
      await env.gitOk(['clone', '-q', upstream.repoUrl(state.path), work]);
      const tip = await env.commitFiles(work, { 'x.txt': 'x\n' }, 'x');
      const pushed = await env.git(['push', capture.url, 'HEAD:refs/heads/main'], { cwd: work });
      expect(pushed.code).not.toBe(0);
      expect(capture.bodies).toHaveLength(1);
      const body = capture.bodies[0].body;
      expect(body.toString('latin1')).toContain(`${state.refs['refs/heads/main']} ${tip} refs/heads/main\0`);
      expect(body.includes(Buffer.from('PACK'))).toBe(true);
      expect((await env.gitOk(['--git-dir', bare, 'rev-parse', 'refs/heads/main'])).stdout.trim()).toBe(state.refs['refs/heads/main']);
    } finally {
      await capture.close();
    }
  });
});
