/**
 * A thin push made from a real repository's history, for the benchmarks to measure beside their
 * synthetic ones: given a bare repository and a range `<old>..<new>` (tags or commits), it makes
 *
 *   - a base repository holding the history up to `<old>` and nothing else (main at old's
 *     commit, its objects copied out, so it stands alone as an upstream or a mirror would);
 *   - a pushing repository with main at new's commit, borrowing the given repository's objects
 *     (objects/info/alternates: nothing is written into the given repository);
 *   - the thin pack `git push` sends for it: `git pack-objects --thin --revs --stdout` with
 *     `<new>` and `^<old>` on its standard input.
 *
 * Cached under `.bench/history/` by the two commit ids. The repository is never named in the
 * results: the benchmarks are told where it is each time (`--repo`, `--range`, or the environment
 * variables PUSHGATE_BENCH_REPO and PUSHGATE_BENCH_RANGE).
 */
import { execFileSync, spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ROOT } from './page';

/** Where to take the public history from, as given on the command line or in the environment. */
export interface HistorySource {
  /** A bare git directory (or a repository whose .git holds the history). */
  readonly repo: string;
  /** `<old>..<new>`: the pushed history is `<new> --not <old>`. */
  readonly range: string;
  /** How the pages name the repository (never its local path). */
  readonly name: string;
}

/** A base repository and the thin push of a real range on top of it. */
export interface HistoryPush {
  readonly name: string;
  readonly range: string;
  /** Bare repository holding the history up to old only, main at old's commit. */
  readonly baseDir: string;
  /** Bare repository with main at new's commit, borrowing the source's objects. */
  readonly fullDir: string;
  /** The thin pack `git push` sends. */
  readonly packPath: string;
  readonly baseTip: string;
  readonly tip: string;
  readonly pushCommits: number;
  readonly pushMerges: number;
  readonly baseCommits: number;
  readonly packBytes: number;
  readonly packObjects: number;
  readonly baseBytes: number;
}

/** The command-line options every benchmark script takes for the public history (for parseArgs). */
export const HISTORY_OPTIONS = {
  repo: { type: 'string' },
  range: { type: 'string' },
  'history-name': { type: 'string' },
} as const;

/** How to ask for the public-history part, printed when it is skipped. */
export const HISTORY_HINT =
  'the public-history part needs a bare clone of a real repository and a range: --repo <dir> --range <old>..<new> ' +
  '(e.g. a clone of libgit2/libgit2 with --range v0.20.0..v1.7.0), or PUSHGATE_BENCH_REPO and PUSHGATE_BENCH_RANGE';

/** The public history asked for by `--repo`/`--range` or PUSHGATE_BENCH_REPO/PUSHGATE_BENCH_RANGE, if any. */
export function historySource(values: { repo?: string; range?: string; 'history-name'?: string }): HistorySource | undefined {
  const repo = values.repo ?? process.env.PUSHGATE_BENCH_REPO;
  const range = values.range ?? process.env.PUSHGATE_BENCH_RANGE;
  if (repo === undefined && range === undefined) return undefined;
  if (repo === undefined || range === undefined) throw new Error(`both a repository and a range are needed: ${HISTORY_HINT}`);
  if (!/^[^.\s][^\s]*\.\.[^.\s][^\s]*$/.test(range)) throw new Error(`--range: <old>..<new>, not ${range}`);
  const dir = resolve(repo);
  return { repo: dir, range, name: values['history-name'] ?? process.env.PUSHGATE_BENCH_REPO_NAME ?? guessName(dir) };
}

/** The arguments that pass a history source on to another benchmark script. */
export function historyArgs(source: HistorySource | undefined): string[] {
  return source === undefined ? [] : ['--repo', source.repo, '--range', source.range, '--history-name', source.name];
}

/** The same arguments as a page shows them: the repository's name in place of its path. */
export function shownHistoryArgs(source: HistorySource | undefined): string {
  return source === undefined ? '' : `--repo <bare clone of ${source.name}> --range ${source.range}`;
}

/**
 * A name for the pages from the directory: `x.git` is x; a directory called `repo` or `.git` is
 * named by its parent, with a mirror's `owner+name` read as owner/name.
 */
function guessName(dir: string): string {
  let name = basename(dir);
  if (name === 'repo' || name === '.git') name = basename(dirname(dir));
  return name.replace(/\.git$/, '').replace('+', '/');
}

