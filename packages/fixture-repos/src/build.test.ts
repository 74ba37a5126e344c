import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runGit } from '@pushgate/core';
import { FixtureRepos, buildRepo, fakeCredential, generateContent, RepoDescriptionSchema } from './index';

const REPOS = fileURLToPath(new URL('../../../fixtures/repos', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'fixture-repos-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function git(gitDir: string, ...args: string[]): Promise<string> {
  const r = await runGit({ gitDir, args });
  if (r.code !== 0) throw new Error(r.stderr);
  return r.stdout.toString('utf8');
}

describe('fixture repositories', () => {
  it('builds the same object ids every time', async () => {
    const a = await new FixtureRepos(REPOS, join(work, 'a')).get('agent');
    const b = await new FixtureRepos(REPOS, join(work, 'b')).get('agent');
    expect([...a.refs]).toEqual([...b.refs]);
    expect(a.commits.size).toBe(5);
    // A signed commit, and its child rewritten on top of it.
    const signed = await git(a.gitDir, 'cat-file', 'commit', a.commits.get('signed-2')!);
    expect(signed).toContain('gpgsig -----BEGIN SSH SIGNATURE-----');
    expect(signed).toContain(`parent ${a.commits.get('signed-1')}`);
    expect(await git(a.gitDir, 'cat-file', 'commit', a.commits.get('signed-1')!)).toContain('gpgsig ');
  });

  it('writes merges (with their own content), renames, symlinks, gitlinks, modes and tags', async () => {
    const repos = new FixtureRepos(REPOS, join(work, 'c'));
    const merges = await repos.get('merges');
    const evil = merges.commits.get('evil-merge')!;
    expect((await git(merges.gitDir, 'rev-list', '--parents', '-n1', evil)).trim().split(' ')).toHaveLength(3);
    expect(await git(merges.gitDir, 'show', `${evil}:b.txt`)).toBe('b changed\n');
    expect(await git(merges.gitDir, 'show', `${evil}:auth/check.ts`)).toContain('backdoor');
    expect(await git(merges.gitDir, 'diff', '--name-only', merges.commits.get('clean-merge')!, evil)).toBe('auth/check.ts\n');

    const renames = await repos.get('renames');
    expect(await git(renames.gitDir, 'diff', '-M', '--name-status', 'main', 'into')).toBe('R100\tnotes/terraform.tf\tinfra/draft.tf\n');

    const links = await repos.get('links');
    expect(await git(links.gitDir, 'ls-tree', 'swap', 'config/app.conf')).toMatch(/^120000 blob /);
    expect(await git(links.gitDir, 'ls-tree', 'submodule', 'vendor/parser')).toMatch(/^160000 commit 1{40}\t/);

    const basic = await repos.get('basic');
    expect(await git(basic.gitDir, 'ls-tree', 'tools', 'scripts/deploy.sh')).toMatch(/^100755 /);

    const tags = await repos.get('tags');
    expect((await git(tags.gitDir, 'cat-file', '-t', 'refs/tags/v1')).trim()).toBe('tag');
    expect((await git(tags.gitDir, 'cat-file', '-t', 'refs/tags/v1-light')).trim()).toBe('commit');
  });

  it('puts a generated fake key into a 2 MB file at the line asked for', async () => {
    const secrets = await new FixtureRepos(REPOS, join(work, 'd')).get('secrets');
    const log = await git(secrets.gitDir, 'show', 'leak:logs/capture.log');
    expect(Buffer.byteLength(log)).toBe(2 * 1024 * 1024);
    expect(log.split('\n')[19999]).toMatch(/^aws_access_key_id = AKIA[A-Z2-7]{16}$/);
  });

  it('generates content of the exact size, and fake keys of the right shape from a seed', () => {
    expect(generateContent({ bytes: 1000 }, 's')).toHaveLength(1000);
    expect(generateContent({ bytes: 1000 }, 's').at(-1)).toBe(0x0a);
    expect(generateContent({ bytes: 100, binary: true }, 's').includes(0)).toBe(true);
    expect(fakeCredential('aws-access-key-id', 'x')).toMatch(/^AKIA[A-Z2-7]{16}$/);
    expect(fakeCredential('aws-access-key-id', 'x')).toBe(fakeCredential('aws-access-key-id', 'x'));
    expect(fakeCredential('aws-access-key-id', 'x')).not.toBe(fakeCredential('aws-access-key-id', 'y'));
  });

  it('names the commit and the problem when a description is wrong', async () => {
    const description = RepoDescriptionSchema.parse({ commits: [{ id: 'a', message: 'm' }, { id: 'b', parents: ['nope'], message: 'm' }] });
    await expect(buildRepo('bad', description, join(work, 'bad.git'))).rejects.toThrow('fixture repository bad: commit b: parent nope is not an earlier commit');
  });
});
