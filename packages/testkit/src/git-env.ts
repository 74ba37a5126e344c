/**
 * An isolated git client for tests: its own HOME and .gitconfig, no system config, no prompts, no
 * proxies, and a clock that gives every commit a fixed date so object ids are the same on every
 * run. Helpers build working repositories quickly (files, symlinks, executables, deletions,
 * renames, submodule gitlinks, annotated tags, merges) with one or two git commands each.
 */
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { TestkitError } from './errors';
import type { FileChanges, FileContent, Signature } from '@pushgate/git-server';
import { assertGitOk, isolatedGitVars, runGit, writeGitconfig, type GitCallOptions, type GitResult } from './git-run';

/** A date for git: seconds since the epoch (UTC), a Date, or any string git's date parser takes. */
export type GitDate = number | Date | string;

/** Who and when for a commit made by a helper; unset fields come from the env's identity and clock. */
export interface CommitOptions {
  readonly author?: Signature;
  readonly committer?: Signature;
  readonly date?: GitDate;
}

/** Options of `initRepo`. */
export interface InitRepoOptions {
  /** A repository with a work tree (the default) or a bare one. */
  readonly kind?: 'working' | 'bare';
  readonly objectFormat?: 'sha1' | 'sha256';
  /** Initial branch; `main` by default. */
  readonly branch?: string;
}

/** Options of `annotatedTag`. */
export interface TagOptions {
  /** What the tag points at; HEAD by default. */
  readonly target?: string;
  readonly tagger?: Signature;
  readonly date?: GitDate;
}

/** Options of `addSubmodule`. */
export interface SubmoduleOptions extends CommitOptions {
  /** URL recorded in .gitmodules; nothing is fetched from it. */
  readonly url?: string;
  readonly message?: string;
}

/** An isolated git client with helpers to build repositories; `cleanup()` removes everything it made. */
export interface GitEnv {
  /** The scratch directory holding HOME and, by default, every repository made by `initRepo`. */
  readonly dir: string;
  /** The isolated HOME (with the harness's .gitconfig). */
  readonly home: string;
  /** The exact environment git runs with (for tests that spawn git or git-aware tools themselves). */
  readonly vars: Readonly<Record<string, string>>;
  /** Runs git; resolves whatever the exit code. Without `cwd` it runs in `dir`, never in the caller's checkout. */
  git(args: readonly string[], options?: GitCallOptions): Promise<GitResult>;
  /** Runs git and throws TESTKIT_GIT_FAILED (with stderr) on a non-zero exit. */
  gitOk(args: readonly string[], options?: GitCallOptions): Promise<GitResult>;
  /** Creates a repository (under `dir` when no path is given) and returns its absolute path. */
  initRepo(path?: string, options?: InitRepoOptions): Promise<string>;
  /** Writes, replaces or deletes (`null`) files in a working repository and commits; returns the commit id. */
  commitFiles(repo: string, files: FileChanges, message: string, options?: CommitOptions): Promise<string>;
  /** Renames one path with `git mv` and commits; returns the commit id. */
  renameFile(repo: string, from: string, to: string, message: string, options?: CommitOptions): Promise<string>;
  /** Records a submodule gitlink (mode 160000) at `path` pointing at `oid`, with its .gitmodules entry; returns the commit id. */
  addSubmodule(repo: string, path: string, oid: string, options?: SubmoduleOptions): Promise<string>;
  /** Creates an annotated tag; returns the id of the tag object (not of the commit it points at). */
  annotatedTag(repo: string, name: string, message: string, options?: TagOptions): Promise<string>;
  /** Merges `branch` into the current branch with a merge commit (never fast-forward); returns its id. */
  merge(repo: string, branch: string, message: string, options?: CommitOptions): Promise<string>;
  /** The object id `rev` names in `repo`. */
  revParse(repo: string, rev: string): Promise<string>;
  /** The clock's current time (seconds since the epoch): the date git uses for anything not given one. */
  now(): number;
  /** Removes the scratch directory and everything in it. */
  cleanup(): Promise<void>;
}

/** Where the env's clock starts: 2023-11-14T22:13:20Z, a fixed point so ids never depend on today. */
export const GIT_ENV_EPOCH = 1_700_000_000;

/** Seconds the clock advances for each commit or tag a helper makes. */
const CLOCK_STEP = 60;

/** A date in the form GIT_AUTHOR_DATE takes. */
export function gitDate(d: GitDate): string {
  if (typeof d === 'number') return `${Math.floor(d)} +0000`;
  if (d instanceof Date) return `${Math.floor(d.getTime() / 1000)} +0000`;
  return d;
}

/** Resolves a `/`-separated path inside `repo`, refusing anything that would land outside it. */
function insideRepo(repo: string, path: string): string {
  const segments = path.split('/');
  if (path === '' || isAbsolute(path) || segments.some((s) => s === '' || s === '.' || s === '..' || s === '.git') || path.includes('\0')) {
    throw new TestkitError('TESTKIT_BAD_REPO_PATH', `path ${JSON.stringify(path)} is not a plain relative path inside ${repo}`, { repo, path });
  }
  const abs = resolve(repo, ...segments);
  if (!abs.startsWith(resolve(repo) + sep)) {
    throw new TestkitError('TESTKIT_BAD_REPO_PATH', `path ${JSON.stringify(path)} resolves outside ${repo}`, { repo, path });
  }
  return abs;
}

