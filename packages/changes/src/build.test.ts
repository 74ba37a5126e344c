import { afterEach, describe, expect, it } from '@jest/globals';
import { DEFAULT_LIMITS, LimitError, type Oid, type ProgressEvent, type RefUpdate } from '@pushgate/core';
import { GitDirObjectStore, PushedPackStore } from '@pushgate/objects';
import { PushScenario, inspectScenario as inspect, withContent } from './git-fixture.test-support';
import { ChangesError, buildChangeSet, summarize, type ChangeSet, type FileChangeList, type RefChange } from './index';

// Pushes made with the real git CLI against a bare "mirror": the change set must say what git
// itself says about the same commits.

let scenarios: PushScenario[] = [];
afterEach(() => {
  for (const s of scenarios) s.cleanup();
  scenarios = [];
});

function scenario(prefix: string, seed?: Parameters<typeof PushScenario.create>[1]): PushScenario {
  const s = PushScenario.create(prefix, seed);
  scenarios.push(s);
  return s;
}

function ref(cs: ChangeSet, name: string): RefChange {
  const r = cs.refs.find((x) => x.ref === name);
  if (!r) throw new Error(`no ref ${name}`);
  return r;
}

function pathsOf(files: FileChangeList): string[] {
  return files.toArray().map((f) => `${f.status}:${f.status === 'deleted' ? f.old.path : f.status === 'added' ? f.new.path : `${f.old.path}->${f.new.path}`}`);
}

function revList(s: PushScenario, tips: string[]): string[] {
  const not = [...new Set(s.upstreamRefs().values())].map((v) => `^${v}`);
  return s.work.git('rev-list', '--topo-order', '--reverse', ...tips, ...not).trim().split('\n').filter(Boolean);
}

