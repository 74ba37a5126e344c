/**
 * Test support for this package (not exported): an isolated `git` runner and small real
 * repositories made with `git fast-import`, whose packs the tests index and compare against git.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const GIT_ENV: NodeJS.ProcessEnv = {
  ...process.env,
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_AUTHOR_NAME: 'Test',
  GIT_AUTHOR_EMAIL: 'test@example.com',
  GIT_COMMITTER_NAME: 'Test',
  GIT_COMMITTER_EMAIL: 'test@example.com',
  GIT_TERMINAL_PROMPT: '0',
};

/** Runs git in `cwd` with no user or system config; returns stdout as latin1 text. */
export function git(cwd: string, args: readonly string[], input?: string | Buffer): string {
  return execFileSync('git', args, { cwd, env: GIT_ENV, input, encoding: 'latin1', maxBuffer: 1 << 30 });
}

/** Runs git and returns stdout as bytes. */
export function gitBytes(cwd: string, args: readonly string[], input?: string | Buffer): Buffer {
  return execFileSync('git', args, { cwd, env: GIT_ENV, input, maxBuffer: 1 << 30 });
}

/** A fresh temporary directory. */
export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `pushgate-${prefix}-`));
}

/** A small deterministic PRNG (mulberry32), so fixtures are the same on every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Options of writeHistory. */
export interface HistoryOptions {
  readonly seed: number;
  readonly commits: number;
  /** Branch to commit on (default main); it continues from the branch's tip if it exists. */
  readonly branch?: string;
  /** Start the branch from this commit (default: its current tip, or a root commit). */
  readonly from?: string;
  /** Files in the first commit. */
  readonly files?: number;
  /** Add a merge and an annotated tag. */
  readonly extras?: boolean;
}

/**
 * Appends `commits` commits to a repository with `git fast-import`: text files in nested
 * directories edited a few lines at a time (good deltas), additions, deletions, a few binary
 * blobs, and (with `extras`) a merge of a side branch and an annotated tag.
 */
