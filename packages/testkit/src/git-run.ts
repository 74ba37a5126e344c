/**
 * Running the git CLI for tests, benchmarks and the demo: asynchronously (spawn, never spawnSync),
 * in an environment built from nothing but PATH, so the host's configuration (~/.gitconfig,
 * /etc/gitconfig, GIT_* variables inherited from a hook, proxy variables) cannot change what a
 * test observes.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TestkitError } from './errors';

/** What a git command printed and how it ended. */
export interface GitResult {
  /** Exit code; -1 when git was killed by a signal (see `signal`). */
  readonly code: number;
  /** The signal that killed git (a timeout sends SIGKILL), or null when it exited. */
  readonly signal: NodeJS.Signals | null;
  /** Standard output decoded as UTF-8. */
  readonly stdout: string;
  /** Standard output as bytes (for binary output such as `cat-file` or a pack). */
  readonly stdoutBuffer: Buffer;
  readonly stderr: string;
}

/** Options of one git invocation. */
export interface GitCallOptions {
  readonly cwd?: string;
  /** Written to git's stdin, which is then closed (git always sees EOF, never a hanging terminal). */
  readonly input?: string | Buffer;
  /** Extra environment variables, on top of the isolated environment. */
  readonly env?: Readonly<Record<string, string>>;
  /** Kill git after this many milliseconds; defaults to 100 s, under Jest's 120 s test timeout. */
  readonly timeoutMs?: number;
}

/** Default time a single git command may take before it is killed. */
export const DEFAULT_GIT_TIMEOUT_MS = 100_000;

/**
 * The isolated environment for git with HOME at `home`: no system config, no prompts, no proxies,
 * C locale and UTC so messages and dates do not depend on the host.
 */
export function isolatedGitVars(home: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    LANG: 'C',
    LC_ALL: 'C',
    TZ: 'UTC',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
  };
}

/** Settings of the .gitconfig the harness writes into every isolated HOME. */
const BASE_GITCONFIG = `[user]
\tname = Pushgate Test
\temail = test@pushgate.invalid
[init]
\tdefaultBranch = main
[credential]
\t# An empty value clears any helper list, so git never asks a keychain or a terminal.
\thelper =
[core]
\tautocrlf = false
[commit]
\tgpgSign = false
[tag]
\tgpgSign = false
[gc]
\t# Background auto-gc would outlive the test and race with removing its directory.
\tauto = 0
[maintenance]
\tauto = false
[advice]
\tdetachedHead = false
\tskippedCherryPicks = false
`;

/** Writes the harness's .gitconfig (plus `extra` lines) into `home`. */
export async function writeGitconfig(home: string, extra = ''): Promise<void> {
  await writeFile(join(home, '.gitconfig'), BASE_GITCONFIG + extra);
}

const STDERR_KEEP_BYTES = 256 * 1024;

/** Runs `git <args>` with exactly `vars` (+ `options.env`) as its environment; resolves whatever the exit code. */
export function runGit(vars: Readonly<Record<string, string>>, args: readonly string[], options: GitCallOptions = {}): Promise<GitResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, {
      cwd: options.cwd,
      env: { ...vars, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
      // Its own process group, so a timeout also ends the helpers git started (git-remote-http, hooks).
      detached: true,
    });
    const timer = setTimeout(() => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }, options.timeoutMs ?? DEFAULT_GIT_TIMEOUT_MS);
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      if (err.length < STDERR_KEEP_BYTES) err += chunk.slice(0, STDERR_KEEP_BYTES - err.length);
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new TestkitError('TESTKIT_GIT_FAILED', `cannot run git ${args[0] ?? ''}: ${e.message}`, { args: [...args] }, e));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stdoutBuffer = Buffer.concat(out);
      resolve({ code: code ?? -1, signal, stdout: stdoutBuffer.toString('utf8'), stdoutBuffer, stderr: err });
    });
    child.stdin.on('error', () => {
      // git may exit before reading all its input (a bad argument); its exit code says why.
    });
    child.stdin.end(options.input);
  });
}

/** Throws TESTKIT_GIT_FAILED (with args, cwd, exit code and stderr) unless `r` exited 0. */
export function assertGitOk(r: GitResult, args: readonly string[], cwd: string | undefined): GitResult {
  if (r.code === 0) return r;
  const how = r.signal === null ? `exit ${r.code}` : `killed by ${r.signal}`;
  throw new TestkitError('TESTKIT_GIT_FAILED', `git ${args.join(' ')} failed (${how}) in ${cwd ?? '(no cwd)'}:\n${r.stderr.trim()}`, {
    args: [...args],
    cwd,
    code: r.code,
    signal: r.signal,
    stderr: r.stderr,
  });
}
