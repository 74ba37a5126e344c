import { afterEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_LIMITS, type Oid, type RefUpdate } from '@pushgate/core';
import { GitDirObjectStore, PushedPackStore } from '@pushgate/objects';
import { PushScenario, inspectScenario, withContent } from './git-fixture.test-support';
import { buildChangeSet, summarizeFileChange, type ChangeContent, type ChangeSet, type ChangeSetOptions, type CommitChange, type FileChange } from './index';

// File-level changes, one kind at a time, each compared with what git prints for the same commit.

let scenarios: PushScenario[] = [];
afterEach(() => {
  for (const s of scenarios) s.cleanup();
  scenarios = [];
});

function scenario(prefix: string): PushScenario {
  const s = PushScenario.create(prefix);
  scenarios.push(s);
  return s;
}

async function pushHead(s: PushScenario, options?: ChangeSetOptions, refName = 'refs/heads/main', rev = 'HEAD'): Promise<ChangeSet> {
  return inspectScenario(s, { [refName]: s.rev(rev) }, options ? { options } : {});
}

/** Pushes HEAD and hands the last commit and the content reader to `use`. */
async function withHead<T>(s: PushScenario, use: (c: CommitChange, content: ChangeContent, cs: ChangeSet) => Promise<T>, options?: ChangeSetOptions): Promise<T> {
  return withContent(s, { 'refs/heads/main': s.rev('HEAD') }, options ? { options } : {}, (cs, content) => use(last(cs), content, cs));
}

