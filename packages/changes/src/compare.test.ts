import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { renameSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_LIMITS } from '@pushgate/core';
import * as isogit from 'isomorphic-git';
import { GitDirObjectStore, isoGitOverStore } from '@pushgate/objects';
import { PushScenario, prng, withContent } from './git-fixture.test-support';
import type { ChangeSet, ContentDiff, FileChange } from './index';

// A generated history (adds, edits, deletes, exact and edited renames, mode changes, symlinks,
// type changes, binary files, merges) pushed in one go: for every commit the change set must
// list what `git diff-tree -r -M --raw` lists, in the same order, with git's similarity scores,
// and count the lines `git diff-tree --numstat` counts.

type Entry = { kind: 'text'; lines: string[]; exec: boolean } | { kind: 'binary'; seed: number } | { kind: 'link'; target: string };

const SEED = 20240611;
const WORDS = ['alpha', 'beta', 'gamma', 'delta', 'config', 'return', 'value', 'const', 'import', 'export', 'token', 'secret', 'path', 'tree'];
const DIRS = ['', 'src/', 'src/lib/', 'docs/', 'deep/a/b/c/', 'caf\u00e9 dir/'];

let s: PushScenario;
let changeSet: ChangeSet;
let commitOids: string[];
/** Every commit's file diffs, read on demand through the content reader while the push's objects were open. */
let diffs: Map<string, ContentDiff[]>;

function generate(): void {
  const rnd = prng(SEED);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const line = () => Array.from({ length: 2 + Math.floor(rnd() * 6) }, () => pick(WORDS)).join(' ');
  const model = new Map<string, Entry>();
  let counter = 0;
  const w = s.work;
  const write = (path: string, e: Entry) => {
    w.remove(path);
    if (e.kind === 'text') w.write(path, e.lines.map((l) => `${l}\n`).join(''), e.exec ? 0o755 : 0o644);
    else if (e.kind === 'binary') w.write(path, Buffer.from(Array.from({ length: 300 }, (_, i) => (i % 50 === 0 ? 0 : (e.seed * 7 + i) % 256))));
    else w.symlink(path, e.target);
    model.set(path, e);
  };
  const texts = () => [...model].filter(([, e]) => e.kind === 'text').map(([p]) => p);
  const newPath = () => `${pick(DIRS)}file${counter++}.${pick(['txt', 'ts', 'md'])}`;
  const ops: (() => void)[] = [
    () => write(newPath(), { kind: 'text', lines: Array.from({ length: 5 + Math.floor(rnd() * 40) }, line), exec: false }),
    () => {
      const p = texts();
      if (!p.length) return;
      const path = pick(p);
      const e = model.get(path) as Extract<Entry, { kind: 'text' }>;
      const lines = [...e.lines];
      for (let k = 0; k < 1 + Math.floor(rnd() * 3); k++) lines.splice(Math.floor(rnd() * (lines.length + 1)), rnd() < 0.5 ? 1 : 0, line());
      write(path, { ...e, lines });
    },
    () => {
      if (model.size < 4) return;
      const path = pick([...model.keys()]);
      w.remove(path);
      model.delete(path);
    },
    () => {
      const p = texts();
      if (!p.length) return;
      const from = pick(p);
      const to = newPath();
      const e = model.get(from)!;
      w.write(to, '');
      renameSync(join(w.dir, from), join(w.dir, to));
      model.delete(from);
      model.set(to, e);
    },
    () => {
      const p = texts().filter((x) => (model.get(x) as Extract<Entry, { kind: 'text' }>).lines.length >= 20);
      if (!p.length) return;
      const from = pick(p);
      const e = model.get(from) as Extract<Entry, { kind: 'text' }>;
      w.remove(from);
      model.delete(from);
      const lines = [...e.lines];
      lines[Math.floor(rnd() * lines.length)] = line();
      lines.push(line());
      write(`${pick(DIRS)}moved${counter++}.txt`, { ...e, lines });
    },
    () => {
      const p = texts();
      if (!p.length) return;
      const path = pick(p);
      const e = model.get(path) as Extract<Entry, { kind: 'text' }>;
      write(path, { ...e, exec: !e.exec });
    },
    () => {
      const p = texts();
      if (!p.length) return;
      write(`${pick(DIRS)}link${counter++}`, { kind: 'link', target: pick(p) });
    },
    () => write(`${pick(DIRS)}blob${counter++}.bin`, { kind: 'binary', seed: counter }),
    () => {
      const p = [...model].filter(([, e]) => e.kind === 'link').map(([x]) => x);
      if (!p.length) return;
      // symlink → regular file: a type change.
      write(pick(p), { kind: 'text', lines: [line(), line()], exec: false });
    },
  ];
  for (let i = 0; i < 45; i++) {
    if (i % 15 === 14) {
      // A side branch with files of its own, merged back.
      w.git('checkout', '-q', '-b', `side${i}`);
      for (let k = 0; k < 2; k++) {
        write(`side/s${i}-${k}.txt`, { kind: 'text', lines: Array.from({ length: 10 }, line), exec: false });
        w.commit(`side ${i}.${k}`);
      }
      const sideFiles = [...model].filter(([p]) => p.startsWith('side/'));
      w.git('checkout', '-q', 'main');
      for (const [p] of sideFiles) model.delete(p);
      ops[0]();
      w.commit(`main before merge ${i}`);
      w.git('merge', '-q', '--no-ff', '-m', `merge side${i}`, `side${i}`);
      for (const [p, e] of sideFiles) model.set(p, e);
      continue;
    }
    const n = 1 + Math.floor(rnd() * 4);
    for (let k = 0; k < n; k++) pick(ops)();
    w.commit(`commit ${i}`);
  }
}

