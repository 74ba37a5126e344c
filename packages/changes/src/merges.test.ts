import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PushScenario, prng, withContent } from './git-fixture.test-support';
import type { ChangeSet, CommitChange, FileChange, FileSide, MergeContent } from './index';

// A merge-heavy history made by a script — topic branches forked from older points of main,
// merged back with --no-ff, files renamed on one side and edited on the other, both sides
// editing different regions of the same files, main merged into topics (criss-cross), and some
// merges that add content of their own — pushed in one go. Its file changes must be what
// `git log --raw -M --cc` prints for the same range: every ordinary commit's changes against its
// parent (renames with git's scores), and every merge's paths that differ from all its parents.
// A merge's parent sides are looked up at the same path (a parent that has the file under its
// old name shows it absent), so merges are compared with git's combined diff without -M, which
// lists the same paths and shows the parents that way too.

const TOPICS = 14;

let s: PushScenario;
let changeSet: ChangeSet;
/** Each merge's own lines per path (`git diff --cc`'s `++` lines), read on demand. */
let mergeLines: Map<string, Map<string, MergeContent>>;
let range: string;

function history(): void {
  const rnd = prng(7);
  const w = s.work;
  const files = new Map<string, string[]>();
  const dirs = ['src/', 'src/core/', 'include/', 'tests/unit/', 'docs/'];
  for (let i = 0; i < 24; i++) {
    const path = `${dirs[i % dirs.length]}file${i}.c`;
    files.set(
      path,
      Array.from({ length: 60 }, (_, k) => (k % 9 === 0 ? '}' : k % 7 === 0 ? '' : `int f${i}_${k}(void) { return ${k}; }`)),
    );
  }
  const flush = () => {
    for (const [path, lines] of files) w.write(path, `${lines.join('\n')}\n`);
  };
  const read = (path: string) => readFileSync(join(w.dir, path), 'utf8').replace(/\n$/, '').split('\n');
  const sync = () => {
    files.clear();
    for (const path of w.git('ls-files').trim().split('\n')) files.set(path, read(path));
  };
  const pick = () => [...files.keys()][Math.floor(rnd() * files.size)];
  // Each topic edits its own files (fileN.c with N ≡ topic mod 7), topics t and t+7 in different
  // regions of them, with an untouched line between any two regions: merges stay clean (git
  // refuses adjacent edits from both sides as a conflict).
  const own = (t: number) => {
    const mine = [...files.keys()].filter((p) => Number(/file(\d+)\.c$/.exec(p)?.[1] ?? -1) % 7 === t % 7);
    return mine[Math.floor(rnd() * mine.length)];
  };
  flush();
  w.commit('base');
  s.accept(['+refs/heads/main:refs/heads/main']);

  const forks: string[] = [s.rev('HEAD')];
  for (let t = 0; t < TOPICS; t++) {
    // Fork from an older main now and then, so merges bring in long-diverged work.
    const from = forks[Math.max(0, forks.length - 1 - Math.floor(rnd() * 3))];
    w.git('checkout', '-q', '-b', `topic${t}`, from);
    sync();
    const commits = 1 + Math.floor(rnd() * 3);
    for (let c = 0; c < commits; c++) {
      // Topics edit the bottom half of files; main edits the top half.
      for (let e = 0; e < 2; e++) {
        const lines = files.get(own(t))!;
        const at = (t < 7 ? 24 : 46) + 2 * ((c * 2 + e) % 5);
        lines.splice(at, 1, `int topic${t}_${c}_${e}(void) { return ${at}; }`);
      }
      if (c === 0 && t % 3 === 0) {
        // A rename with an edit (the top half stays as main may change it).
        const old = own(t);
        const lines = files.get(old)!;
        files.delete(old);
        const renamed = `moved/t${t}/${old.split('/').pop()}`;
        lines.splice(40, 0, `/* moved by topic ${t} */`);
        files.set(renamed, lines);
        w.remove(old);
      }
      if (c === commits - 1 && t % 4 === 1) files.set(`src/new${t}.c`, [`/* new in topic ${t} */`, 'int x;']);
      flush();
      w.commit(`topic ${t} commit ${c}`);
    }
    if (t % 5 === 2) {
      // Criss-cross: main merged into the topic first.
      w.git('merge', '-q', '--no-ff', '-m', `merge main into topic${t}`, 'main');
    }
    w.git('checkout', '-q', 'main');
    sync();
    if (rnd() < 0.7) {
      const path = pick();
      const lines = files.get(path)!;
      lines.splice(2 + 2 * (t % 8), 1, `int main_edit_${t}(void) { return 0; }`);
      flush();
      w.commit(`main edit before topic ${t}`);
    }
    w.git('merge', '-q', '--no-ff', '--no-commit', `topic${t}`);
    if (t % 4 === 3) {
      // An evil merge: the result has lines neither parent has.
      const path = w.git('ls-files', 'src').trim().split('\n')[0];
      w.write(path, `${read(path).join('\n')}\nconst char *token_${t} = "merge-only";\n`);
      w.git('add', path);
    }
    w.git('commit', '-q', '-m', `merge topic${t}`);
    forks.push(s.rev('HEAD'));
  }
}

