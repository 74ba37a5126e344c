/**
 * A push inspected without a client or an upstream: the upstream is a bare repository holding
 * exactly the given refs (fetched from the repository the push comes from), and the pack is the
 * thin pack `git push` would send (`git pack-objects --thin --revs` of the new tips `--not` the
 * upstream's refs). From there it is the gateway's own path: `indexPack` with the thin pack's
 * bases from the mirror's object store, every object checked as the gateway checks it,
 * `PushedPackStore`, `buildChangeSet` with the gateway's cache sizes, `ChangeContent`. What
 * `pushgate policy test` and `pushgate policy explain` judge is therefore what the gateway would.
 */
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { DEFAULT_LIMITS, ZERO_OID, killGitGroup, runGit, spawnGit, type Limits, type Oid, type RefUpdate } from '@pushgate/core';
import { ChangeContent, buildChangeSet, type ChangeSet } from '@pushgate/changes';
import { GitDirObjectStore, PushedPackStore, checkObject, type ObjectStore } from '@pushgate/objects';
import { indexPack } from '@pushgate/pack';
import { GATEWAY_CHANGESET_OPTIONS } from './inspection';
import { PolicyTestError } from './policy-test-errors';

/** One push to inspect offline. */
export interface OfflinePush {
  /** The repository the pushed objects come from (a git dir). */
  readonly sourceGitDir: string;
  /** The upstream's refs before the push; the mirror holds exactly these. */
  readonly upstreamRefs: ReadonlyMap<string, Oid>;
  /** The ref updates, as the client would send them. */
  readonly commands: readonly RefUpdate[];
  /** An empty directory for the mirror and the pack (the caller removes it). */
  readonly workDir: string;
  readonly limits?: Limits;
}

/** A git command that must succeed; its stderr names what went wrong. */
async function git(args: string[], options: { gitDir?: string; cwd?: string; input?: string; config?: Record<string, string> } = {}): Promise<string> {
  const result = await runGit({ args, ...options });
  if (result.code !== 0) throw new PolicyTestError('POLICY_TEST_GIT_FAILED', `git ${args[0]}`, `git ${args[0]} failed (exit ${result.code}): ${result.stderr.trim()}`);
  return result.stdout.toString('utf8');
}

/** A bare repository at `gitDir` holding exactly `refs`, their objects fetched from `sourceGitDir`. */
export async function makeMirror(sourceGitDir: string, refs: ReadonlyMap<string, Oid>, gitDir: string): Promise<void> {
  await git(['init', '--bare', '-q', gitDir]);
  if (refs.size === 0) return;
  const refspecs = [...refs].map(([ref, oid]) => `+${oid}:${ref}`);
  // The refs are named by id, which upload-pack serves only when allowed to (git-config(1),
  // uploadpack.allowAnySHA1InWant); the setting reaches the upload-pack this fetch starts.
  await git(['fetch', '-q', '--no-tags', '--no-write-fetch-head', sourceGitDir, ...refspecs], {
    gitDir,
    config: { 'uploadpack.allowAnySHA1InWant': 'true' },
  });
}

/** Writes the thin pack of `tips` not reachable from `exclude` (as `git push` makes it) to `packPath`. */
export async function writeThinPack(sourceGitDir: string, tips: readonly Oid[], exclude: readonly Oid[], packPath: string): Promise<void> {
  const child = spawnGit({ gitDir: sourceGitDir, args: ['pack-objects', '--thin', '--stdout', '--revs', '-q'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (c: string) => {
    if (stderr.length < 64 * 1024) stderr += c;
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  child.stdin.on('error', () => {
    // pack-objects may stop reading on a bad id; its exit code and stderr say why.
  });
  child.stdin.end(`${[...tips, ...exclude.map((oid) => `^${oid}`)].join('\n')}\n`);
  try {
    await pipeline(child.stdout, createWriteStream(packPath));
  } catch (e) {
    killGitGroup(child);
    throw e;
  }
  const code = await exited;
  if (code !== 0) throw new PolicyTestError('POLICY_TEST_GIT_FAILED', 'git pack-objects', `git pack-objects failed (exit ${code}): ${stderr.trim()}`);
}

/**
 * Inspects `push` as the gateway would and hands its change set and content reader to `use`
 * while the pushed pack and the mirror are open (closed when `use` settles).
 */
export async function inspectOffline<T>(push: OfflinePush, use: (changeSet: ChangeSet, content: ChangeContent) => Promise<T>): Promise<T> {
  const limits = push.limits ?? DEFAULT_LIMITS;
  const mirrorGitDir = join(push.workDir, 'mirror.git');
  await mkdir(push.workDir, { recursive: true });
  await makeMirror(push.sourceGitDir, push.upstreamRefs, mirrorGitDir);
  const mirror = GitDirObjectStore.open(mirrorGitDir, { limits });
  let pushed: PushedPackStore | undefined;
  try {
    const tips = [...new Set(push.commands.filter((c) => c.newOid !== ZERO_OID).map((c) => c.newOid))];
    let store: ObjectStore = mirror;
    if (tips.length > 0) {
      const packPath = join(push.workDir, 'push.pack');
      await writeThinPack(push.sourceGitDir, tips, [...new Set(push.upstreamRefs.values())], packPath);
      const indexed = await indexPack(packPath, {
        limits,
        external: (oid) => mirror.read(oid),
        // As the gateway does (receive.fsckObjects): malformed commits, trees and tags are refused here.
        onObject: (o) => {
          if (o.type !== 'blob') checkObject(o.type, o.data, { oid: o.oid });
        },
      });
      pushed = PushedPackStore.open(packPath, indexed.idxPath, { limits, base: mirror });
      store = pushed.withBase();
    }
    const changeSet = await buildChangeSet({
      commands: push.commands,
      store,
      mirror,
      mirrorGitDir,
      upstreamRefs: push.upstreamRefs,
      limits,
      options: GATEWAY_CHANGESET_OPTIONS,
    });
    return await use(changeSet, new ChangeContent({ changeSet, store, mirror, options: GATEWAY_CHANGESET_OPTIONS }));
  } finally {
    pushed?.close();
    mirror.close();
  }
}

/** The id `rev` names in `gitDir` (a tag name gives the tag object, as `git push` sends it). */
export async function resolveRevision(gitDir: string, rev: string): Promise<Oid> {
  const result = await runGit({ gitDir, args: ['rev-parse', '--verify', '-q', '--end-of-options', rev] });
  const out = result.stdout.toString('utf8').trim();
  if (result.code !== 0 || !/^[0-9a-f]{40}$/.test(out)) throw new PolicyTestError('POLICY_TEST_BAD_REVISION', gitDir, `${rev} names no object in ${gitDir}`);
  return out as Oid;
}