/** Pushes exactly `objects` (packed without walking them) for `updates`. */
async function pushObjects(s: PushScenario, updates: Record<string, string>, objects: string[]): Promise<ChangeSet> {
  const dir = mkdtempSync(join(tmpdir(), 'pg-objects-'));
  try {
    writeFileSync(join(dir, 'p.pack'), s.work.gitBytes(['pack-objects', '-q', '--stdout'], `${objects.join('\n')}\n`));
    s.work.gitBytes(['index-pack', '-o', join(dir, 'p.idx'), join(dir, 'p.pack')]);
    const refs = s.upstreamRefs();
    const commands = Object.entries(updates).map(([ref, newOid]) => ({ ref, oldOid: refs.get(ref) ?? '0'.repeat(40), newOid }));
    const mirror = GitDirObjectStore.open(s.mirror.dir, { limits: DEFAULT_LIMITS });
    const pushed = PushedPackStore.open(join(dir, 'p.pack'), join(dir, 'p.idx'), { limits: DEFAULT_LIMITS, base: mirror });
    try {
      return await buildChangeSet({
        commands: commands as RefUpdate[],
        store: pushed.withBase(),
        mirror,
        mirrorGitDir: s.mirror.dir,
        upstreamRefs: refs as Map<string, Oid>,
        limits: DEFAULT_LIMITS,
      });
    } finally {
      pushed.close();
      mirror.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function last(cs: ChangeSet): CommitChange {
  return cs.commits[cs.commits.length - 1];
}

function only(c: CommitChange): FileChange {
  expect(c.files.length).toBe(1);
  return c.files.at(0);
}

describe('file changes', () => {
  it('pairs an exact rename and a renamed-and-edited file with git’s similarity', async () => {
    const s = scenario('ren');
    const body = Array.from({ length: 40 }, (_, i) => `line ${i} of the module`).join('\n');
    s.work.write('src/old.ts', `${body}\n`);
    s.work.write('docs/guide.md', 'guide\n'.repeat(30));
    s.work.commit('base');
    s.accept(['+refs/heads/main:refs/heads/main']);
    s.work.remove('docs/guide.md');
    s.work.write('handbook/guide.md', 'guide\n'.repeat(30));
    s.work.remove('src/old.ts');
    s.work.write('lib/new.ts', `${body.replace('line 7', 'line seven')}\nexport {};\n`);
    s.work.commit('move things');
    await withHead(s, async (c, content) => {
    const files = c.files.toArray();
    const raw = s.work.git('diff-tree', '-r', '-M', '--raw', 'HEAD~1', 'HEAD').trim().split('\n');
    const gitScores = raw.map((l) => /\sR(\d+)\t(\S+)\t(\S+)$/.exec(l)).filter(Boolean).map((m) => [m![2], m![3], Number(m![1])]);
    const ours = files.map((f) => (f.status === 'renamed' ? [f.old.path, f.new.path, f.similarity] : [f.status]));
    expect(ours).toEqual(gitScores);
    expect(gitScores.some((g) => g[2] === 100)).toBe(true);
    expect(gitScores.some((g) => (g[2] as number) < 100)).toBe(true);
    const edited = files.find((f) => f.status === 'renamed' && f.similarity < 100)!;
    expect(await content.diffOf(edited)).toMatchObject({ kind: 'text', added: 2, removed: 1 });
    const exact = files.find((f) => f.status === 'renamed' && f.similarity === 100)!;
    expect(await content.diffOf(exact)).toEqual({ kind: 'none' });
    // By commit and path, as policy and the review page ask.
    expect(await content.addedLines(c.oid, 'lib/new.ts')).toMatchObject({ kind: 'text', lines: [{ line: 8, text: 'line seven of the module' }, { line: 41, text: 'export {};' }] });
    expect(await content.addedLines(c.oid, 'no/such/path')).toBeUndefined();
    });
  });

  it('reports a mode change with both modes and no content diff', async () => {
    const s = scenario('mode');
    s.work.write('run.sh', '#!/bin/sh\necho hi\n');
    s.work.commit('script');
    s.accept(['+refs/heads/main:refs/heads/main']);
    s.work.git('update-index', '--chmod=+x', 'run.sh');
    s.work.git('commit', '-q', '-m', 'make executable');
    await withHead(s, async (c, content) => {
      const f = only(c);
      expect(f).toMatchObject({
        status: 'modified',
        old: { path: 'run.sh', mode: '100644', kind: 'regular' },
        new: { path: 'run.sh', mode: '100755', kind: 'executable' },
      });
      expect(await content.diffOf(f)).toEqual({ kind: 'none' });
    });
  });

  it('gives symlinks their targets, and a file turned into a symlink is a type change', async () => {
    const s = scenario('link');
    s.work.write('target.txt', 'x\n');
    s.work.symlink('current', 'target.txt');
    s.work.commit('link');
    const add = last(await pushHead(s)).files.toArray().find((f) => f.status === 'added' && f.new.kind === 'symlink')!;
    expect(add).toMatchObject({ new: { path: 'current', mode: '120000', kind: 'symlink', target: 'target.txt', size: 10 } });
    s.accept(['+refs/heads/main:refs/heads/main']);
    s.work.symlink('current', '/etc/passwd');
    s.work.remove('target.txt');
    s.work.symlink('target.txt', '../../outside');
    s.work.commit('retarget');
    const files = last(await pushHead(s)).files.toArray();
    expect(files.find((f) => f.status === 'modified')).toMatchObject({ old: { target: 'target.txt' }, new: { target: '/etc/passwd', kind: 'symlink' } });
    expect(files.find((f) => f.status === 'type-changed')).toMatchObject({
      old: { path: 'target.txt', kind: 'regular' },
      new: { path: 'target.txt', kind: 'symlink', target: '../../outside' },
    });
    expect(s.work.git('diff-tree', '-r', '--raw', 'HEAD~1', 'HEAD')).toMatch(/ T\ttarget\.txt/);
  });

  it('gives submodules their commit and no content diff', async () => {
    const s = scenario('sub');
    const commitA = s.rev('HEAD');
    s.work.git('update-index', '--add', '--cacheinfo', `160000,${commitA},vendor/lib`);
    s.work.git('commit', '-q', '-m', 'add submodule');
    await withHead(s, async (c, content) => {
      const f = only(c);
      expect(f).toEqual({ status: 'added', new: { path: 'vendor/lib', mode: '160000', kind: 'submodule', oid: commitA } });
      expect(await content.diffOf(f)).toEqual({ kind: 'none' });
      expect(content.newBlobs()).toEqual([]);
    });
    s.accept(['+refs/heads/main:refs/heads/main']);
    const other = s.work.gitBytes(['commit-tree', s.rev('HEAD^{tree}'), '-m', 'elsewhere']).toString().trim();
    s.work.git('update-index', '--cacheinfo', `160000,${other},vendor/lib`);
    s.work.git('commit', '-q', '-m', 'bump submodule');
    expect(only(last(await pushHead(s)))).toMatchObject({ status: 'modified', old: { oid: commitA }, new: { oid: other, kind: 'submodule' } });
  });

  it('summarises every kind of change from the table as from the FileChange itself', async () => {
    const s = scenario('summaries');
    s.work.write('keep.txt', `${'a line of text\n'.repeat(40)}`);
    s.work.write('moved.txt', `${'another line\n'.repeat(40)}`);
    s.work.write('edited-move.txt', `${'edit me\n'.repeat(40)}`);
    s.work.write('gone.txt', 'bye\n');
    s.work.write('run.sh', 'echo hi\n');
    s.work.write('target.txt', 'x\n');
    s.work.commit('base');
    s.accept(['+refs/heads/main:refs/heads/main']);
    s.work.write('keep.txt', `${'a line of text\n'.repeat(41)}`);
    s.work.remove('moved.txt');
    s.work.write('dir/moved.txt', `${'another line\n'.repeat(40)}`);
    s.work.remove('edited-move.txt');
    s.work.write('dir/edited.txt', `${'edit me\n'.repeat(39)}one more\n`);
    s.work.remove('gone.txt');
    s.work.git('update-index', '--chmod=+x', 'run.sh');
    s.work.remove('target.txt');
    s.work.symlink('target.txt', 'keep.txt');
    s.work.write('new.txt', 'new\n');
    s.work.commit('every kind');
    s.work.git('update-index', '--add', '--cacheinfo', `160000,${s.rev('HEAD~1')},vendor/lib`);
    s.work.git('commit', '-q', '-m', 'a submodule');
    const cs = await pushHead(s);
    const files = cs.commits.flatMap((c) => [c.files]);
    expect(new Set(files.flatMap((l) => l.toArray().map((f) => f.status)))).toEqual(new Set(['added', 'deleted', 'renamed', 'modified', 'type-changed']));
    for (const list of files) expect(list.summaries()).toEqual(list.toArray().map(summarizeFileChange));
    const sub = files.flatMap((l) => l.summaries()).find((f) => f.path === 'vendor/lib');
    expect(sub).toEqual({ index: 0, status: 'added', path: 'vendor/lib', renamedFrom: undefined, size: undefined, sameObject: false, newOid: s.rev('HEAD~2'), newKind: 'submodule' });
    const moved = files.flatMap((l) => l.summaries()).find((f) => f.path === 'dir/moved.txt');
    expect(moved).toMatchObject({ status: 'renamed', renamedFrom: 'moved.txt', sameObject: true });
  });

  it('calls a file with a NUL in its first 8000 bytes binary, as git does', async () => {
    const s = scenario('bin');
    s.work.write('image.png', Buffer.concat([Buffer.from('\x89PNG\r\n\x1a\n'), Buffer.alloc(64), Buffer.from('tEXt')]));
    s.work.write('late-nul.txt', Buffer.concat([Buffer.alloc(9000, 0x61), Buffer.from([0])]));
    s.work.commit('binary');
    await withHead(s, async (c, content) => {
      const kinds = [];
      for (const f of c.files) kinds.push([f.status === 'added' && f.new.path, (await content.diffOf(f)).kind]);
      expect(kinds).toEqual([
        ['image.png', 'binary'],
        ['late-nul.txt', 'text'],
      ]);
      const blobs = content.newBlobs();
      expect((await content.blob(blobs[0].oid)).kind).toBe('binary');
      expect((await content.blob(blobs[1].oid)).kind).toBe('text');
    });
    const numstat = s.work.git('diff-tree', '--numstat', '-r', 'HEAD~1', 'HEAD');
    expect(numstat).toContain('-\t-\timage.png');
    expect(numstat).toMatch(/^1\t0\tlate-nul\.txt$/m);
  });

  it('skips the diff of a huge file and says why, with its size', async () => {
    const s = scenario('huge');
    const big = Buffer.alloc(3 * 1024 * 1024, 'all work and no play\n');
    s.work.write('dump.sql', big);
    s.work.commit('huge');
    await withHead(s, async (c, content) => {
      const f = only(c);
      expect(f).toMatchObject({ status: 'added', new: { size: big.length } });
      const diff = await content.diffOf(f);
      expect(diff).toMatchObject({ kind: 'skipped', reason: 'too-large' });
      if (diff.kind !== 'skipped') throw new Error('skipped expected');
      expect(diff.detail).toContain(String(big.length));
      expect(await content.addedLinesOf(f)).toMatchObject({ kind: 'skipped', reason: 'too-large' });
      // Scanning reads further than diffing: the 3 MiB blob is still there to scan whole.
      if (f.status !== 'added') throw new Error('added expected');
      const blob = await content.blob(f.new.oid);
      expect(blob.kind === 'text' && blob.data.equals(big)).toBe(true);
    });
  });

  it('stops keeping diff text once the push budget is spent, and says so per file', async () => {
    const s = scenario('budget');
    for (let i = 0; i < 5; i++) s.work.write(`f${i}.txt`, `${String(i).repeat(100)}\n`.repeat(20));
    s.work.commit('five files');
    await withHead(
      s,
      async (c, content) => {
        const kinds = [];
        for (const f of c.files) kinds.push((await content.diffOf(f)).kind);
        expect(kinds.filter((k) => k === 'text').length).toBeGreaterThan(0);
        expect(kinds.filter((k) => k === 'skipped').length).toBeGreaterThan(0);
        expect(content.counters.skipped['budget-exhausted']).toBe(kinds.filter((k) => k === 'skipped').length);
        expect(content.counters.diffBytes).toBeLessThanOrEqual(6000);
      },
      { maxDiffTotalBytes: 6000 },
    );
  });

  it('degrades a line diff past its work bound to a coarse but correct one', async () => {
    const s = scenario('complex');
    s.work.write('a.txt', Array.from({ length: 200 }, (_, i) => `a${i % 7}\nk${i}`).join('\n'));
    s.work.commit('a');
    s.accept(['+refs/heads/main:refs/heads/main']);
    s.work.write('a.txt', Array.from({ length: 200 }, (_, i) => `a${i % 5}\nk${i * 3}`).join('\n'));
    s.work.commit('rewrite');
    await withHead(
      s,
      async (c, content) => {
        const diff = await content.diffOf(only(c));
        if (diff.kind !== 'text') throw new Error(`text expected, got ${diff.kind}`);
        expect(diff.coarse).toBe(true);
        // Still a diff of these two files: the new file's lines are its unchanged and added lines.
        const after = s.work.git('show', 'HEAD:a.txt').split('\n');
        for (const a of diff.addedLines) expect(after[a.line - 1]).toBe(a.text);
        const numstat = s.work.git('diff-tree', '--numstat', '-r', 'HEAD~1', 'HEAD').split('\t').map(Number);
        expect(diff.added - diff.removed).toBe(numstat[0] - numstat[1]);
      },
      { maxDiffWork: 10 },
    );
  });

  it('follows deep trees', async () => {
    const s = scenario('deep');
    const dir = Array.from({ length: 300 }, (_, i) => `d${i}`).join('/');
    s.work.write(`${dir}/leaf.txt`, 'deep\n');
    s.work.commit('deep');
    const f = only(last(await pushHead(s)));
    expect(f).toMatchObject({ status: 'added', new: { path: `${dir}/leaf.txt` } });
    expect(s.work.git('diff-tree', '-r', '--name-only', 'HEAD~1', 'HEAD').trim()).toBe(`${dir}/leaf.txt`);
  });

  it('keeps non-UTF-8 names exact: escaped for display, bytes in hex', async () => {
    const s = scenario('latin');
    s.work.write(Buffer.from([0x72, 0xe9, 0x73, 0x75, 0x6d, 0xe9, 0x2e, 0x74, 0x78, 0x74]), 'r\xe9sum\xe9\n');
    s.work.write('caf\u00e9.txt', 'utf-8 name\n');
    s.work.commit('names');
    const files = last(await pushHead(s)).files.toArray();
    const names = s.work.gitBytes(['diff-tree', '-r', '-z', '--name-only', 'HEAD~1', 'HEAD']).toString('latin1').split('\0').filter(Boolean);
    expect(names.map((n) => Buffer.from(n, 'latin1').toString('hex'))).toContain('72e973756de92e747874');
    expect(files.map((f) => (f.status === 'added' ? [f.new.path, f.new.pathBytes] : []))).toEqual([
      ['caf\u00e9.txt', undefined],
      ['r\\xe9sum\\xe9.txt', '72e973756de92e747874'],
    ]);
    expect(JSON.parse(JSON.stringify(files))).toEqual(files.map((f) => JSON.parse(JSON.stringify(f))));
  });

  it('marks signed commits as signed (present, not verified) and keeps other headers', async () => {
    const s = scenario('signed');
    const sig = '-----BEGIN SSH SIGNATURE-----\n U1NIU0lH\n -----END SSH SIGNATURE-----';
    const raw = `tree ${s.rev('HEAD^{tree}')}\nparent ${s.rev('HEAD')}\nauthor A <a@example.com> 1700000000 +0000\ncommitter A <a@example.com> 1700000000 +0000\nx-agent claude\ngpgsig ${sig}\n\nsigned\n`;
    const oid = s.work.gitBytes(['hash-object', '-t', 'commit', '-w', '--stdin'], raw).toString().trim();
    s.work.git('update-ref', 'refs/heads/main', oid);
    const c = last(await pushHead(s));
    expect(c.signature).toEqual({ kind: 'signed', headers: ['gpgsig'], format: 'ssh' });
    expect(c.extraHeaders).toEqual([{ name: 'x-agent', value: 'claude' }]);
    expect(c.files.length).toBe(0);
  });

  it('refuses a tree entry whose object is not what its mode says', async () => {
    const s = scenario('wrongtype');
    const commitOid = s.rev('HEAD');
    // A blob entry naming a commit: git's connectivity check refuses it; so does pushgate.
    const tree = s.work
      .gitBytes(['hash-object', '-t', 'tree', '-w', '--stdin'], Buffer.concat([Buffer.from('100644 notablob\0'), Buffer.from(commitOid, 'hex')]))
      .toString()
      .trim();
    const c = s.work.gitBytes(['commit-tree', tree, '-p', 'HEAD', '-m', 'bad entry']).toString().trim();
    // git pack-objects --revs would refuse to walk this tree, so the pack lists the objects itself.
    await expect(pushObjects(s, { 'refs/heads/main': c }, [c, tree])).rejects.toMatchObject({
      code: 'CHANGES_WRONG_OBJECT_TYPE',
      data: { oid: commitOid, expected: 'blob', actual: 'commit' },
    });
  });

  it('handles a tag of a tree: closure checked, no commits, no net change', async () => {
    const s = scenario('treetag');
    s.work.write('only-in-tag.txt', 'x\n');
    s.work.git('add', '-A');
    const tree = s.work.git('write-tree').trim();
    s.work.git('tag', '-a', '-m', 'a tree', 'treetag', tree);
    const cs = await pushHead(s, undefined, 'refs/tags/treetag', 'treetag');
    expect(cs.refs[0]).toMatchObject({
      kind: 'create',
      category: 'tag',
      target: { type: 'tag', tags: [{ name: 'treetag', targetType: 'tree', target: tree }], peeled: { oid: tree, type: 'tree' } },
      commits: [],
      net: { kind: 'not-applicable', reason: 'not-a-commit' },
    });
    expect(cs.commits).toEqual([]);
  });
});

describe('merges', () => {
  it('shows what an evil merge introduces, as git diff --cc does', async () => {
    const s = scenario('evil');
    const config = (a: string, z: string, extra = '') => `a = ${a}\n${'# filler\n'.repeat(8)}z = ${z}\n${extra}`;
    s.work.write('config.txt', config('1', '2'));
    s.work.write('other.txt', 'other\n');
    s.work.commit('base');
    s.accept(['+refs/heads/main:refs/heads/main']);
    s.work.git('checkout', '-q', '-b', 'side');
    s.work.write('config.txt', config('1', '22'));
    s.work.write('side-only.txt', 'from side\n');
    s.work.commit('side edits z');
    s.work.git('checkout', '-q', 'main');
    s.work.write('config.txt', config('11', '2'));
    s.work.commit('main edits a');
    s.work.git('merge', '-q', '--no-commit', 'side');
    // The evil part: content in neither parent.
    s.work.write('config.txt', config('11', '22', 'token = hunter2\n'));
    s.work.write('other.txt', 'other, changed only by the merge\n');
    s.work.git('add', '-A');
    s.work.git('commit', '-q', '-m', 'merge side');
    await withHead(s, async (merge, content) => {
    expect(merge.parents).toHaveLength(2);
    if (merge.merge.kind !== 'merge') throw new Error('merge expected');
    const gitPaths = s.work.git('diff-tree', '-c', '--name-only', 'HEAD').trim().split('\n').slice(1);
    expect(merge.merge.introduced.map((m) => m.path)).toEqual(gitPaths);
    const ccPlus = s.work
      .git('diff-tree', '--cc', '-p', 'HEAD')
      .split('\n')
      .filter((l) => l.startsWith('++') && !l.startsWith('+++'))
      .map((l) => l.slice(2));
    const introduced: string[] = [];
    for (const m of merge.merge.introduced) {
      const mc = await content.mergeContentOf(m);
      if (mc.kind === 'text') introduced.push(...mc.introducedLines.map((l) => l.text));
    }
    expect(introduced).toEqual(ccPlus);
    expect(introduced).toContain('token = hunter2');
    const configChange = merge.merge.introduced.find((m) => m.path === 'config.txt')!;
    expect(configChange.parents.map((p) => p?.oid)).toEqual([s.rev('HEAD^1:config.txt'), s.rev('HEAD^2:config.txt')]);
    // Against the first parent the merge brings side's work too.
    expect(merge.files.toArray().map((f) => (f.status === 'deleted' ? f.old.path : f.new.path)).sort()).toEqual(['config.txt', 'other.txt', 'side-only.txt']);
    expect(await content.mergeContent(merge.oid, 'config.txt')).toMatchObject({ kind: 'text', introducedLines: [{ text: 'token = hunter2' }] });
    });
  });

  it('finds nothing introduced by a clean merge', async () => {
    const s = scenario('clean');
    s.work.git('checkout', '-q', '-b', 'side');
    s.work.write('s.txt', 's\n');
    s.work.commit('side');
    s.work.git('checkout', '-q', 'main');
    s.work.write('m.txt', 'm\n');
    s.work.commit('main');
    s.work.git('merge', '-q', '--no-ff', '-m', 'merge', 'side');
    const merge = last(await pushHead(s));
    expect(merge.merge).toEqual({ kind: 'merge', introduced: [] });
    expect(s.work.git('diff-tree', '-c', '--name-only', 'HEAD').trim().split('\n').slice(1)).toEqual([]);
  });
});