describe('buildChangeSet: ref updates', () => {
  it('classifies a fast-forward update and lists exactly the new commits', async () => {
    const s = scenario('ff');
    s.work.write('a.txt', 'one\n');
    s.work.commit('add a');
    s.work.write('a.txt', 'one\ntwo\n');
    s.work.commit('grow a');
    const expected = revList(s, [s.rev('HEAD')]);
    const cs = await inspect(s, { 'refs/heads/main': s.rev('HEAD') });
    const main = ref(cs, 'refs/heads/main');
    expect(main).toMatchObject({ kind: 'update', category: 'branch', fastForward: true, upstreamOid: s.upstreamRefs().get('refs/heads/main') });
    if (main.kind !== 'update') throw new Error('update expected');
    expect(main.commits).toEqual(expected);
    expect(cs.commits.map((c) => c.oid)).toEqual(expected);
    expect(main.net).toMatchObject({ kind: 'files', base: s.upstreamRefs().get('refs/heads/main') });
    if (main.net.kind !== 'files') throw new Error('files expected');
    expect(pathsOf(main.net.files)).toEqual(['added:a.txt']);
    expect(cs.stats.gitQueries).toBe(0);
    // Content is read on demand, per commit and path.
    await withContent(s, { 'refs/heads/main': s.rev('HEAD') }, {}, async (again, content) => {
      expect(await content.diff(again.commits[1].oid, 'a.txt')).toMatchObject({ kind: 'text', added: 1, removed: 0, addedLines: [{ line: 2, text: 'two' }] });
    });
  });

  it('sees a force push as not fast-forward and shows the net difference', async () => {
    const s = scenario('force');
    s.work.write('a.txt', 'a\n');
    s.work.commit('a');
    s.accept(['+refs/heads/main:refs/heads/main']);
    s.work.git('reset', '-q', '--hard', 'HEAD~1');
    s.work.write('b.txt', 'b\n');
    s.work.commit('b instead');
    const cs = await inspect(s, { 'refs/heads/main': s.rev('HEAD') });
    const main = ref(cs, 'refs/heads/main');
    expect(main).toMatchObject({ kind: 'update', fastForward: false });
    if (main.kind !== 'update' || main.net.kind !== 'files') throw new Error('update with files expected');
    expect(main.commits).toEqual([s.rev('HEAD')]);
    expect(pathsOf(main.net.files).sort()).toEqual(['added:b.txt', 'deleted:a.txt']);
    // Rewinding to an older commit is not a fast-forward either, and brings nothing new.
    const back = await inspect(s, { 'refs/heads/main': s.rev('HEAD~1') });
    expect(ref(back, 'refs/heads/main')).toMatchObject({ kind: 'update', fastForward: false, commits: [] });
  });

  it('answers ancestry with git when the old tip is deeper than the new commits reach', async () => {
    const s = scenario('deepff');
    for (let i = 0; i < 3; i++) {
      s.work.write('n.txt', `${i}\n`);
      s.work.commit(`n${i}`);
    }
    s.accept(['+refs/heads/main:refs/heads/main']);
    const older = s.rev('HEAD~2');
    s.work.write('m.txt', 'm\n');
    s.work.commit('m');
    // The client claims the ref was at an older commit: still an ancestor, found through the mirror.
    const cs = await inspect(s, { 'refs/heads/main': s.rev('HEAD') }, { old: { 'refs/heads/main': older } });
    expect(ref(cs, 'refs/heads/main')).toMatchObject({ kind: 'update', fastForward: true });
    expect(cs.stats.gitQueries).toBe(1);
  });

  it('does not re-inspect main for a new branch off it', async () => {
    const s = scenario('branch', (w) => {
      for (let i = 0; i < 5; i++) {
        w.write(`f${i}.txt`, `${i}\n`);
        w.commit(`main ${i}`);
      }
    });
    s.work.git('checkout', '-q', '-b', 'feature');
    s.work.write('feature.txt', 'new\n');
    s.work.commit('feature work');
    const cs = await inspect(s, { 'refs/heads/feature': s.rev('HEAD') });
    const feature = ref(cs, 'refs/heads/feature');
    expect(feature.kind).toBe('create');
    if (feature.kind !== 'create' || feature.net.kind !== 'files') throw new Error('create with files expected');
    expect(feature.commits).toEqual([s.rev('HEAD')]);
    expect(cs.commits).toHaveLength(1);
    expect(feature.net.base).toBe(s.rev('main'));
    expect(pathsOf(feature.net.files)).toEqual(['added:feature.txt']);
  });

  it('brings nothing when a branch is created at a commit the upstream has (empty pack)', async () => {
    const s = scenario('known');
    const cs = await inspect(s, { 'refs/heads/copy': s.rev('main') });
    const copy = ref(cs, 'refs/heads/copy');
    expect(copy).toMatchObject({ kind: 'create', commits: [], net: { kind: 'files', base: s.rev('main') } });
    expect(copy.kind === 'create' && copy.net.kind === 'files' && copy.net.files.length).toBe(0);
    expect(cs.commits).toEqual([]);
  });

  it('classifies a deletion and inspects nothing for it', async () => {
    const s = scenario('delete');
    s.work.git('branch', 'gone');
    s.accept(['refs/heads/gone:refs/heads/gone']);
    const cs = await inspect(s, { 'refs/heads/gone': null });
    expect(ref(cs, 'refs/heads/gone')).toEqual({ ref: 'refs/heads/gone', category: 'branch', kind: 'delete', oldOid: s.rev('main'), upstreamOid: s.rev('main') });
    expect(cs.commits).toEqual([]);
  });

  it("counts a re-pushed branch's commits as new after the upstream deleted it", async () => {
    const s = scenario('repush');
    s.work.git('checkout', '-q', '-b', 'topic');
    s.work.write('t.txt', 't1\n');
    s.work.commit('t1');
    s.work.write('t.txt', 't2\n');
    s.work.commit('t2');
    s.accept(['refs/heads/topic:refs/heads/topic']);
    // The upstream deletes the branch; its commits stay in the mirror, unreachable.
    s.mirror.git('update-ref', '-d', 'refs/heads/topic');
    // Refs that point at an annotated tag, a tree and a blob must not confuse the query.
    s.mirror.git('tag', '-a', '-m', 'annotated', 'ann', 'main');
    s.mirror.git('update-ref', 'refs/tags/a-tree', s.rev('main^{tree}'));
    s.mirror.git('update-ref', 'refs/tags/a-blob', s.rev('main:README.md'));
    s.work.write('t.txt', 't3\n');
    s.work.commit('t3');
    const cs = await inspect(s, { 'refs/heads/topic': s.rev('HEAD') });
    const topic = ref(cs, 'refs/heads/topic');
    expect(topic.kind).toBe('create');
    if (topic.kind !== 'create') throw new Error('create expected');
    expect(topic.commits).toEqual([s.rev('HEAD~2'), s.rev('HEAD~1'), s.rev('HEAD')]);
    expect(cs.stats.gitQueries).toBe(1);
    expect(cs.commits.map((c) => c.message)).toEqual(['t1\n', 't2\n', 't3\n']);
  });

  it('refuses the push when the mirror cannot answer (an upstream ref it does not have)', async () => {
    const s = scenario('badmirror');
    s.work.git('checkout', '-q', '-b', 'gone');
    s.work.write('g.txt', 'g\n');
    s.work.commit('g');
    s.accept(['refs/heads/gone:refs/heads/gone']);
    s.mirror.git('update-ref', '-d', 'refs/heads/gone');
    s.work.write('g.txt', 'h\n');
    s.work.commit('h');
    const limits = DEFAULT_LIMITS;
    const mirror = GitDirObjectStore.open(s.mirror.dir, { limits });
    try {
      const { commands, pack } = await s.receive({ 'refs/heads/gone': s.rev('HEAD') }, mirror);
      const pushed = PushedPackStore.open(pack!.packPath, pack!.idxPath, { limits, base: mirror });
      const refs = s.upstreamRefs() as Map<string, Oid>;
      refs.set('refs/heads/phantom', 'c'.repeat(40) as Oid);
      try {
        await expect(
          buildChangeSet({ commands: commands as RefUpdate[], store: pushed.withBase(), mirror, mirrorGitDir: s.mirror.dir, upstreamRefs: refs, limits }),
        ).rejects.toMatchObject({ code: 'CHANGES_MIRROR_QUERY_FAILED' });
      } finally {
        pushed.close();
      }
    } finally {
      mirror.close();
    }
  });

  it('sees a moved tag as an update, with ancestry between the tagged commits', async () => {
    const s = scenario('retag');
    s.work.git('tag', '-a', '-m', 'one', 'v1');
    s.accept(['refs/tags/v1:refs/tags/v1']);
    s.work.write('n.txt', 'n\n');
    s.work.commit('next');
    s.work.git('tag', '-f', '-a', '-m', 'moved', 'v1');
    const cs = await inspect(s, { 'refs/tags/v1': s.rev('v1') });
    expect(ref(cs, 'refs/tags/v1')).toMatchObject({
      kind: 'update',
      category: 'tag',
      fastForward: true,
      commits: [s.rev('HEAD')],
      target: { type: 'tag', tags: [{ name: 'v1', message: 'moved\n' }], peeled: { oid: s.rev('HEAD'), type: 'commit' } },
    });
  });

  it('handles several refs in one push: a branch, an annotated tag, a lightweight tag, a deletion', async () => {
    const s = scenario('multi');
    s.work.git('branch', 'old');
    s.accept(['refs/heads/old:refs/heads/old']);
    s.work.write('x.txt', 'x\n');
    s.work.commit('x');
    s.work.git('tag', '-a', '-m', 'Release 1\n\nnotes', 'v1');
    s.work.git('tag', 'light', 'HEAD~1');
    const cs = await inspect(s, {
      'refs/heads/main': s.rev('HEAD'),
      'refs/tags/v1': s.rev('v1'),
      'refs/tags/light': s.rev('light'),
      'refs/heads/old': null,
    });
    expect(cs.refs.map((r) => `${r.ref}:${r.kind}:${r.category}`)).toEqual([
      'refs/heads/main:update:branch',
      'refs/tags/v1:create:tag',
      'refs/tags/light:create:tag',
      'refs/heads/old:delete:branch',
    ]);
    const v1 = ref(cs, 'refs/tags/v1');
    if (v1.kind !== 'create') throw new Error('create expected');
    expect(v1.target).toEqual({
      type: 'tag',
      tags: [
        {
          oid: s.rev('v1'),
          name: 'v1',
          tagger: expect.objectContaining({ name: 'Cid Committer', email: 'cid@example.com' }),
          message: 'Release 1\n\nnotes\n',
          target: s.rev('HEAD'),
          targetType: 'commit',
          signature: { kind: 'unsigned' },
        },
      ],
      peeled: { oid: s.rev('HEAD'), type: 'commit' },
    });
    expect(v1.commits).toEqual([s.rev('HEAD')]);
    const light = ref(cs, 'refs/tags/light');
    expect(light).toMatchObject({ kind: 'create', target: { type: 'commit', tags: [], peeled: { oid: s.rev('HEAD~1'), type: 'commit' } }, commits: [] });
    expect(cs.commits).toHaveLength(1);
    expect(cs.commits[0].refs).toEqual(['refs/heads/main', 'refs/tags/v1']);
    const summary = summarize(cs);
    expect(summary.refs.map((r) => [r.ref, r.commits, r.fileChanges])).toEqual([
      ['refs/heads/main', 1, 1],
      ['refs/tags/v1', 1, 1],
      ['refs/tags/light', 0, 0],
      ['refs/heads/old', 0, 0],
    ]);
    expect(summary.refs[0]).toMatchObject({ fastForward: true, bytes: 2, paths: 1 });
  });

  it('refuses a branch that would point at a tree', async () => {
    const s = scenario('nonc');
    await expect(inspect(s, { 'refs/heads/tree': s.rev('HEAD^{tree}') })).rejects.toMatchObject({
      code: 'CHANGES_NON_COMMIT_BRANCH',
      data: { ref: 'refs/heads/tree', actual: 'tree' },
    });
  });
});

