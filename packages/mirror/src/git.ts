/**
 * Running the git CLI for the mirror: asynchronously (never spawnSync in the server), with an
 * environment that ignores the host's git configuration, never prompts, and receives credentials
 * through GIT_CONFIG_* variables so they never appear in a process listing.
 */
import { spawn } from 'node:child_process';
import { PushgateError } from '@pushgate/core';

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
  /** HOME for git; defaults to an empty directory of the caller's choosing via env. */
  readonly home?: string;
}

/** A git command that failed; `stderr` has secrets removed by the caller's masker. */
export class GitCommandError extends PushgateError<'GIT_COMMAND_FAILED', { args: string[]; code: number; stderr: string }> {
  constructor(args: string[], code: number, stderr: string) {
    super('GIT_COMMAND_FAILED', `git ${args[0]} failed (exit ${code}): ${stderr.trim().split('\n').slice(-3).join(' / ')}`, {
      data: { args, code, stderr },
      delivery: { kind: 'http', status: 502 },
    });
  }
}

const STDERR_KEEP = 16 * 1024;

/** Runs `git <args>` and resolves with its output whatever the exit code. */
export function runGit(args: string[], options: GitRunOptions = {}): Promise<GitResult> {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: options.home ?? process.env.HOME,
    LANG: 'C',
    LC_ALL: 'C',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
    GIT_ASKPASS: 'true',
    GIT_ALLOW_PROTOCOL: 'http:https',
  };
  const config = Object.entries(options.config ?? {});
  env.GIT_CONFIG_COUNT = String(config.length);
  config.forEach(([key, value], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = key;
    env[`GIT_CONFIG_VALUE_${i}`] = value;
  });
  const maxStdout = options.maxStdout ?? 256 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, { cwd: options.cwd, env, stdio: ['pipe', 'pipe', 'pipe'], signal: options.signal });
    const out: Buffer[] = [];
    let outBytes = 0;
    let err = '';
    let overflow = false;
    child.stdout.on('data', (chunk: Buffer) => {
      outBytes += chunk.length;
      if (outBytes > maxStdout) {
        overflow = true;
        child.kill('SIGKILL');
        return;
      }
      out.push(chunk);
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      if (err.length < STDERR_KEEP) err += chunk.slice(0, STDERR_KEEP - err.length);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (overflow) {
        reject(new GitCommandError(args, -1, `output exceeded ${maxStdout} bytes`));
        return;
      }
      resolve({ code: code ?? -1, stdout: Buffer.concat(out), stderr: err });
    });
    child.stdin.on('error', () => {
      // git may exit before reading all input (e.g. on a bad argument); its exit code says why.
    });
    child.stdin.end(options.input);
  });
}

/** Runs `git <args>` and returns stdout, throwing GitCommandError on a non-zero exit. */
export async function gitOk(args: string[], options: GitRunOptions = {}): Promise<Buffer> {
  const r = await runGit(args, options);
  if (r.code !== 0) throw new GitCommandError(args, r.code, r.stderr);
  return r.stdout;
}
