import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import * as git from 'isomorphic-git';
import { DEFAULT_LIMITS, type Oid } from '@pushgate/core';
import { GitFixture } from './git-fixture.test-support';
import { GitDirObjectStore, isoGitOverStore, parseCommit, type ObjectStore } from './index';

// isomorphic-git's own APIs over the object store: same answers as the git CLI, and no pack is
// ever handed to isomorphic-git (its pack reader would load the whole pack into memory).

let repo: GitFixture;
let store: GitDirObjectStore;
let reads: string[];
let counting: ObjectStore;

beforeAll(() => {
  repo = GitFixture.create('isogit');
  for (let i = 0; i < 8; i++) {
    repo.write(`src/file${i % 3}.ts`, `export const v = ${i};\n`);
    repo.write('README.md', `# readme ${i}\n`);
    repo.commit(`change ${i}`);
  }
  repo.git('checkout', '-q', '-b', 'topic', 'HEAD~3');
  repo.write('topic.txt', 'topic\n');
  repo.commit('topic');
  repo.git('checkout', '-q', 'main');
  repo.git('merge', '-q', '--no-ff', '-m', 'merge topic', 'topic');
  repo.git('tag', '-a', '-m', 'annotated', 'v1');
  repo.git('gc', '-q');
  store = GitDirObjectStore.open(join(repo.dir, '.git'), { limits: DEFAULT_LIMITS });
  reads = [];
  counting = {
    read: (oid) => {
      reads.push(oid);
      return store.read(oid);
    },
    has: (oid) => store.has(oid),
    header: (oid) => store.header(oid),
  };
});
afterAll(() => {
  store.close();
  repo.cleanup();
});

describe('isoGitOverStore', () => {
  it('reads commits, trees, tags and blobs through the store', async () => {
    const ctx = isoGitOverStore(counting);
    const head = repo.git('rev-parse', 'HEAD').trim() as Oid;
    const c = await git.readCommit({ ...ctx, oid: head });
    const ours = parseCommit(store.read(head)!.data);
    expect(c.commit.tree).toBe(ours.tree);
    expect(c.commit.parent).toEqual(ours.parents);
    expect(c.commit.message).toBe(ours.message);
    expect(c.commit.author.email).toBe(ours.author.email);
    const t = await git.readTree({ ...ctx, oid: ours.tree });
    expect(t.tree.map((e) => e.path)).toEqual(repo.git('ls-tree', '--name-only', ours.tree).trim().split('\n'));
    const tagOid = repo.git('rev-parse', 'v1').trim();
    const tag = await git.readTag({ ...ctx, oid: tagOid });
    expect(tag.tag.object).toBe(head);
    expect(tag.tag.message).toBe('annotated\n');
    const blobOid = repo.git('rev-parse', 'HEAD:README.md').trim();
    const blob = await git.readBlob({ ...ctx, oid: blobOid });
    expect(Buffer.from(blob.blob).toString()).toBe('# readme 7\n');
    expect(reads).toContain(head);
  });

  it('walks history like git rev-list and answers ancestry like merge-base', async () => {
    const ctx = isoGitOverStore(store, { refs: new Map([['refs/heads/main', repo.git('rev-parse', 'main').trim() as Oid]]) });
    const log = await git.log({ ...ctx, ref: 'refs/heads/main' });
    const revList = repo.git('rev-list', 'main').trim().split('\n');
    expect(new Set(log.map((e) => e.oid))).toEqual(new Set(revList));
    const topic = repo.git('rev-parse', 'topic').trim();
    const main = repo.git('rev-parse', 'main').trim();
    expect(await git.isDescendent({ ...ctx, oid: main, ancestor: topic, depth: -1 })).toBe(true);
    expect(await git.isDescendent({ ...ctx, oid: topic, ancestor: main, depth: -1 })).toBe(false);
  });

  it('walks a tree with TREE like git ls-tree -r', async () => {
    const ctx = isoGitOverStore(store);
    const head = repo.git('rev-parse', 'HEAD').trim();
    const paths: string[] = [];
    await git.walk({
      ...ctx,
      trees: [git.TREE({ ref: head })],
      map: async (path, [e]) => {
        if (e && (await e.type()) === 'blob') paths.push(path);
        return true;
      },
    });
    expect(paths.sort()).toEqual(repo.git('ls-tree', '-r', '--name-only', head).trim().split('\n').sort());
  });

  it('is read-only and reports missing objects as isomorphic-git expects', async () => {
    const ctx = isoGitOverStore(store);
    await expect(git.readCommit({ ...ctx, oid: 'e'.repeat(40) })).rejects.toMatchObject({ code: 'NotFoundError' });
    await expect(git.writeBlob({ ...ctx, blob: new Uint8Array([1]) })).rejects.toBeDefined();
  });
});