describe('buildChangeSet: limits, connectivity, pacing', () => {
  it('refuses more new commits than the limit before diffing anything', async () => {
    const s = scenario('limit');
    for (let i = 0; i < 6; i++) {
      s.work.write('l.txt', `${i}\n`);
      s.work.commit(`l${i}`);
    }
    const events: ProgressEvent[] = [];
    const err = await inspect(s, { 'refs/heads/main': s.rev('HEAD') }, { limits: { maxCommitsInspected: 4 }, onProgress: (e) => events.push(e) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LimitError);
    expect(err).toMatchObject({ code: 'LIMIT_COMMITS', data: { max: 4 } });
    expect(events).toEqual([]);
    // At the limit it passes.
    const ok = await inspect(s, { 'refs/heads/main': s.rev('HEAD') }, { limits: { maxCommitsInspected: 6 } });
    expect(ok.commits).toHaveLength(6);
  });

  it('counts leftover mirror commits toward the limit', async () => {
    const s = scenario('limit2');
    s.work.git('checkout', '-q', '-b', 'gone');
    for (let i = 0; i < 4; i++) {
      s.work.write('g.txt', `${i}\n`);
      s.work.commit(`g${i}`);
    }
    s.accept(['refs/heads/gone:refs/heads/gone']);
    s.mirror.git('update-ref', '-d', 'refs/heads/gone');
    s.work.write('g.txt', 'last\n');
    s.work.commit('last');
    await expect(inspect(s, { 'refs/heads/gone': s.rev('HEAD') }, { limits: { maxCommitsInspected: 3 } })).rejects.toMatchObject({ code: 'LIMIT_COMMITS' });
  });

  it('refuses a push whose objects are incomplete, naming the missing object and who needs it', async () => {
    const s = scenario('missing');
    s.work.write('keep.txt', 'kept\n');
    s.work.write('lost.txt', 'never sent\n');
    s.work.commit('two files');
    const lost = s.rev('HEAD:lost.txt');
    const tree = s.rev('HEAD^{tree}');
    // A pack with everything but one blob.
    const objects = s.work
      .git('rev-list', '--objects', 'HEAD', '--not', s.rev('main~1'))
      .trim()
      .split('\n')
      .map((l) => l.split(' ')[0])
      .filter((o) => o !== lost);
    const commands = [{ ref: 'refs/heads/main', oldOid: s.rev('main~1'), newOid: s.rev('HEAD') }];
    const pack = s.work.gitBytes(['pack-objects', '-q', '--stdout'], `${objects.join('\n')}\n`);
    const dir = `${s.mirror.dir}-partial`;
    const { mkdirSync, writeFileSync, rmSync } = await import('node:fs');
    mkdirSync(dir, { recursive: true });
    try {
      writeFileSync(`${dir}/p.pack`, pack);
      s.work.gitBytes(['index-pack', '-o', `${dir}/p.idx`, `${dir}/p.pack`]);
      const mirror = GitDirObjectStore.open(s.mirror.dir, { limits: DEFAULT_LIMITS });
      const pushed = PushedPackStore.open(`${dir}/p.pack`, `${dir}/p.idx`, { limits: DEFAULT_LIMITS, base: mirror });
      try {
        const err = await buildChangeSet({
          commands: commands as RefUpdate[],
          store: pushed.withBase(),
          mirror,
          mirrorGitDir: s.mirror.dir,
          upstreamRefs: s.upstreamRefs() as Map<string, Oid>,
          limits: DEFAULT_LIMITS,
        }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ChangesError);
        expect(err).toMatchObject({ code: 'CHANGES_MISSING_OBJECT', data: { oid: lost, referencedBy: `tree ${tree}`, path: 'lost.txt' } });
      } finally {
        pushed.close();
        mirror.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a push whose tip is missing', async () => {
    const s = scenario('notip');
    const mirror = GitDirObjectStore.open(s.mirror.dir, { limits: DEFAULT_LIMITS });
    try {
      const ghost = 'b'.repeat(40) as Oid;
      await expect(
        buildChangeSet({
          commands: [{ ref: 'refs/heads/main', oldOid: s.rev('main') as Oid, newOid: ghost }],
          store: mirror,
          mirrorGitDir: s.mirror.dir,
          upstreamRefs: s.upstreamRefs() as Map<string, Oid>,
          limits: DEFAULT_LIMITS,
        }),
      ).rejects.toMatchObject({ code: 'CHANGES_MISSING_OBJECT', data: { oid: ghost, ref: 'refs/heads/main' }, delivery: { kind: 'ng', refs: ['refs/heads/main'] } });
    } finally {
      mirror.close();
    }
  });

  it('reports progress up to the total and stops when aborted', async () => {
    const s = scenario('progress');
    for (let i = 0; i < 70; i++) {
      s.work.write('p.txt', `${i}\n`);
      s.work.commit(`p${i}`);
    }
    const events: ProgressEvent[] = [];
    const cs = await inspect(s, { 'refs/heads/main': s.rev('HEAD') }, { onProgress: (e) => events.push(e) });
    expect(cs.commits).toHaveLength(70);
    expect(events[0]).toEqual({ stage: 'inspecting commits', done: 0, total: 70 });
    expect(events[events.length - 1]).toEqual({ stage: 'inspecting commits', done: 70, total: 70 });
    const controller = new AbortController();
    controller.abort(new Error('client went away'));
    await expect(inspect(s, { 'refs/heads/main': s.rev('HEAD') }, { signal: controller.signal })).rejects.toMatchObject({ code: 'CHANGES_ABORTED' });
  });
});
