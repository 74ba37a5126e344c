/**
 * Running the git CLI for the mirror, through core's runGit (asynchronous, host configuration
 * ignored, never prompting), with what fetching from an upstream needs on top: credentials as
 * `-c` settings passed through the environment so they never appear in a process listing, only
 * http(s) remotes, and an empty answer to any credential prompt so a refused credential fails as
 * "Authentication failed" instead of waiting.
 */
import { PushgateError, isPushgateError, runGit as runCoreGit } from '@pushgate/core';

/** What a git command printed and how it ended. */
export interface GitResult {
  readonly code: number;
  readonly stdout: Buffer;
  readonly stderr: string;
}

/** Options of one git invocation. */
export interface GitRunOptions {
  readonly cwd?: string;
  /** Extra `-c key=value` settings passed through the environment (values may be secret). */
  readonly config?: Readonly<Record<string, string>>;
  readonly input?: string | Buffer;
  readonly signal?: AbortSignal;
  /** Bytes of stdout to keep; more is an error (a runaway answer must not fill memory). */
  readonly maxStdout?: number;
  /** HOME for git; by default one that does not exist, so no user's configuration is read. */
  readonly home?: string;
}

/** A git command that failed; `stderr` has secrets removed by the caller's masker. */
export class GitCommandError extends PushgateError<'GIT_COMMAND_FAILED', { args: string[]; code: number; stderr: string }> {
  constructor(args: string[], code: number, stderr: string, cause?: unknown) {
    super('GIT_COMMAND_FAILED', `git ${args[0]} failed (exit ${code}): ${stderr.trim().split('\n').slice(-3).join(' / ')}`, {
      data: { args, code, stderr },
      cause,
      delivery: { kind: 'http', status: 502 },
    });
  }
}

const STDERR_KEEP = 16 * 1024;

/** Settings the mirror's git always runs with. */
const MIRROR_ENV = { GIT_ASKPASS: 'true', GIT_ALLOW_PROTOCOL: 'http:https' } as const;

/**
 * Runs `git <args>` and resolves with its output whatever the exit code. An abort rejects with
 * core's GIT_ABORTED; a git that cannot start or writes more than `maxStdout` rejects with
 * GIT_COMMAND_FAILED.
 */
export async function runGit(args: string[], options: GitRunOptions = {}): Promise<GitResult> {
  try {
    const r = await runCoreGit({
      args,
      cwd: options.cwd,
      config: options.config,
      env: MIRROR_ENV,
      home: options.home,
      input: options.input,
      signal: options.signal,
      maxStdout: options.maxStdout,
      maxStderr: STDERR_KEEP,
    });
    return { code: r.code, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    if (isPushgateError(e, 'GIT_OUTPUT_TOO_LARGE') || isPushgateError(e, 'GIT_SPAWN_FAILED')) throw new GitCommandError(args, -1, e.message, e);
    throw e;
  }
}

/** Runs `git <args>` and returns stdout, throwing GitCommandError on a non-zero exit. */
export async function gitOk(args: string[], options: GitRunOptions = {}): Promise<Buffer> {
  const r = await runGit(args, options);
  if (r.code !== 0) throw new GitCommandError(args, r.code, r.stderr);
  return r.stdout;
}
