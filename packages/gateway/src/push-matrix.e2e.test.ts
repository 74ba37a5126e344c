/**
 * The push matrix end to end: every kind of push the real git client makes, through the gateway
 * (each one inspected: spooled, indexed against the mirror, turned into a change set) to a real
 * upstream. For each: the upstream ends in the state git says it should, and the audit record's
 * change-set summary agrees with what git itself says about the same push — per ref the kind,
 * fast-forward or not, the new commits (`<new> --not <upstream refs>`), and their file changes,
 * paths and line counts against the first parent (`git diff-tree -r -M --numstat`). The whole
 * matrix runs on PGlite, a representative part of it on PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { listAuditEvents, type AuditEventRecord } from '@pushgate/store';
import { testDatabases, type TestDatabase } from '@pushgate/store/testing';
import { startHarness, type Harness } from './testing/harness';

const ZERO = '0'.repeat(40);
const backends = await testDatabases();

/** A ref's counts as the audit record keeps them (the fields git can be asked about). */
interface RefCounts {
  readonly ref: string;
  readonly kind: 'create' | 'update' | 'delete';
  readonly fastForward?: boolean;
  readonly commits: number;
  readonly fileChanges: number;
  readonly paths: number;
}

/** The inspection part of a push's audit record. */
interface InspectionDetail {
  readonly pack?: { readonly objects: number; readonly thinBases: number; readonly refDeltas: number };
  readonly changes: { readonly refs: readonly (RefCounts & { category: string })[]; readonly commits: number; readonly merges: number };
}

/** One scenario of the matrix; `both` ones run on every backend. */
interface Scenario {
  readonly name: string;
  readonly both: boolean;
  readonly run: (m: Matrix) => Promise<void>;
}

/** What scenarios work with. */
interface Matrix {
  readonly h: Harness;
  readonly work: string;
  readonly upstreamRepo: string;
  /** Pushes through the gateway with the given arguments; returns git's result and the push's audit record. */
  push(args: readonly string[]): Promise<Pushed>;
  /** The upstream's refs, read with git from its bare repository. */
  upstreamRefs(): Promise<Map<string, string>>;
  /** Resets the working clone to the upstream's main. */
  sync(): Promise<void>;
}

interface Pushed {
  readonly code: number;
  readonly stderr: string;
  readonly row: AuditEventRecord;
  readonly before: Map<string, string>;
  readonly inspection: InspectionDetail;
}

/** Parses `git diff-tree -z --numstat` output: the path each change touches (the new one for a rename). */
function parseNumstat(out: string): { path: string }[] {
  const fields = out.split('\0');
  const changes: { path: string }[] = [];
  for (let i = 0; i < fields.length; ) {
    const head = fields[i++];
    if (head === '') continue;
    const path = head.split('\t')[2];
    if (path === '') {
      // A rename or copy: the old and the new path follow as their own fields; the new one counts.
      i++;
      changes.push({ path: fields[i++] });
    } else {
      changes.push({ path });
    }
  }
  return changes;
}

/** What git says about one ref update of a push, in the audit record's terms. */
async function gitCounts(m: Matrix, update: { ref: string; oldOid: string; newOid: string }, before: Map<string, string>): Promise<RefCounts> {
  const git = async (args: string[]) => (await m.h.git.gitOk(args, { cwd: m.work })).stdout;
  if (update.newOid === ZERO) return { ref: update.ref, kind: 'delete', commits: 0, fileChanges: 0, paths: 0 };
  const kind = update.oldOid === ZERO ? 'create' : 'update';
  const tip = (await git(['rev-parse', `${update.newOid}^{commit}`])).trim();
  const not = [...new Set(before.values())].map((v) => `^${v}`);
  const commits = (await git(['rev-list', tip, ...not])).split('\n').filter(Boolean);
  let fileChanges = 0;
  const paths = new Set<string>();
  for (const c of commits) {
    const parents = (await git(['rev-list', '--parents', '-n', '1', c])).trim().split(' ').slice(1);
    const range = parents.length === 0 ? ['--root', c] : [parents[0], c];
    for (const change of parseNumstat(await git(['diff-tree', '-r', '-M', '-z', '--numstat', '--no-commit-id', ...range]))) {
      fileChanges++;
      paths.add(change.path);
    }
  }
  const counts: RefCounts = { ref: update.ref, kind, commits: commits.length, fileChanges, paths: paths.size };
  if (kind === 'create') return counts;
  const ff = await m.h.git.git(['merge-base', '--is-ancestor', `${update.oldOid}^{commit}`, tip], { cwd: m.work });
  return { ...counts, fastForward: ff.code === 0 };
}