/** Writes one path's new contents to the work tree (removing whatever was there first). */
async function writeWorkTreePath(abs: string, content: FileContent | null): Promise<void> {
  await rm(abs, { recursive: true, force: true });
  if (content === null) return;
  await mkdir(dirname(abs), { recursive: true });
  if (typeof content === 'string' || Buffer.isBuffer(content)) {
    await writeFile(abs, content);
    await chmod(abs, 0o644);
  } else if ('symlink' in content) {
    await symlink(content.symlink, abs);
  } else {
    await writeFile(abs, content.executable);
    await chmod(abs, 0o755);
  }
}

/** Creates an isolated git client in a fresh directory under os.tmpdir(). */
export async function createGitEnv(): Promise<GitEnv> {
  const dir = await mkdtemp(join(tmpdir(), 'pushgate-git-'));
  const home = join(dir, 'home');
  await mkdir(join(home, '.config'), { recursive: true });
  await writeGitconfig(home);
  const vars = isolatedGitVars(home);
  let clock = GIT_ENV_EPOCH;
  let repoCount = 0;

  /** Identity and date variables for one command that creates an object. */
  const stamp = (options: CommitOptions & { tagger?: Signature }): Record<string, string> => {
    const date = gitDate(options.date ?? (clock += CLOCK_STEP));
    const env: Record<string, string> = { GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date };
    if (options.author) Object.assign(env, { GIT_AUTHOR_NAME: options.author.name, GIT_AUTHOR_EMAIL: options.author.email });
    const committer = options.tagger ?? options.committer;
    if (committer) Object.assign(env, { GIT_COMMITTER_NAME: committer.name, GIT_COMMITTER_EMAIL: committer.email });
    return env;
  };

  const git = (args: readonly string[], options: GitCallOptions = {}): Promise<GitResult> => {
    const date = gitDate(clock);
    return runGit(vars, args, {
      ...options,
      cwd: options.cwd ?? dir,
      // Plain calls get the clock's current date too, so even `git commit` run by hand is reproducible.
      env: { GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date, ...options.env },
    });
  };
  const gitOk = async (args: readonly string[], options: GitCallOptions = {}): Promise<GitResult> =>
    assertGitOk(await git(args, options), args, options.cwd ?? dir);
  const revParse = async (repo: string, rev: string): Promise<string> =>
    (await gitOk(['rev-parse', '--verify', '--end-of-options', rev], { cwd: repo })).stdout.trim();
  // Pathspecs are literal: a file named `*.md` must not stage every markdown file.
  const literal = { GIT_LITERAL_PATHSPECS: '1' };

  const commit = async (repo: string, message: string, options: CommitOptions, extra: readonly string[] = []): Promise<string> => {
    await gitOk(['commit', '-q', '--cleanup=verbatim', '-F', '-', ...extra], { cwd: repo, input: message, env: stamp(options) });
    return revParse(repo, 'HEAD');
  };

  return {
    dir,
    home,
    vars,
    git,
    gitOk,
    revParse,
    now: () => clock,

    async initRepo(path, options = {}) {
      const target = resolve(dir, path ?? `repo-${++repoCount}`);
      const args = ['init', '-q', '-b', options.branch ?? 'main'];
      if (options.kind === 'bare') args.push('--bare');
      if (options.objectFormat) args.push(`--object-format=${options.objectFormat}`);
      await gitOk([...args, target]);
      return target;
    },

    async commitFiles(repo, files, message, options = {}) {
      const paths = Object.keys(files);
      for (const path of paths) await writeWorkTreePath(insideRepo(repo, path), files[path] ?? null);
      if (paths.length > 0) await gitOk(['add', '-A', '--', ...paths], { cwd: repo, env: literal });
      return commit(repo, message, options, paths.length === 0 ? ['--allow-empty'] : []);
    },

    async renameFile(repo, from, to, message, options = {}) {
      insideRepo(repo, from);
      await mkdir(dirname(insideRepo(repo, to)), { recursive: true });
      await gitOk(['mv', '--', from, to], { cwd: repo, env: literal });
      return commit(repo, message, options);
    },

    async addSubmodule(repo, path, oid, options = {}) {
      insideRepo(repo, path);
      const url = options.url ?? `https://example.invalid/${path}.git`;
      await gitOk(['update-index', '--add', '--cacheinfo', `160000,${oid},${path}`], { cwd: repo });
      await gitOk(['config', '-f', '.gitmodules', `submodule.${path}.path`, path], { cwd: repo });
      await gitOk(['config', '-f', '.gitmodules', `submodule.${path}.url`, url], { cwd: repo });
      await gitOk(['add', '--', '.gitmodules'], { cwd: repo });
      return commit(repo, options.message ?? `Add submodule ${path}`, options);
    },

    async annotatedTag(repo, name, message, options = {}) {
      await gitOk(['tag', '-a', '--cleanup=verbatim', '-F', '-', name, options.target ?? 'HEAD'], {
        cwd: repo,
        input: message,
        env: stamp(options),
      });
      return revParse(repo, `refs/tags/${name}`);
    },

    async merge(repo, branch, message, options = {}) {
      await gitOk(['merge', '-q', '--no-ff', '--no-edit', '--cleanup=verbatim', '-m', message, branch], { cwd: repo, env: stamp(options) });
      return revParse(repo, 'HEAD');
    },

    async cleanup() {
      await rm(dir, { recursive: true, force: true });
    },
  };
}
