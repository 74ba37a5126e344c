/**
 * Running the git CLI for tests and benchmarks through core's runGit: asynchronously, in an
 * environment built from nothing but PATH and the harness's own HOME, so the host's configuration
 * (~/.gitconfig, /etc/gitconfig, GIT_* variables inherited from a hook, proxy variables) cannot
 * change what a test observes, with a timeout under Jest's so a hanging git fails its test.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gitEnvironment, runGit as runCoreGit } from '@pushgate/core';
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
 * The isolated environment for git with HOME at `home` (core's `gitEnvironment`): no system
 * config, no prompts, no proxies, C locale and UTC so messages and dates do not depend on the host.
 */
export function isolatedGitVars(home: string): Record<string, string> {
  return gitEnvironment({ home });
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
export async function runGit(vars: Readonly<Record<string, string>>, args: readonly string[], options: GitCallOptions = {}): Promise<GitResult> {
  try {
    const r = await runCoreGit({
      args,
      cwd: options.cwd,
      home: vars.HOME,
      env: { ...vars, ...options.env },
      input: options.input,
      timeoutMs: options.timeoutMs ?? DEFAULT_GIT_TIMEOUT_MS,
      // Tests read whole packs through stdout; their size is the test's business.
      maxStdout: Number.POSITIVE_INFINITY,
      maxStderr: STDERR_KEEP_BYTES,
    });
    return { code: r.code, signal: r.signal, stdout: r.stdout.toString('utf8'), stdoutBuffer: r.stdout, stderr: r.stderr };
  } catch (e) {
    throw new TestkitError('TESTKIT_GIT_FAILED', `cannot run git ${args[0] ?? ''}: ${e instanceof Error ? e.message : String(e)}`, { args: [...args] }, e);
  }
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