/** Asserts that the push's recorded change-set summary is what git says. */
async function expectSummaryMatchesGit(m: Matrix, p: Pushed): Promise<void> {
  const updates = p.row.refUpdates ?? [];
  expect(updates.length).toBeGreaterThan(0);
  const recorded = p.inspection.changes.refs.map((r) => ({
    ref: r.ref,
    kind: r.kind,
    ...(r.fastForward === undefined ? {} : { fastForward: r.fastForward }),
    commits: r.commits,
    fileChanges: r.fileChanges,
    paths: r.paths,
  }));
  const expected = [];
  for (const u of updates) expected.push(await gitCounts(m, u, p.before));
  expect(recorded).toEqual(expected);
  // Totals: every new commit once, and the merges among them.
  const tips = updates.filter((u) => u.newOid !== ZERO).map((u) => `${u.newOid}^{commit}`);
  if (tips.length === 0) return;
  const not = [...new Set(p.before.values())].map((v) => `^${v}`);
  const all = (await m.h.git.gitOk(['rev-list', ...tips, ...not], { cwd: m.work })).stdout.split('\n').filter(Boolean);
  const merges = (await m.h.git.gitOk(['rev-list', '--merges', ...tips, ...not], { cwd: m.work })).stdout.split('\n').filter(Boolean);
  expect({ commits: p.inspection.changes.commits, merges: p.inspection.changes.merges }).toEqual({ commits: all.length, merges: merges.length });
}

const big = Array.from({ length: 400 }, (_, i) => `line ${i}: the quick brown fox jumps over the lazy dog\n`).join('');