const GIT_ENV: NodeJS.ProcessEnv = { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', GIT_TERMINAL_PROMPT: '0' };

function git(cwd: string, args: readonly string[]): string {
  return execFileSync('git', args, { cwd, env: GIT_ENV, encoding: 'utf8', maxBuffer: 1 << 26 }).trim();
}

/** The objects directory of a bare repository or of a working tree's .git. */
function objectsDir(repo: string): string {
  const bare = join(repo, 'objects');
  if (existsSync(bare)) return bare;
  const dotGit = join(repo, '.git', 'objects');
  if (existsSync(dotGit)) return dotGit;
  throw new Error(`${repo}: not a git repository (no objects/ or .git/objects/)`);
}

/** A bare repository at `dir` borrowing `objects` (alternates), with main at `tip`. */
function borrowing(dir: string, objects: string, tip: string): void {
  mkdirSync(dir, { recursive: true });
  git(dir, ['init', '-q', '--bare', '-b', 'main']);
  // As a developer's clone: no bitmaps, with which pack-objects writes no thin deltas.
  git(dir, ['config', 'pack.useBitmaps', 'false']);
  writeFileSync(join(dir, 'objects', 'info', 'alternates'), `${objects}\n`);
  git(dir, ['update-ref', 'refs/heads/main', tip]);
}

/** Bytes of the packs in a repository. */
function packBytesOf(repo: string): number {
  const out = git(repo, ['count-objects', '-v']);
  return Number(/^size-pack: (\d+)$/m.exec(out)![1]) * 1024;
}

/** The cached base repository and thin pack for `source`, made on first use (about a minute for ~10,000 commits). */
export async function ensureHistory(source: HistorySource, log: (s: string) => void = () => {}): Promise<HistoryPush> {
  const [oldRev, newRev] = source.range.split('..');
  const objects = objectsDir(source.repo);
  const gitDir = dirname(objects);
  const baseTip = git(gitDir, ['rev-parse', '--verify', `${oldRev}^{commit}`]);
  const tip = git(gitDir, ['rev-parse', '--verify', `${newRev}^{commit}`]);
  const dir = join(ROOT, '.bench', 'history', `${baseTip.slice(0, 12)}-${tip.slice(0, 12)}`);
  const meta = join(dir, 'history.json');
  if (existsSync(meta)) {
    const cached = JSON.parse(readFileSync(meta, 'utf8')) as HistoryPush;
    // The pushing repository borrows from the source: a cache made from a source since moved is remade.
    const alternates = join(cached.fullDir, 'objects', 'info', 'alternates');
    if (existsSync(alternates) && readFileSync(alternates, 'utf8').trim() === objects) return { ...cached, name: source.name, range: source.range };
  }
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(dir, { recursive: true, force: true });
  rmSync(tmp, { recursive: true, force: true });
  log(`preparing the push of ${source.name} ${source.range} in ${dir}`);

  const fullTmp = join(tmp, 'full.git');
  borrowing(fullTmp, objects, tip);

  // The base: main at old, then the objects reachable from it packed out of the source and the
  // borrowing ended. pack-objects, not `repack -a`: repack copies a promisor pack (a partial
  // clone's) whole, which would put the pushed history's objects in the base too.
  const baseTmp = join(tmp, 'base.git');
  borrowing(baseTmp, objects, baseTip);
  log('copying the base history (pack-objects)');
  execFileSync('git', ['-c', 'pack.threads=2', 'pack-objects', '--revs', '--delta-base-offset', '-q', join('objects', 'pack', 'pack')], {
    cwd: baseTmp,
    env: GIT_ENV,
    input: `${baseTip}\n`,
    stdio: ['pipe', 'ignore', 'inherit'],
  });
  rmSync(join(baseTmp, 'objects', 'info', 'alternates'));
  // Standing alone: every object main reaches is there.
  const missing = git(baseTmp, ['rev-list', '--objects', '--missing=print', 'main']).split('\n').filter((l) => l.startsWith('?'));
  if (missing.length > 0) throw new Error(`the base of ${source.range} lacks ${missing.length} objects, e.g. ${missing[0].slice(1)}`);

  log('writing the thin pack');
  const packTmp = join(tmp, 'push.pack');
  const child = spawn('git', ['-c', 'pack.threads=2', 'pack-objects', '--thin', '--stdout', '--revs', '--delta-base-offset', '-q'], {
    cwd: fullTmp,
    env: GIT_ENV,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolveDone, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolveDone() : reject(new Error(`pack-objects exited with ${code}`))));
  });
  child.stdin.end(`${tip}\n^${baseTip}\n`);
  await pipeline(child.stdout, createWriteStream(packTmp));
  await exited;

  const count = (...args: string[]) => Number(git(fullTmp, ['rev-list', '--count', ...args]));
  const packObjects = readFileSync(packTmp).readUInt32BE(8);
  const pushCommits = count(tip, `^${baseTip}`);
  const pushMerges = count('--merges', tip, `^${baseTip}`);
  const baseCommits = count(baseTip);
  const baseBytes = packBytesOf(baseTmp);
  renameSync(tmp, dir);
  const result: HistoryPush = {
    name: source.name,
    range: source.range,
    baseDir: join(dir, 'base.git'),
    fullDir: join(dir, 'full.git'),
    packPath: join(dir, 'push.pack'),
    baseTip,
    tip,
    pushCommits,
    pushMerges,
    baseCommits,
    packBytes: statSync(join(dir, 'push.pack')).size,
    packObjects,
    baseBytes,
  };
  writeFileSync(meta, JSON.stringify(result, null, 2));
  log(`${source.name} ${source.range}: ${result.pushCommits} commits (${result.pushMerges} merges) on ${result.baseCommits}, thin pack ${(result.packBytes / 1e6).toFixed(1)} MB, ${result.packObjects} objects`);
  return result;
}