export function writeHistory(repo: string, opts: HistoryOptions): void {
  const rnd = prng(opts.seed);
  const branch = `refs/heads/${opts.branch ?? 'main'}`;
  const files = new Map<string, string[]>();
  let from = opts.from;
  if (!from) {
    try {
      from = git(repo, ['rev-parse', '--verify', '-q', branch]).trim() || undefined;
    } catch {
      from = undefined;
    }
  }
  if (from) {
    for (const line of git(repo, ['ls-tree', '-r', '--name-only', from]).split('\n')) {
      if (line.endsWith('.txt')) files.set(line, git(repo, ['cat-file', 'blob', `${from}:${line}`]).split('\n'));
    }
  }
  const word = () => ['alpha', 'beta', 'gamma', 'delta', 'omega', 'sigma', 'kappa', 'zeta'][Math.floor(rnd() * 8)];
  const line = () => `${word()} ${word()} ${Math.floor(rnd() * 100000)} ${word()}`;
  const chunks: Buffer[] = [];
  const out = (s: string | Buffer) => chunks.push(typeof s === 'string' ? Buffer.from(s, 'utf8') : s);
  const data = (b: Buffer) => {
    out(`data ${b.length}\n`);
    out(b);
    out('\n');
  };
  let mark = 0;
  let time = 1_700_000_000 + opts.seed * 1000;
  const commit = (ref: string, message: string, parents: string[], body: () => void): number => {
    const m = ++mark;
    time += 60;
    out(`commit ${ref}\nmark :${m}\ncommitter Test <test@example.com> ${time} +0000\n`);
    data(Buffer.from(message));
    parents.forEach((p, i) => out(`${i === 0 ? 'from' : 'merge'} ${p}\n`));
    body();
    out('\n');
    return m;
  };
  const writeFile = (path: string, lines: string[]) => {
    out(`M 100644 inline ${path}\n`);
    data(Buffer.from(lines.join('\n')));
  };
  let last: string | undefined = from;
  const initial = opts.files ?? 12;
  for (let c = 0; c < opts.commits; c++) {
    const parents = last ? [last] : [];
    const m = commit(branch, `change ${c} of seed ${opts.seed}\n`, parents, () => {
      if (files.size === 0) {
        for (let f = 0; f < initial; f++) {
          const path = `src/d${f % 3}/sub${f % 2}/file${f}.txt`;
          const lines = Array.from({ length: 40 + Math.floor(rnd() * 200) }, line);
          files.set(path, lines);
          writeFile(path, lines);
        }
        return;
      }
      const paths = [...files.keys()];
      const edits = 1 + Math.floor(rnd() * 3);
      for (let e = 0; e < edits; e++) {
        const path = paths[Math.floor(rnd() * paths.length)];
        const lines = files.get(path)!;
        const at = Math.floor(rnd() * lines.length);
        lines.splice(at, Math.floor(rnd() * 3), ...Array.from({ length: 1 + Math.floor(rnd() * 4) }, line));
        writeFile(path, lines);
      }
      const roll = rnd();
      if (roll < 0.08) {
        const path = `src/d${Math.floor(rnd() * 5)}/new${c}.txt`;
        const lines = Array.from({ length: 20 + Math.floor(rnd() * 50) }, line);
        files.set(path, lines);
        writeFile(path, lines);
      } else if (roll < 0.12 && paths.length > 4) {
        const path = paths[Math.floor(rnd() * paths.length)];
        files.delete(path);
        out(`D ${path}\n`);
      } else if (roll < 0.15) {
        const bin = Buffer.alloc(2000 + Math.floor(rnd() * 6000));
        for (let i = 0; i < bin.length; i++) bin[i] = Math.floor(rnd() * 256);
        out(`M 100644 inline assets/blob${c % 4}.bin\n`);
        data(bin);
      }
    });
    last = `:${m}`;
  }
  if (opts.extras && last) {
    const side = commit('refs/heads/side', 'side work\n', [last], () => writeFile('side/notes.txt', ['side', line()]));
    const merged = commit(branch, 'merge side\n', [last, `:${side}`], () => writeFile('side/notes.txt', ['side', line()]));
    out(`tag v1\nfrom :${merged}\ntagger Test <test@example.com> ${time} +0000\n`);
    data(Buffer.from('release v1\n'));
  }
  git(repo, ['fast-import', '--quiet', '--force'], Buffer.concat(chunks));
}

/** A new repository (bare when asked) with `commits` commits on main. */
export function makeRepo(prefix: string, opts: HistoryOptions & { readonly bare?: boolean }): string {
  const dir = tempDir(prefix);
  git(dir, ['init', '-q', ...(opts.bare ? ['--bare'] : []), '-b', 'main']);
  writeHistory(dir, opts);
  return dir;
}

/** The object directory of a repository. */
export function objectsDir(repo: string): string {
  const bare = git(repo, ['rev-parse', '--is-bare-repository']).trim() === 'true';
  return bare ? join(repo, 'objects') : join(repo, '.git', 'objects');
}

/** Pack files (`.pack` paths) of a repository. */
export function packFiles(repo: string): string[] {
  const dir = join(objectsDir(repo), 'pack');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.pack'))
    .map((f) => join(dir, f));
}

/** Every object of a repository: id -> type, from `git cat-file --batch-all-objects`. */
export function allObjects(repo: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of git(repo, ['cat-file', '--batch-all-objects', '--batch-check=%(objectname) %(objecttype)']).trim().split('\n')) {
    if (!line) continue;
    const [oid, type] = line.split(' ');
    map.set(oid, type);
  }
  return map;
}

/** `git show-index` of an index file: one "offset oid (crc)" line per object, sorted. */
export function showIndex(repo: string, idx: Buffer): string[] {
  return git(repo, ['show-index'], idx).trim().split('\n').filter(Boolean).sort();
}