const scenarios: Scenario[] = [
  {
    name: 'a thin pack on top of existing history (one line of a large file changed)',
    both: true,
    async run(m) {
      await m.sync();
      const tip = await m.h.git.commitFiles(m.work, { 'src/big.txt': big.replace('line 200:', 'line 200 (edited):') }, 'edit one line of big');
      const p = await m.push(['origin', 'HEAD:refs/heads/main']);
      expect(p.code).toBe(0);
      expect((await m.upstreamRefs()).get('refs/heads/main')).toBe(tip);
      // git sends a delta against the upstream's copy of the file, which only the mirror has.
      expect(p.inspection.pack!.refDeltas).toBeGreaterThanOrEqual(1);
      expect(p.inspection.pack!.thinBases).toBeGreaterThanOrEqual(1);
      await expectSummaryMatchesGit(m, p);
      expect(p.inspection.changes.refs[0]).toMatchObject({ kind: 'update', fastForward: true, commits: 1, fileChanges: 1, paths: 1 });
    },
  },
  {
    name: 'several refs in one push: two new branches and main',
    both: true,
    async run(m) {
      await m.sync();
      const a = await m.h.git.commitFiles(m.work, { 'a/one.txt': 'one\n', 'a/two.txt': 'two\n' }, 'feature a');
      const b = await m.h.git.commitFiles(m.work, { 'b.txt': 'bee\n', 'a/one.txt': null }, 'feature b');
      const p = await m.push(['origin', `${a}:refs/heads/feature-a`, `${b}:refs/heads/feature-b`, `${b}:refs/heads/main`]);
      expect(p.code).toBe(0);
      const refs = await m.upstreamRefs();
      expect([refs.get('refs/heads/feature-a'), refs.get('refs/heads/feature-b'), refs.get('refs/heads/main')]).toEqual([a, b, b]);
      await expectSummaryMatchesGit(m, p);
    },
  },
  {
    name: 'lightweight and annotated tags',
    both: false,
    async run(m) {
      await m.sync();
      const tip = await m.h.git.commitFiles(m.work, { 'CHANGELOG.md': '# 1.0\n' }, 'release 1.0');
      await m.h.git.gitOk(['tag', 'v1.0-light'], { cwd: m.work });
      const tag = await m.h.git.annotatedTag(m.work, 'v1.0', 'release 1.0\n');
      const p = await m.push(['origin', 'refs/tags/v1.0-light', 'refs/tags/v1.0']);
      expect(p.code).toBe(0);
      const refs = await m.upstreamRefs();
      expect([refs.get('refs/tags/v1.0-light'), refs.get('refs/tags/v1.0')]).toEqual([tip, tag]);
      expect((await m.h.git.gitOk(['--git-dir', m.upstreamRepo, 'cat-file', '-t', 'refs/tags/v1.0'])).stdout.trim()).toBe('tag');
      expect(p.inspection.changes.refs.map((r) => r.category)).toEqual(['tag', 'tag']);
      await expectSummaryMatchesGit(m, p);
    },
  },
  {
    name: 'a deletion (no pack)',
    both: true,
    async run(m) {
      await m.sync();
      await m.push(['origin', 'HEAD:refs/heads/to-delete']);
      const p = await m.push(['origin', ':refs/heads/to-delete']);
      expect(p.code).toBe(0);
      expect((await m.upstreamRefs()).has('refs/heads/to-delete')).toBe(false);
      expect(p.inspection.pack).toBeUndefined();
      await expectSummaryMatchesGit(m, p);
    },
  },
  {
    name: 'a force push, recorded as not fast-forward',
    both: true,
    async run(m) {
      await m.sync();
      await m.h.git.commitFiles(m.work, { 'wip.txt': 'first try\n' }, 'first try');
      await m.push(['origin', 'HEAD:refs/heads/rewritten']);
      await m.h.git.gitOk(['reset', '-q', '--hard', 'HEAD~1'], { cwd: m.work });
      const second = await m.h.git.commitFiles(m.work, { 'wip.txt': 'second try\nbetter\n' }, 'second try');
      const refused = await m.h.git.git(['push', 'origin', 'HEAD:refs/heads/rewritten'], { cwd: m.work });
      expect(refused.code).not.toBe(0);
      const p = await m.push(['--force', 'origin', 'HEAD:refs/heads/rewritten']);
      expect(p.code).toBe(0);
      expect((await m.upstreamRefs()).get('refs/heads/rewritten')).toBe(second);
      expect(p.inspection.changes.refs[0]).toMatchObject({ kind: 'update', fastForward: false });
      await expectSummaryMatchesGit(m, p);
    },
  },
  {
    name: 'a merge commit',
    both: false,
    async run(m) {
      await m.sync();
      await m.h.git.gitOk(['checkout', '-q', '-b', 'side'], { cwd: m.work });
      await m.h.git.commitFiles(m.work, { 'side.txt': 'from the side\n' }, 'side work');
      await m.h.git.gitOk(['checkout', '-q', 'main'], { cwd: m.work });
      await m.h.git.commitFiles(m.work, { 'main.txt': 'on main\n' }, 'main work');
      const merge = await m.h.git.merge(m.work, 'side', 'merge side');
      await m.h.git.gitOk(['branch', '-q', '-D', 'side'], { cwd: m.work });
      const p = await m.push(['origin', 'HEAD:refs/heads/main']);
      expect(p.code).toBe(0);
      expect((await m.upstreamRefs()).get('refs/heads/main')).toBe(merge);
      expect(p.inspection.changes.merges).toBe(1);
      await expectSummaryMatchesGit(m, p);
    },
  },
  {
    name: 'a rename with an edit',
    both: false,
    async run(m) {
      await m.sync();
      await m.h.git.renameFile(m.work, 'docs/guide.md', 'docs/handbook.md', 'rename the guide');
      await m.h.git.commitFiles(m.work, { 'docs/handbook.md': `${guide}One more paragraph.\n` }, 'extend the handbook');
      const p = await m.push(['origin', 'HEAD:refs/heads/main']);
      expect(p.code).toBe(0);
      await expectSummaryMatchesGit(m, p);
      expect(p.inspection.changes.refs[0]).toMatchObject({ commits: 2, fileChanges: 2, paths: 1 });
    },
  },
  {
    name: 'a symlink, an executable, and a file turned into a symlink',
    both: false,
    async run(m) {
      await m.sync();
      await m.h.git.commitFiles(m.work, { 'bin/run': { executable: '#!/bin/sh\necho run\n' }, 'link-to-readme': { symlink: 'README.md' } }, 'links and scripts');
      await m.h.git.commitFiles(m.work, { 'CHANGELOG.md': { symlink: 'docs/handbook.md' } }, 'changelog is the handbook now');
      const p = await m.push(['origin', 'HEAD:refs/heads/main']);
      expect(p.code).toBe(0);
      await expectSummaryMatchesGit(m, p);
    },
  },
  {
    name: 'a submodule (gitlink)',
    both: false,
    async run(m) {
      await m.sync();
      const tip = await m.h.git.addSubmodule(m.work, 'vendor/lib', 'ab'.repeat(20));
      const p = await m.push(['origin', 'HEAD:refs/heads/main']);
      expect(p.code).toBe(0);
      expect((await m.h.git.gitOk(['--git-dir', m.upstreamRepo, 'ls-tree', 'main', 'vendor/lib'])).stdout).toBe(`160000 commit ${'ab'.repeat(20)}\tvendor/lib\n`);
      expect((await m.upstreamRefs()).get('refs/heads/main')).toBe(tip);
      // git counts a gitlink as a one-line "Subproject commit" diff; the change set has no text for it.
      await expectSummaryMatchesGit(m, p);
    },
  },
  {
    name: 'an empty pack: a new branch at a commit the upstream has',
    both: true,
    async run(m) {
      await m.sync();
      const head = await m.h.git.revParse(m.work, 'HEAD');
      const p = await m.push(['origin', 'HEAD:refs/heads/copy-of-main']);
      expect(p.code).toBe(0);
      expect((await m.upstreamRefs()).get('refs/heads/copy-of-main')).toBe(head);
      expect(p.inspection.pack!.objects).toBe(0);
      expect(p.inspection.changes.refs[0]).toMatchObject({ kind: 'create', commits: 0, fileChanges: 0 });
      await expectSummaryMatchesGit(m, p);
    },
  },
  {
    name: '--atomic with one ref refused by the upstream: nothing changes',
    both: true,
    async run(m) {
      await m.sync();
      await m.h.git.commitFiles(m.work, { 'atomic.txt': 'all or nothing\n' }, 'atomic');
      const before = await m.upstreamRefs();
      const p = await m.push(['--atomic', 'origin', 'HEAD:refs/heads/atomic-ok', 'HEAD:refs/heads/blocked']);
      expect(p.code).not.toBe(0);
      expect(p.stderr).toContain('remote: blocked by upstream policy');
      expect(await m.upstreamRefs()).toEqual(before);
      // Inspected and relayed: the refusal is the upstream's, recorded as it answered.
      expect(p.row.outcome).toBe('upstream-rejected');
      const report = (p.row.detail as { upstreamReport: { refs: { ref: string; status: string }[] } }).upstreamReport;
      expect(report.refs.map((r) => `${r.status} ${r.ref}`).sort()).toEqual(['ng refs/heads/atomic-ok', 'ng refs/heads/blocked']);
      await expectSummaryMatchesGit(m, p);
    },
  },
  {
    name: 'push options reach the upstream and the record',
    both: false,
    async run(m) {
      await m.sync();
      const tip = await m.h.git.commitFiles(m.work, { 'options.txt': 'with options\n' }, 'options');
      const p = await m.push(['-o', 'ci.skip', '-o', 'agent-session=7f3a', 'origin', 'HEAD:refs/heads/main']);
      expect(p.code).toBe(0);
      expect((await m.upstreamRefs()).get('refs/heads/main')).toBe(tip);
      expect((p.row.detail as { pushOptions: string[] }).pushOptions).toEqual(['ci.skip', 'agent-session=7f3a']);
      expect(await readFile(join(m.upstreamRepo, 'push-options.log'), 'utf8')).toContain('2 ci.skip agent-session=7f3a\n');
      await expectSummaryMatchesGit(m, p);
    },
  },
  {
    name: 'side-band with progress, and quiet pushes without it',
    both: true,
    async run(m) {
      await m.sync();
      const one = await m.h.git.commitFiles(m.work, { 'progress.txt': 'shown\n' }, 'with progress');
      const shown = await m.push(['--progress', 'origin', 'HEAD:refs/heads/main']);
      expect(shown.code).toBe(0);
      expect(shown.stderr).toMatch(/remote: pushgate: indexing objects: 100% \(\d+\/\d+\), done\./);
      expect(shown.stderr).toMatch(/remote: pushgate: inspecting commits: 100% \(1\/1\), done\./);
      expect((await m.upstreamRefs()).get('refs/heads/main')).toBe(one);
      await expectSummaryMatchesGit(m, shown);
      for (const flag of ['--quiet', '--no-progress']) {
        const tip = await m.h.git.commitFiles(m.work, { 'progress.txt': `not shown (${flag})\n` }, `push ${flag}`);
        const quiet = await m.push([flag, 'origin', 'HEAD:refs/heads/main']);
        expect(quiet.code).toBe(0);
        expect(quiet.stderr).not.toContain('pushgate:');
        expect((await m.upstreamRefs()).get('refs/heads/main')).toBe(tip);
        await expectSummaryMatchesGit(m, quiet);
      }
    },
  },
];

