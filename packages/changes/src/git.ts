/**
 * Asking git about the upstream mirror: which commits are reachable from the upstream's refs.
 * Spawned asynchronously a handful of times per push (never per commit), through core's runGit
 * (host configuration ignored), with ids passed on stdin (`rev-list --stdin`, git-rev-list(1)), so
 * thousands of refs never hit argument limits.
 */
import { isOid, isPushgateError, runGit, type GitRunResult, type Oid } from '@pushgate/core';
import { ChangesError } from './errors';

/** Stderr kept for the error: git's last lines say why, and they go into a log line. */
const STDERR_KEEP = 8 * 1024;

/** Runs `git rev-list --stdin <args>` in `gitDir` with `lines` on stdin; returns the listed ids. */
export async function revList(gitDir: string, args: readonly string[], lines: readonly string[], signal?: AbortSignal): Promise<Oid[]> {
  let result: GitRunResult;
  try {
    result = await runGit({
      gitDir,
      args: ['rev-list', '--stdin', ...args],
      // HOME inside the mirror: no user's configuration, and a path that exists.
      home: gitDir,
      input: lines.length ? `${lines.join('\n')}\n` : '',
      signal,
      maxStderr: STDERR_KEEP,
    });
  } catch (e) {
    if (isPushgateError(e, 'GIT_ABORTED')) {
      throw new ChangesError('CHANGES_ABORTED', 'inspection of the push was aborted', { detail: String(signal?.reason ?? '') }, signal?.reason);
    }
    const message = e instanceof Error ? e.message : String(e);
    throw new ChangesError('CHANGES_MIRROR_QUERY_FAILED', `could not run git rev-list in the mirror: ${message}`, { detail: message }, e);
  }
  if (result.code !== 0) {
    const last = result.stderr.trim().split('\n').slice(-2).join(' / ');
    throw new ChangesError('CHANGES_MIRROR_QUERY_FAILED', `git rev-list in the mirror failed (exit ${result.code}): ${last}`, { detail: result.stderr });
  }
  const ids: Oid[] = [];
  for (const line of result.stdout.toString('latin1').split('\n')) {
    if (isOid(line)) ids.push(line);
  }
  return ids;
}