beforeAll(async () => {
  s = PushScenario.create('merges');
  history();
  range = `${s.upstreamRefs().get('refs/heads/main')}..${s.rev('HEAD')}`;
  mergeLines = new Map();
  changeSet = await withContent(s, { 'refs/heads/main': s.rev('HEAD') }, {}, async (cs, content) => {
    for (const c of cs.commits) {
      if (c.merge.kind !== 'merge') continue;
      const byPath = new Map<string, MergeContent>();
      for (const m of c.merge.introduced) byPath.set(m.path, await content.mergeContentOf(m));
      mergeLines.set(c.oid, byPath);
    }
    return cs;
  });
}, 60_000);
afterAll(() => s.cleanup());

/** `git log --raw --cc` over the range (with -M for ordinary commits): each commit's raw lines, as git prints them. */
function gitLog(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current: string[] | undefined;
  const ordinary = s.work.git('log', '--raw', '-M', '--cc', '--no-merges', '--no-abbrev', '--format=commit %H', range);
  const merges = s.work.git('log', '--raw', '--cc', '--merges', '--no-abbrev', '--format=commit %H', range);
  for (const line of `${ordinary}\n${merges}`.split('\n')) {
    if (line.startsWith('commit ')) {
      current = [];
      out.set(line.slice(7), current);
    } else if (line.startsWith(':')) {
      current!.push(line);
    }
  }
  return out;
}

const ZERO = '0'.repeat(40);

/** One file change as `git log --raw` prints it. */
function rawLine(f: FileChange): string {
  const side = (x: FileSide | undefined) => (x ? [x.mode, x.oid] : ['000000', ZERO]);
  const [om, oo] = side(f.status === 'added' ? undefined : f.old);
  const [nm, no] = side(f.status === 'deleted' ? undefined : f.new);
  const status = { added: 'A', deleted: 'D', modified: 'M', 'type-changed': 'T', renamed: 'R' }[f.status];
  const paths = f.status === 'renamed' ? `${f.old.path}\t${f.new.path}` : f.status === 'deleted' ? f.old.path : f.new.path;
  const score = f.status === 'renamed' ? String(f.similarity).padStart(3, '0') : '';
  return `:${om} ${nm} ${oo} ${no} ${status}${score}\t${paths}`;
}

/** A merge's path as `git log --raw --cc` prints it: `::` modes (parents, result), ids, a status per parent. */
function combinedLine(c: CommitChange): string[] {
  if (c.merge.kind !== 'merge') return [];
  return c.merge.introduced.map((m) => {
    const side = (x: FileSide | undefined) => (x ? [x.mode, x.oid] : ['000000', ZERO]);
    const parents = m.parents.map(side);
    const result = side(m.result);
    const status = m.parents.map((p) => (!p ? 'A' : !m.result ? 'D' : 'M')).join('');
    return `${':'.repeat(m.parents.length)}${[...parents.map((p) => p[0]), result[0]].join(' ')} ${[...parents.map((p) => p[1]), result[1]].join(' ')} ${status}\t${m.path}`;
  });
}

describe('a merge-heavy history against git log --raw -M --cc', () => {
  it('has the shape it claims: many merges, criss-cross ones, renames, evil merges', () => {
    const merges = changeSet.commits.filter((c) => c.merge.kind === 'merge');
    expect(merges.length).toBeGreaterThan(TOPICS);
    expect(changeSet.commits.some((c) => c.files.toArray().some((f) => f.status === 'renamed' && f.similarity < 100))).toBe(true);
    expect(merges.filter((c) => c.merge.kind === 'merge' && c.merge.introduced.length > 0).length).toBeGreaterThanOrEqual(3);
  });

  it('lists, commit by commit, what git lists: changes of ordinary commits, and each merge’s paths that differ from every parent', () => {
    const git = gitLog();
    expect(changeSet.commits.map((c) => c.oid).sort()).toEqual([...git.keys()].sort());
    for (const c of changeSet.commits) {
      const ours = c.merge.kind === 'merge' ? combinedLine(c) : c.files.toArray().map(rawLine);
      expect({ commit: c.message, lines: ours }).toEqual({ commit: c.message, lines: git.get(c.oid) });
    }
  });

  it('finds what each merge adds of its own as git diff --cc’s ++ lines', () => {
    let evil = 0;
    for (const c of changeSet.commits) {
      if (c.merge.kind !== 'merge') continue;
      const ccPlus = s.work
        .git('diff-tree', '--cc', '-p', c.oid)
        .split('\n')
        .filter((l) => l.startsWith('++') && !l.startsWith('+++'))
        .map((l) => l.slice(2));
      const ours: string[] = [];
      for (const content of mergeLines.get(c.oid)!.values()) if (content.kind === 'text') ours.push(...content.introducedLines.map((l) => l.text));
      expect({ merge: c.message, lines: ours }).toEqual({ merge: c.message, lines: ccPlus });
      if (ours.some((l) => l.includes('merge-only'))) evil++;
    }
    expect(evil).toBeGreaterThanOrEqual(3);
  });
});