const guide = 'Guide\n=====\n\nHow to use the project, at some length so that a rename with an edit still looks like one.\nIt has several lines.\nAnd then some more.\n';

describe.each(backends.map((db) => [db.name, db] as const))('the push matrix through the gateway on %s', (name, db: TestDatabase) => {
  const m = {} as { -readonly [K in keyof Matrix]: Matrix[K] };
  let token: string;
  let pushes = 0;

  beforeAll(async () => {
    m.h = await startHarness({ db, config: { log: { level: 'info' } } });
    token = await m.h.token({ sub: 'alice', email: 'alice@example.com', agent: true });
    m.upstreamRepo = await m.h.upstream.createRepo('matrix/app.git', {
      initialCommit: { 'README.md': '# app\n', 'src/big.txt': big, 'docs/guide.md': guide, 'CHANGELOG.md': '# changes\n' },
    });
    // The upstream's own policy refuses one branch; and it records the push options it receives.
    const hooks = join(m.upstreamRepo, 'hooks');
    await writeFile(join(hooks, 'pre-receive'), '#!/bin/sh\nwhile read old new ref; do if [ "$ref" = refs/heads/blocked ]; then echo "blocked by upstream policy"; exit 1; fi; done\n');
    await writeFile(
      join(hooks, 'post-receive'),
      '#!/bin/sh\nif [ -n "$GIT_PUSH_OPTION_COUNT" ] && [ "$GIT_PUSH_OPTION_COUNT" -gt 0 ]; then printf "%s %s %s\\n" "$GIT_PUSH_OPTION_COUNT" "$GIT_PUSH_OPTION_0" "$GIT_PUSH_OPTION_1" >> "$GIT_DIR/push-options.log"; fi\n',
    );
    await chmod(join(hooks, 'pre-receive'), 0o755);
    await chmod(join(hooks, 'post-receive'), 0o755);
    m.work = join(m.h.git.dir, 'work');
    await m.h.git.gitOk(['clone', '-q', m.h.remote('matrix/app.git', token), m.work]);
    m.upstreamRefs = async () => {
      const out = (await m.h.git.gitOk(['--git-dir', m.upstreamRepo, 'for-each-ref', '--format=%(objectname) %(refname)'])).stdout;
      return new Map(out.split('\n').filter(Boolean).map((l) => [l.split(' ')[1], l.split(' ')[0]] as const));
    };
    m.sync = async () => {
      await m.h.git.gitOk(['fetch', '-q', 'origin'], { cwd: m.work });
      await m.h.git.gitOk(['reset', '-q', '--hard', 'origin/main'], { cwd: m.work });
    };
    m.push = async (args) => {
      const requestId = `matrix-${name}-${++pushes}`;
      const before = await m.upstreamRefs();
      // The same request id on the advertisement and the push: the push's audit row is found by it.
      const r = await m.h.git.git(['-c', `http.extraHeader=X-Request-Id: ${requestId}`, 'push', ...args], { cwd: m.work });
      await m.h.inProcess!.idle();
      const rows = await listAuditEvents(m.h.inProcess!.database, { requestId });
      // The advertisement (and git's first, unauthenticated try) share the id: the push is the POST.
      const row = rows.find((e) => e.kind === 'http.request' && e.service === 'git-receive-pack' && (e.detail as { method?: string } | null)?.method === 'POST');
      if (row === undefined) throw new Error(`no audit row for the push (${requestId}): git said ${r.stderr}`);
      const inspection = (row.detail as { inspection?: InspectionDetail } | null)?.inspection;
      if (inspection?.changes === undefined) throw new Error(`the push (${requestId}) was not inspected: ${JSON.stringify(row.detail)}\n${r.stderr}`);
      return { code: r.code, stderr: r.stderr, row, before, inspection };
    };
  }, 60_000);
  afterAll(async () => {
    await m.h?.stop();
    await db.cleanup();
  });

  it.each(scenarios.filter((s) => db.name === 'pglite' || s.both).map((s) => [s.name, s] as const))('%s', async (_name, s) => {
    await s.run(m);
  });
});
