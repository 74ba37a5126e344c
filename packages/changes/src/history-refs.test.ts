import { describe, expect, it } from '@jest/globals';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { DEFAULT_LIMITS, type Oid } from '@pushgate/core';
import { GitDirObjectStore, PushedPackStore } from '@pushgate/objects';
import { PushScenario } from './git-fixture.test-support';
import { buildChangeSet } from './index';

// A push of several refs where one ref's history cannot be walked: the error names that ref, so
// the gateway answers `ng` for it and "not applied" for the others, not the same blame for all.

describe('findNewCommits: which ref a broken history belongs to', () => {
  it('names the ref whose new commit has a parent that is nowhere, or a parent that is not a commit', async () => {
    const s = PushScenario.create('history-refs');
    const dir = `${s.mirror.dir}-partial`;
    try {
      s.work.write('good.txt', 'good\n');
      s.work.commit('good');
      const good = s.rev('HEAD');
      const tree = s.rev('HEAD^{tree}');
      const commitWithParent = (parent: string) =>
        s.work
          .gitBytes(['hash-object', '-t', 'commit', '-w', '--literally', '--stdin'], `tree ${tree}\nparent ${parent}\nauthor A <a@example.com> 1700000000 +0000\ncommitter A <a@example.com> 1700000000 +0000\n\nbad\n`)
          .toString('latin1')
          .trim();
      const ghost = 'c'.repeat(40);
      const orphan = commitWithParent(ghost);
      const treeParent = commitWithParent(tree);
      const objects = s.work.git('rev-list', '--objects', good, '--not', s.rev('main~1')).trim().split('\n').map((l) => l.split(' ')[0]);
      const pack = s.work.gitBytes(['pack-objects', '-q', '--stdout'], `${[...objects, orphan, treeParent].join('\n')}\n`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(`${dir}/p.pack`, pack);
      s.work.gitBytes(['index-pack', '-o', `${dir}/p.idx`, `${dir}/p.pack`]);
      const mirror = GitDirObjectStore.open(s.mirror.dir, { limits: DEFAULT_LIMITS });
      const pushed = PushedPackStore.open(`${dir}/p.pack`, `${dir}/p.idx`, { limits: DEFAULT_LIMITS, base: mirror });
      const zero = '0'.repeat(40) as Oid;
      const build = (bad: string) =>
        buildChangeSet({
          commands: [
            { ref: 'refs/heads/good', oldOid: zero, newOid: good as Oid },
            { ref: 'refs/heads/bad', oldOid: zero, newOid: bad as Oid },
            { ref: 'refs/heads/also-good', oldOid: zero, newOid: good as Oid },
          ],
          store: pushed.withBase(),
          mirror,
          mirrorGitDir: s.mirror.dir,
          upstreamRefs: s.upstreamRefs() as Map<string, Oid>,
          limits: DEFAULT_LIMITS,
        });
      try {
        await expect(build(orphan)).rejects.toMatchObject({
          code: 'CHANGES_MISSING_OBJECT',
          data: { oid: ghost, referencedBy: `commit ${orphan}`, ref: 'refs/heads/bad' },
          delivery: { kind: 'ng', refs: ['refs/heads/bad'] },
        });
        await expect(build(treeParent)).rejects.toMatchObject({
          code: 'CHANGES_WRONG_OBJECT_TYPE',
          data: { oid: tree, ref: 'refs/heads/bad', expected: 'commit', actual: 'tree' },
          delivery: { kind: 'ng', refs: ['refs/heads/bad'] },
        });
      } finally {
        pushed.close();
        mirror.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
      s.cleanup();
    }
  });
});
