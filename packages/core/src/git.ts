/**
 * Running the git CLI: asynchronously (spawn, never spawnSync: the server must keep serving while
 * git works), in an environment built from nothing but PATH, so the host's configuration
 * (/etc/gitconfig, ~/.gitconfig, GIT_* variables inherited from a hook, proxy variables) cannot
 * change what git does, git never prompts, and messages are in the C locale.
 *
 * `-c` settings go through GIT_CONFIG_COUNT / GIT_CONFIG_KEY_<n> / GIT_CONFIG_VALUE_<n>
 * (git-config(1), ENVIRONMENT) rather than argv, so a credential never appears in a process
 * listing. Git runs in its own process group, so an abort or a timeout also ends the helpers it
 * started (git-remote-http, upload-pack, hooks).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { PushgateError } from './errors';

/** HOME when the caller names none: a path that does not exist, so no user's git configuration, netrc or credentials are read. */
export const NO_GIT_HOME = '/nonexistent/pushgate-git-home';

/** Options of the environment git runs with. */
export interface GitEnvOptions {
  /** HOME for git (its .gitconfig is read); NO_GIT_HOME when omitted. */
  readonly home?: string;
  /** `-c` settings, passed through the environment (values may be secret). */
  readonly config?: Readonly<Record<string, string>>;
  /** Extra variables on top of the isolated environment (they win over it). */
  readonly env?: Readonly<Record<string, string>>;
}

/**
 * The isolated environment for git: PATH, HOME (and XDG_CONFIG_HOME under it), no system
 * configuration, no terminal prompts, C locale, UTC; then `config` and `env`.
 */
export function gitEnvironment(options: GitEnvOptions = {}): Record<string, string> {
  const home = options.home ?? NO_GIT_HOME;
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    LANG: 'C',
    LC_ALL: 'C',
    TZ: 'UTC',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
  };
  const config = Object.entries(options.config ?? {});
  if (config.length > 0) {
    env.GIT_CONFIG_COUNT = String(config.length);
    config.forEach(([key, value], i) => {
      env[`GIT_CONFIG_KEY_${i}`] = key;
      env[`GIT_CONFIG_VALUE_${i}`] = value;
    });
  }
  return { ...env, ...options.env };
}

/** Options of `spawnGit`. */
export interface GitSpawnOptions extends GitEnvOptions {
  /** Arguments after `git` (and after `--git-dir` when `gitDir` is given). */
  readonly args: readonly string[];
  /** Working directory. */
  readonly cwd?: string;
  /** The repository, passed as `--git-dir` before `args`. */
  readonly gitDir?: string;
}

/**
 * Starts `git [--git-dir <gitDir>] <args>` with piped stdio in the isolated environment and in its
 * own process group (end it with `killGitGroup`); for callers that stream through git.
 */
export function spawnGit(options: GitSpawnOptions): ChildProcessWithoutNullStreams {
  const args = options.gitDir === undefined ? [...options.args] : ['--git-dir', options.gitDir, ...options.args];
  return spawn('git', args, {
    cwd: options.cwd,
    env: gitEnvironment(options),
    stdio: ['pipe', 'pipe', 'pipe'],
    // Its own process group, so killing it also ends the programs git started.
    detached: true,
  });
}

/** Kills a git started by `spawnGit` and everything it started, unless it has already exited. */
export function killGitGroup(child: { readonly pid?: number; readonly exitCode: number | null; readonly signalCode: NodeJS.Signals | null }): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/** Options of `runGit`. */
export interface GitRunOptions extends GitSpawnOptions {
  /** Written to git's stdin, which is then closed (git always sees EOF, never a waiting terminal). */
  readonly input?: string | Uint8Array;
  /** The caller gave up: git (and what it started) is killed and runGit rejects with GIT_ABORTED. */
  readonly signal?: AbortSignal;
  /** Kills git after this many milliseconds; it then resolves with `timedOut` and signal SIGKILL. */
  readonly timeoutMs?: number;
  /** Bytes of stdout to keep; more kills git and rejects with GIT_OUTPUT_TOO_LARGE (a runaway answer must not fill memory). */
  readonly maxStdout?: number;
  /** Characters of stderr to keep (the start); the rest is read and dropped. */
  readonly maxStderr?: number;
}

/** What a git command printed and how it ended. */
export interface GitRunResult {
  /** Exit code; -1 when git was killed by a signal (see `signal`). */
  readonly code: number;
  /** The signal that killed git, or null when it exited. */
  readonly signal: NodeJS.Signals | null;
  /** True when git was killed because `timeoutMs` passed. */
  readonly timedOut: boolean;
  readonly stdout: Buffer;
  /** Standard error decoded as UTF-8, cut at `maxStderr` characters. */
  readonly stderr: string;
}