beforeAll(async () => {
  s = PushScenario.create('compare');
  generate();
  diffs = new Map();
  changeSet = await withContent(s, { 'refs/heads/main': s.rev('HEAD') }, {}, async (cs, content) => {
    for (const c of cs.commits) {
      const list: ContentDiff[] = [];
      for (const f of c.files) list.push(await content.diffOf(f));
      diffs.set(c.oid, list);
    }
    return cs;
  });
  commitOids = s.work.git('rev-list', '--topo-order', '--reverse', 'HEAD', `^${s.upstreamRefs().get('refs/heads/main')}`).trim().split('\n');
});
afterAll(() => s.cleanup());

/** `git diff-tree -r -M --raw -z` as lines `status old-path new-path old-mode new-mode`. */
function gitRaw(from: string | undefined, to: string): string[] {
  const args = from ? ['diff-tree', '-r', '-M', '--raw', '-z', from, to] : ['diff-tree', '-r', '-M', '--raw', '-z', '--root', to];
  const parts = s.work.gitBytes(args).toString('utf8').split('\0');
  if (!from) parts.shift(); // --root prints the commit id first
  const out: string[] = [];
  for (let i = 0; i < parts.length - 1; ) {
    const meta = parts[i++];
    if (!meta.startsWith(':')) continue;
    const [oldMode, newMode, , , status] = meta.slice(1).split(' ');
    const a = parts[i++];
    const b = status.startsWith('R') ? parts[i++] : a;
    out.push(`${status} ${a} ${b} ${oldMode} ${newMode}`);
  }
  return out;
}

function ours(f: FileChange): string {
  const status = { added: 'A', deleted: 'D', modified: 'M', 'type-changed': 'T', renamed: 'R' }[f.status];
  const score = f.status === 'renamed' ? String(f.similarity).padStart(3, '0') : '';
  const a = f.status === 'added' ? f.new.path : f.old.path;
  const b = f.status === 'deleted' ? f.old.path : f.new.path;
  const oldMode = f.status === 'added' ? '000000' : f.old.mode;
  const newMode = f.status === 'deleted' ? '000000' : f.new.mode;
  return `${status}${score} ${a} ${b} ${oldMode} ${newMode}`;
}

/** `git diff-tree --histogram --numstat` per path (the line diff is a histogram diff, as git's): [added, removed] or 'binary'. */
function gitNumstat(from: string | undefined, to: string): Map<string, [number, number] | 'binary'> {
  const args = from ? ['diff-tree', '-r', '-M', '--histogram', '--numstat', '-z', from, to] : ['diff-tree', '-r', '-M', '--histogram', '--numstat', '-z', '--root', to];
  const parts = s.work.gitBytes(args).toString('utf8').split('\0');
  if (!from) parts.shift();
  const out = new Map<string, [number, number] | 'binary'>();
  for (let i = 0; i < parts.length - 1; ) {
    const m = /^(-|\d+)\t(-|\d+)\t(.*)$/.exec(parts[i++]);
    if (!m) continue;
    let path = m[3];
    if (path === '') {
      i++;
      path = parts[i++];
    }
    out.set(path, m[1] === '-' ? 'binary' : [Number(m[1]), Number(m[2])]);
  }
  return out;
}

