import { describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGitEnv, GIT_ENV_EPOCH, type GitEnv } from './git-env';
import { startGitUpstream } from '@pushgate/git-server';

async function withEnv<T>(body: (env: GitEnv) => Promise<T>): Promise<T> {
  const env = await createGitEnv();
  try {
    return await body(env);
  } finally {
    await env.cleanup();
  }
}

/** Builds the same small history in an env; returns its commit and tag ids. */
async function buildHistory(env: GitEnv): Promise<string[]> {
  const repo = await env.initRepo();
  const ids = [await env.commitFiles(repo, { 'a.txt': 'a\n', 'dir/b.bin': Buffer.from([0, 1, 2, 255]) }, 'first\n')];
  ids.push(await env.commitFiles(repo, { 'a.txt': 'a2\n' }, 'second\n', { author: { name: 'Ann', email: 'ann@example.com' } }));
  ids.push(await env.annotatedTag(repo, 'v1', 'release 1\n'));
  return ids;
}

describe('createGitEnv', () => {
  it("does not read the user's git configuration, credentials or proxy settings", async () => {
    const fakeHome = await mkdtemp(join(tmpdir(), 'pushgate-fake-home-'));
    const saved = { ...process.env };
    try {
      await writeFile(join(fakeHome, '.gitconfig'), '[user]\n\tname = Intruder\n[alias]\n\tsneaky = log\n[http]\n\tproxy = http://127.0.0.1:9\n');
      Object.assign(process.env, {
        HOME: fakeHome,
        XDG_CONFIG_HOME: fakeHome,
        GIT_CONFIG_GLOBAL: join(fakeHome, '.gitconfig'),
        GIT_CONFIG_COUNT: '1',
        GIT_CONFIG_KEY_0: 'user.email',
        GIT_CONFIG_VALUE_0: 'intruder@example.com',
        GIT_DIR: fakeHome,
        http_proxy: 'http://127.0.0.1:9',
        HTTPS_PROXY: 'http://127.0.0.1:9',
        ALL_PROXY: 'http://127.0.0.1:9',
      });
      await withEnv(async (env) => {
        const config = (await env.gitOk(['config', '--list', '--show-origin'])).stdout;
        expect(config).not.toMatch(/Intruder|intruder|sneaky|proxy/);
        expect(config).toContain(`file:${join(env.home, '.gitconfig')}\tuser.name=Pushgate Test`);
        expect(config).toMatch(/init\.defaultbranch=main/);
        expect(config).not.toMatch(/protocol\.version/);
        expect((await env.gitOk(['var', 'GIT_AUTHOR_IDENT'])).stdout).toMatch(/^Pushgate Test <test@pushgate\.invalid> \d+ \+0000\n$/);
        expect(env.vars).not.toHaveProperty('http_proxy');
        expect(env.vars).toMatchObject({ HOME: env.home, GIT_CONFIG_NOSYSTEM: '1', GIT_TERMINAL_PROMPT: '0' });
        // The proxy variables set above would break this clone if they reached git.
        const upstream = await startGitUpstream();
        try {
          await upstream.createRepo('iso.git', { initialCommit: true });
          await env.gitOk(['clone', '-q', upstream.repoUrl('iso.git'), 'iso']);
        } finally {
          await upstream.close();
        }
      });
    } finally {
      for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
      Object.assign(process.env, saved);
      await rm(fakeHome, { recursive: true, force: true });
    }
  });

  it('gives the same object ids for the same history in two separate envs', async () => {
    const first = await withEnv(buildHistory);
    const second = await withEnv(buildHistory);
    expect(second).toEqual(first);
    expect(new Set(first).size).toBe(3);
  });

  it('commits text, bytes, executables, symlinks and deletions with the right modes', async () => {
    await withEnv(async (env) => {
      const repo = await env.initRepo();
      await env.commitFiles(repo, {
        'README.md': '# hi\n',
        'bin/tool': { executable: '#!/bin/sh\n' },
        'data.bin': Buffer.from([0xde, 0xad]),
        'latest': { symlink: 'README.md' },
        'gone.txt': 'soon deleted\n',
        '*.md': 'a file literally named *.md\n',
      }, 'add\n');
      const tree = (await env.gitOk(['ls-tree', '-r', '--format=%(objectmode) %(path)', 'HEAD'], { cwd: repo })).stdout;
      expect(tree.trim().split('\n').sort()).toEqual(['100644 *.md', '100644 README.md', '100644 data.bin', '100644 gone.txt', '100755 bin/tool', '120000 latest']);
      expect((await env.gitOk(['cat-file', 'blob', 'HEAD:data.bin'], { cwd: repo })).stdoutBuffer).toEqual(Buffer.from([0xde, 0xad]));

      const second = await env.commitFiles(repo, { 'gone.txt': null, 'latest': 'now a file\n', '*.md': null }, 'change\n');
      const status = (await env.gitOk(['diff-tree', '--no-commit-id', '-r', 'HEAD~1', 'HEAD'], { cwd: repo })).stdout;
      expect(status).toMatch(/^:100644 000000 \w+ 0+ D\tgone\.txt$/m);
      expect(status).toMatch(/^:120000 100644 \w+ \w+ T\tlatest$/m);
      expect(status).toMatch(/^:100644 000000 \w+ 0+ D\t\*\.md$/m);
      expect(status).not.toMatch(/README/);
      expect(await env.revParse(repo, 'HEAD')).toBe(second);
      // Commit messages are kept verbatim, including lines git would strip as comments.
      await env.commitFiles(repo, {}, '# not a comment\n\ntrailing space \n');
      expect((await env.gitOk(['cat-file', 'commit', 'HEAD'], { cwd: repo })).stdout).toMatch(/\n\n# not a comment\n\ntrailing space \n$/);
    });
  });

  it('renames, records submodule gitlinks, tags and merges', async () => {
    await withEnv(async (env) => {
      const repo = await env.initRepo();
      const base = await env.commitFiles(repo, { 'src/old.ts': 'export const x = 1;\n'.repeat(20) }, 'base\n');
      await env.renameFile(repo, 'src/old.ts', 'lib/new.ts', 'rename\n');
      expect((await env.gitOk(['diff', '--name-status', '-M', 'HEAD~1', 'HEAD'], { cwd: repo })).stdout).toBe('R100\tsrc/old.ts\tlib/new.ts\n');

      await env.addSubmodule(repo, 'vendor/lib', base, { url: 'https://example.com/lib.git' });
      expect((await env.gitOk(['ls-tree', 'HEAD', 'vendor/lib'], { cwd: repo })).stdout).toBe(`160000 commit ${base}\tvendor/lib\n`);
      expect(await readFile(join(repo, '.gitmodules'), 'utf8')).toBe('[submodule "vendor/lib"]\n\tpath = vendor/lib\n\turl = https://example.com/lib.git\n');

      const tag = await env.annotatedTag(repo, 'v1.0', 'first release\n', { target: base, tagger: { name: 'Rel', email: 'rel@example.com' }, date: GIT_ENV_EPOCH + 5 });
      const tagObject = (await env.gitOk(['cat-file', 'tag', tag], { cwd: repo })).stdout;
      expect(tagObject).toBe(`object ${base}\ntype commit\ntag v1.0\ntagger Rel <rel@example.com> ${GIT_ENV_EPOCH + 5} +0000\n\nfirst release\n`);

      await env.gitOk(['switch', '-q', '-c', 'topic', base], { cwd: repo });
      const topic = await env.commitFiles(repo, { 'topic.txt': 't\n' }, 'topic\n');
      await env.gitOk(['switch', '-q', 'main'], { cwd: repo });
      const main = await env.revParse(repo, 'HEAD');
      const merge = await env.merge(repo, 'topic', 'Merge topic\n');
      expect((await env.gitOk(['rev-list', '--parents', '-n1', merge], { cwd: repo })).stdout.trim()).toBe(`${merge} ${main} ${topic}`);
    });
  });

  it('reports failing git commands with their stderr and refuses paths outside the repository', async () => {
    await withEnv(async (env) => {
      const repo = await env.initRepo(undefined, { kind: 'bare' });
      expect((await env.gitOk(['rev-parse', '--is-bare-repository'], { cwd: repo })).stdout).toBe('true\n');
      const r = await env.git(['rev-parse', '--verify', 'nope'], { cwd: repo });
      expect(r.code).toBe(128);
      await expect(env.gitOk(['rev-parse', '--verify', 'nope'], { cwd: repo })).rejects.toMatchObject({
        code: 'TESTKIT_GIT_FAILED',
        data: { code: 128, args: ['rev-parse', '--verify', 'nope'] },
        message: expect.stringContaining('fatal: Needed a single revision'),
      });
      const work = await env.initRepo();
      await expect(env.commitFiles(work, { '../escape.txt': 'x' }, 'm\n')).rejects.toMatchObject({ code: 'TESTKIT_BAD_REPO_PATH' });
      await expect(env.commitFiles(work, { '.git/config': 'x' }, 'm\n')).rejects.toMatchObject({ code: 'TESTKIT_BAD_REPO_PATH' });
      const hashed = await env.gitOk(['hash-object', '--stdin'], { input: 'x' });
      expect(hashed.stdout).toBe(`${createHash('sha1').update('blob 1\0x').digest('hex')}\n`);
    });
  });

  it('kills a command that outlives its timeout, with everything it started', async () => {
    await withEnv(async (env) => {
      const marker = join(env.dir, 'still-running');
      const started = Date.now();
      const r = await env.git(['-c', `alias.hang=!sleep 3; touch ${marker}`, 'hang'], { timeoutMs: 300 });
      expect(r).toMatchObject({ code: -1, signal: 'SIGKILL' });
      expect(Date.now() - started).toBeLessThan(2500);
      await new Promise((resolve) => setTimeout(resolve, 3500));
      expect(existsSync(marker)).toBe(false);
    });
  });
});