/** Default `maxStdout`: larger than any answer pushgate asks git for, small enough to never exhaust memory. */
export const DEFAULT_GIT_MAX_STDOUT = 256 * 1024 * 1024;
/** Default `maxStderr`: git's messages are a few lines; a hook's chatter is cut here. */
export const DEFAULT_GIT_MAX_STDERR = 64 * 1024;

/** The codes of GitRunError. */
export type GitRunErrorCode =
  /** The git program could not be started (not on PATH, not executable, bad working directory). */
  | 'GIT_SPAWN_FAILED'
  /** The caller's signal aborted the command; git and what it started were killed. */
  | 'GIT_ABORTED'
  /** Git wrote more than `maxStdout` bytes and was killed. */
  | 'GIT_OUTPUT_TOO_LARGE';

/** What a GitRunError says about the command. */
export interface GitRunErrorData {
  readonly args: readonly string[];
  /** Stderr captured before the failure. */
  readonly stderr: string;
  readonly maxStdout?: number;
}

/** Running git failed before it could give an answer; callers map this to their own code. */
export class GitRunError extends PushgateError<GitRunErrorCode, GitRunErrorData> {
  constructor(code: GitRunErrorCode, message: string, data: GitRunErrorData, cause?: unknown) {
    super(code, message, { data, cause, delivery: { kind: 'http', status: 500 } });
  }
}

/**
 * Runs `git [--git-dir <gitDir>] <args>` to completion and resolves with its output whatever the
 * exit code (or killing signal); rejects with GitRunError only when git could not be started,
 * was aborted, or wrote more than `maxStdout`. Always waits for git to exit before settling.
 */
export function runGit(options: GitRunOptions): Promise<GitRunResult> {
  const args = options.gitDir === undefined ? [...options.args] : ['--git-dir', options.gitDir, ...options.args];
  const maxStdout = options.maxStdout ?? DEFAULT_GIT_MAX_STDOUT;
  const maxStderr = options.maxStderr ?? DEFAULT_GIT_MAX_STDERR;
  const what = `git ${options.args[0] ?? ''}`.trimEnd();
  const { signal } = options;
  if (signal?.aborted) {
    return Promise.reject(new GitRunError('GIT_ABORTED', `${what} was aborted before it started`, { args, stderr: '' }, signal.reason));
  }
  return new Promise((resolve, reject) => {
    const child = spawnGit(options);
    const out: Buffer[] = [];
    let outBytes = 0;
    let err = '';
    let failure: 'spawn' | 'aborted' | 'overflow' | undefined;
    let spawnError: Error | undefined;
    let timedOut = false;

    const onAbort = (): void => {
      failure ??= 'aborted';
      killGitGroup(child);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            killGitGroup(child);
          }, options.timeoutMs);

    child.stdout.on('data', (chunk: Buffer) => {
      if (failure !== undefined) return;
      outBytes += chunk.length;
      if (outBytes > maxStdout) {
        failure = 'overflow';
        out.length = 0;
        killGitGroup(child);
        return;
      }
      out.push(chunk);
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      if (err.length < maxStderr) err += chunk.slice(0, maxStderr - err.length);
    });
    child.stdin.on('error', () => {
      // git may exit before reading all its input (a bad argument or id); its exit code says why.
    });
    child.on('error', (e) => {
      // Only a failed start reaches here (kills go through process.kill); 'close' still follows.
      failure ??= 'spawn';
      spawnError = e;
    });
    child.on('close', (code, killedBy) => {
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      switch (failure) {
        case 'spawn':
          reject(new GitRunError('GIT_SPAWN_FAILED', `cannot run ${what}: ${spawnError?.message ?? 'unknown error'}`, { args, stderr: err }, spawnError));
          return;
        case 'aborted':
          reject(new GitRunError('GIT_ABORTED', `${what} was aborted`, { args, stderr: err }, signal?.reason));
          return;
        case 'overflow':
          reject(new GitRunError('GIT_OUTPUT_TOO_LARGE', `${what} wrote more than ${maxStdout} bytes`, { args, stderr: err, maxStdout }));
          return;
        case undefined:
          resolve({ code: code ?? -1, signal: killedBy, timedOut, stdout: Buffer.concat(out), stderr: err });
      }
    });
    child.stdin.end(options.input);
  });
}