describe('buildChangeSet against git on a generated history', () => {
  it('finds exactly the commits git rev-list finds, parents first', () => {
    expect(changeSet.commits.map((c) => c.oid)).toEqual(commitOids);
    expect(changeSet.commits.filter((c) => c.merge.kind === 'merge')).toHaveLength(3);
  });

  it('lists the same file changes as git diff-tree -r -M for every commit', () => {
    let renames = 0;
    let similar = 0;
    for (const c of changeSet.commits) {
      const first = c.parents[0];
      const files = c.files.toArray();
      expect({ commit: c.message, files: files.map(ours) }).toEqual({ commit: c.message, files: gitRaw(first, c.oid) });
      renames += files.filter((f) => f.status === 'renamed').length;
      similar += files.filter((f) => f.status === 'renamed' && f.similarity < 100).length;
    }
    // The generator must actually have produced what this test claims to cover.
    expect(renames).toBeGreaterThan(3);
    expect(similar).toBeGreaterThan(1);
    const statuses = new Set(changeSet.commits.flatMap((c) => c.files.toArray().map((f) => f.status)));
    expect([...statuses].sort()).toEqual(['added', 'deleted', 'modified', 'renamed', 'type-changed']);
  });

  it('counts the same added and removed lines as git --numstat, and calls the same files binary', () => {
    let compared = 0;
    for (const c of changeSet.commits) {
      const git = gitNumstat(c.parents[0], c.oid);
      const files = c.files.toArray();
      for (const [i, f] of files.entries()) {
        const path = f.status === 'deleted' ? f.old.path : f.new.path;
        const g = git.get(path);
        const diff = diffs.get(c.oid)![i];
        if (f.status === 'type-changed' || g === undefined) continue;
        if (diff.kind === 'binary') {
          expect({ path, g }).toEqual({ path, g: 'binary' });
        } else if (diff.kind === 'text') {
          expect({ path, counts: [diff.added, diff.removed] }).toEqual({ path, counts: g });
          compared++;
        } else if (diff.kind === 'removed-text') {
          expect({ path, counts: [0, diff.removed] }).toEqual({ path, counts: g });
          compared++;
        } else if (diff.kind === 'none') {
          expect({ path, counts: [0, 0] }).toEqual({ path, counts: g });
        }
      }
    }
    expect(compared).toBeGreaterThan(50);
  });

  it('gives the branch the net change git diff-tree gives between the old and new tips', () => {
    const main = changeSet.refs[0];
    if (main.kind !== 'update' || main.net.kind !== 'files') throw new Error('update with files expected');
    expect(main.fastForward).toBe(true);
    expect(main.net.files.toArray().map(ours)).toEqual(gitRaw(s.upstreamRefs().get('refs/heads/main'), s.rev('HEAD')));
  });

  it('reads commits as isomorphic-git reads them (an independent parser over the same store)', async () => {
    const store = GitDirObjectStore.open(join(s.work.dir, '.git'), { limits: DEFAULT_LIMITS });
    try {
      const ctx = isoGitOverStore(store);
      for (const c of changeSet.commits) {
        const { commit } = await isogit.readCommit({ ...ctx, oid: c.oid });
        expect({ tree: c.tree, parents: c.parents, message: c.message }).toEqual({ tree: commit.tree, parents: commit.parent, message: commit.message });
        expect([c.author.name, c.author.email, c.author.timestamp]).toEqual([commit.author.name, commit.author.email, commit.author.timestamp]);
        // isomorphic-git counts the offset the way JavaScript's Date does: minutes behind UTC.
        expect(c.committer.timezoneOffset).toBe(-commit.committer.timezoneOffset || 0);
      }
    } finally {
      store.close();
    }
  });

  it('numbers added lines as they are in the new file', () => {
    for (const c of changeSet.commits) {
      for (const [i, f] of c.files.toArray().entries()) {
        const diff = diffs.get(c.oid)![i];
        if (diff.kind !== 'text' || f.status === 'deleted') continue;
        const content = s.work.gitBytes(['cat-file', 'blob', f.new.oid]).toString('utf8').split('\n');
        for (const a of diff.addedLines) expect(content[a.line - 1]).toBe(a.text);
      }
    }
  });
});
