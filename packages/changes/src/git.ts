/**
 * Asking git about the upstream mirror: which commits are reachable from the upstream's refs.
 * Spawned asynchronously a handful of times per push (never per commit), with the host's git
 * configuration ignored and ids passed on stdin (`rev-list --stdin`, git-rev-list(1)), so
 * thousands of refs never hit argument limits.
 */
import { spawn } from 'node:child_process';
import { isOid, type Oid } from '@pushgate/core';
import { ChangesError } from './errors';

const STDERR_KEEP = 8 * 1024;

/** Runs `git rev-list --stdin <args>` in `gitDir` with `lines` on stdin; returns the listed ids. */
export function revList(gitDir: string, args: readonly string[], lines: readonly string[], signal?: AbortSignal): Promise<Oid[]> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', ['--git-dir', gitDir, 'rev-list', '--stdin', ...args], {
      env: { PATH: process.env.PATH, HOME: gitDir, GIT_CONFIG_NOSYSTEM: '1', LC_ALL: 'C', GIT_TERMINAL_PROMPT: '0' },
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(signal ? { signal } : {}),
    });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      if (err.length < STDERR_KEEP) err += chunk.slice(0, STDERR_KEEP - err.length);
    });
    child.on('error', (e) => {
      reject(new ChangesError('CHANGES_MIRROR_QUERY_FAILED', `could not run git rev-list in the mirror: ${e.message}`, { detail: e.message }, e));
    });
    child.on('close', (code) => {
      if (code !== 0) {
        const last = err.trim().split('\n').slice(-2).join(' / ');
        reject(new ChangesError('CHANGES_MIRROR_QUERY_FAILED', `git rev-list in the mirror failed (exit ${code}): ${last}`, { detail: err }));
        return;
      }
      const ids: Oid[] = [];
      for (const line of Buffer.concat(out).toString('latin1').split('\n')) {
        if (isOid(line)) ids.push(line);
      }
      resolve(ids);
    });
    child.stdin.on('error', () => {
      // git may exit before reading everything (a bad id); its exit code says why.
    });
    child.stdin.end(lines.length ? `${lines.join('\n')}\n` : '');
  });
}
