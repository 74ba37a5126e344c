/**
 * Large repositories built in seconds: `git fast-import` fed incompressible pseudo-random blobs
 * from a seeded generator (AES-256-CTR keystream keyed by the seed), so the pack is at least the
 * requested size, the same parameters always give the same object ids, and nothing is held in
 * memory beyond one 64 KiB chunk. Used by the clone-through-gateway tests and the benchmarks.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { TestkitError } from './errors';
import { FastImport, type FastImportChange } from '@pushgate/git-server';
import { GIT_ENV_EPOCH } from './git-env';
import { assertGitOk, isolatedGitVars, runGit, writeGitconfig } from './git-run';

/** Parameters of a large repository; equal parameters give an identical history. */
export interface LargeRepoOptions {
  /** Minimum pack size in MiB (2^20 bytes) of blob data; may be fractional. */
  readonly megabytes: number;
  /** Number of commits on `main`; the blob data is spread evenly over them. */
  readonly commits: number;
  /** Seed of the pseudo-random contents. */
  readonly seed: number | string;
}

/** What `makeLargeRepo` built. */
export interface LargeRepo {
  /** Absolute path of the bare repository. */
  readonly path: string;
  /** The commit `refs/heads/main` points at. */
  readonly head: string;
  readonly commits: number;
  /** Bytes of blob contents written (megabytes × 2^20, rounded down). */
  readonly blobBytes: number;
  /** Total bytes of the pack files in the repository. */
  readonly packBytes: number;
}

/** Largest single blob; larger totals are split over several files per commit. */
const MAX_BLOB_BYTES = 1024 * 1024;
/** Size of one keystream chunk handed to fast-import. */
const CHUNK_BYTES = 64 * 1024;

const SIGNATURE = { name: 'Pushgate Large Repo', email: 'large@pushgate.invalid' } as const;

/** An endless deterministic byte stream for `seed`: AES-256-CTR keystream, indistinguishable from random to zlib. */
function keystream(seed: number | string): (bytes: number) => Buffer {
  const key = createHash('sha256').update(`pushgate-large-repo:${String(seed)}`).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(CHUNK_BYTES);
  return (bytes) => cipher.update(bytes === CHUNK_BYTES ? zeros : zeros.subarray(0, bytes));
}

/** `size` bytes of the keystream, in chunks. */
async function* blobChunks(next: (bytes: number) => Buffer, size: number): AsyncGenerator<Buffer> {
  for (let left = size; left > 0; left -= CHUNK_BYTES) yield next(Math.min(CHUNK_BYTES, left));
}

/**
 * Builds a bare repository at `path` (which must not exist or be empty) whose pack holds at least
 * `megabytes` MiB of incompressible blob data over `commits` commits on `main`.
 */
export async function makeLargeRepo(path: string, options: LargeRepoOptions): Promise<LargeRepo> {
  const { megabytes, commits, seed } = options;
  if (!(megabytes > 0) || !Number.isFinite(megabytes)) {
    throw new TestkitError('TESTKIT_BAD_OPTION', `megabytes must be a positive number, got ${megabytes}`, { option: 'megabytes', actual: megabytes });
  }
  if (!Number.isInteger(commits) || commits < 1) {
    throw new TestkitError('TESTKIT_BAD_OPTION', `commits must be a positive integer, got ${commits}`, { option: 'commits', actual: commits });
  }
  const target = resolve(path);
  const home = await mkdtemp(join(tmpdir(), 'pushgate-large-home-'));
  try {
    await writeGitconfig(home);
    const vars = isolatedGitVars(home);
    await mkdir(target, { recursive: true });
    const init = ['init', '-q', '--bare', '-b', 'main', target];
    assertGitOk(await runGit(vars, init), init, target);
    const config = ['config', 'http.receivepack', 'true'];
    assertGitOk(await runGit(vars, config, { cwd: target }), config, target);

    const blobBytes = Math.floor(megabytes * 1024 * 1024);
    const next = keystream(seed);
    // Random bytes do not compress: level 0 writes the same size without spending seconds in zlib.
    // unpackLimit 0 keeps the pack even for a small history (by default under 100 objects go loose).
    const fi = await FastImport.start(target, vars, { 'core.compression': '0', 'pack.compression': '0', 'fastimport.unpackLimit': '0' });
    try {
      let written = 0;
      for (let c = 0; c < commits; c++) {
        const share = Math.floor((blobBytes * (c + 1)) / commits) - written;
        written += share;
        const changes: FastImportChange[] = [];
        const files = Math.max(1, Math.ceil(share / MAX_BLOB_BYTES));
        for (let f = 0; f < files; f++) {
          const size = Math.min(MAX_BLOB_BYTES, share - f * MAX_BLOB_BYTES);
          changes.push({ kind: 'blob-stream', path: `data/c${c}/f${f}.bin`, mode: '100644', size, chunks: blobChunks(next, size) });
        }
        changes.push({ kind: 'blob', path: 'README.md', mode: '100644', data: Buffer.from(`large repository, seed ${String(seed)}, commit ${c + 1} of ${commits}\n`) });
        await fi.commit({
          ref: 'refs/heads/main',
          author: SIGNATURE,
          committer: SIGNATURE,
          time: GIT_ENV_EPOCH + c * 60,
          message: `Large commit ${c + 1} of ${commits}\n`,
          changes,
        });
      }
      await fi.finish();
    } catch (e) {
      await fi.abort();
      throw e;
    }

    const revParse = ['rev-parse', '--verify', 'refs/heads/main'];
    const head = assertGitOk(await runGit(vars, revParse, { cwd: target }), revParse, target).stdout.trim();
    const packDir = join(target, 'objects', 'pack');
    let packBytes = 0;
    for (const name of await readdir(packDir)) if (name.endsWith('.pack')) packBytes += (await stat(join(packDir, name))).size;
    return { path: target, head, commits, blobBytes, packBytes };
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}
