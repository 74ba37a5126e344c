/**
 * Writing commits straight into a repository with `git fast-import` (git-fast-import(1)): one
 * process for a whole history instead of one per object, exact modes (100644, 100755, 120000
 * symlink, 160000 gitlink), fixed dates so object ids are stable, and a byte stream written with
 * back-pressure so a repository of hundreds of MB never sits in memory.
 *
 * Stream grammar used here (git-fast-import(1), "Commands"):
 *   feature done
 *   commit <ref> LF author <name> <<email>> <time> <tz> LF committer ... LF data <n> LF <msg> LF
 *     [from <commit-ish> LF] [merge <commit-ish> LF]*
 *     ( M <mode> inline <path> LF data <n> LF <bytes> LF | M 160000 <oid> <path> LF | D <path> LF )*
 *   done
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import type { Writable } from 'node:stream';
import { killGitGroup, spawnGit } from '@pushgate/core';
import { GitServerError } from './errors';

/** A name and email as they appear in a commit's author or committer line. */
export interface Signature {
  readonly name: string;
  readonly email: string;
}

/** Mode of a file written by fast-import. */
export type BlobMode = '100644' | '100755' | '120000';

/** One change a fast-import commit makes to its parent's tree. */
export type FastImportChange =
  | { readonly kind: 'blob'; readonly path: string; readonly mode: BlobMode; readonly data: Uint8Array }
  /** A blob too large to hold: `size` bytes produced by `chunks` (checked to add up). */
  | { readonly kind: 'blob-stream'; readonly path: string; readonly mode: BlobMode; readonly size: number; readonly chunks: AsyncIterable<Uint8Array> }
  | { readonly kind: 'gitlink'; readonly path: string; readonly oid: string }
  | { readonly kind: 'delete'; readonly path: string };

/** One commit for fast-import. */
export interface FastImportCommit {
  /** The ref the commit is written to (and advanced), e.g. `refs/heads/main`. */
  readonly ref: string;
  readonly author: Signature;
  readonly committer: Signature;
  /** Seconds since the epoch, UTC; used for both author and committer. */
  readonly time: number;
  readonly message: string;
  /** Parent commit-ish; omitted for a root commit (or to continue `ref` where the stream left it). */
  readonly from?: string;
  readonly changes: readonly FastImportChange[];
}

/** Validates one side of a signature: fast-import takes everything up to `<` as the name. */
function signatureLine(kind: 'author' | 'committer', s: Signature, time: number): string {
  if (/[<>\n]/.test(s.name) || /[<>\n]/.test(s.email)) {
    throw new GitServerError('GIT_SERVER_BAD_COMMIT', `${kind} ${JSON.stringify(s)} contains '<', '>' or a newline`, { [kind]: s });
  }
  return `${kind} ${s.name} <${s.email}> ${Math.floor(time)} +0000\n`;
}

/** A path as fast-import reads it: C-quoted when it starts with `"` or contains a newline. */
function fastImportPath(path: string): string {
  if (path === '' || path.startsWith('/') || path.includes('\0')) {
    throw new GitServerError('GIT_SERVER_BAD_REPO_PATH', `path ${JSON.stringify(path)} is not a relative path in a tree`, { path });
  }
  if (!path.startsWith('"') && !path.includes('\n')) return path;
  return `"${path.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

/** A running `git fast-import` writing into one repository. */
export class FastImport {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private stderr = '';
  private broken: Error | undefined;

  private constructor(gitDir: string, vars: Readonly<Record<string, string>>, config: Readonly<Record<string, string>>) {
    this.child = spawnGit({ gitDir, args: ['fast-import', '--quiet', '--date-format=raw'], home: vars.HOME, env: vars, config });
    this.child.stdout.resume();
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (c: string) => {
      if (this.stderr.length < 64 * 1024) this.stderr += c;
    });
    this.child.stdin.on('error', (e) => {
      this.broken = e;
    });
    this.exited = new Promise((resolve) => {
      this.child.on('error', (e) => {
        this.broken = e;
        resolve({ code: -1, signal: null });
      });
      this.child.on('close', (code, signal) => resolve({ code, signal }));
    });
  }

  /** Starts fast-import on `gitDir` (an existing repository) with the given environment and `-c` settings. */
  static async start(gitDir: string, vars: Readonly<Record<string, string>>, config: Readonly<Record<string, string>> = {}): Promise<FastImport> {
    const fi = new FastImport(gitDir, vars, config);
    // `done` at the end then proves the stream was not cut short (git-fast-import(1), "feature").
    await fi.write('feature done\n');
    return fi;
  }

  /** Writes one commit and its changes. */
  async commit(c: FastImportCommit): Promise<void> {
    const message = Buffer.from(c.message, 'utf8');
    let head = `commit ${c.ref}\n${signatureLine('author', c.author, c.time)}${signatureLine('committer', c.committer, c.time)}`;
    head += `data ${message.length}\n`;
    await this.write(head);
    await this.write(message);
    await this.write(`\n${c.from === undefined ? '' : `from ${c.from}\n`}`);
    for (const change of c.changes) await this.change(change);
    await this.write('\n');
  }

  private async change(ch: FastImportChange): Promise<void> {
    const path = fastImportPath(ch.path);
    switch (ch.kind) {
      case 'delete':
        return this.write(`D ${path}\n`);
      case 'gitlink':
        return this.write(`M 160000 ${ch.oid} ${path}\n`);
      case 'blob':
        await this.write(`M ${ch.mode} inline ${path}\ndata ${ch.data.length}\n`);
        await this.write(ch.data);
        return this.write('\n');
      case 'blob-stream': {
        await this.write(`M ${ch.mode} inline ${path}\ndata ${ch.size}\n`);
        let written = 0;
        for await (const chunk of ch.chunks) {
          written += chunk.length;
          if (written > ch.size) break;
          await this.write(chunk);
        }
        if (written !== ch.size) {
          throw new GitServerError('GIT_SERVER_BAD_COMMIT', `blob ${ch.path}: stream produced ${written} bytes, declared ${ch.size}`, {
            path: ch.path,
            expected: ch.size,
            actual: written,
          });
        }
        return this.write('\n');
      }
    }
  }

  /** Ends the stream and waits for fast-import; throws with its stderr when it did not succeed. */
  async finish(): Promise<void> {
    if (this.broken === undefined) {
      await this.write('done\n');
      this.child.stdin.end();
    }
    const { code, signal } = await this.exited;
    if (code !== 0 || this.broken !== undefined) {
      throw new GitServerError('GIT_SERVER_GIT_FAILED', `git fast-import failed (${signal ?? `exit ${code}`}): ${this.stderr.trim() || this.broken?.message}`, {
        args: ['fast-import'],
        code,
        signal,
        stderr: this.stderr,
      });
    }
  }

  /** Kills fast-import (after an error in the producer) and waits for it to exit. */
  async abort(): Promise<void> {
    killGitGroup(this.child);
    await this.exited;
  }

  private async write(data: string | Uint8Array): Promise<void> {
    if (this.broken !== undefined) {
      throw new GitServerError('GIT_SERVER_GIT_FAILED', `git fast-import stopped reading: ${this.stderr.trim() || this.broken.message}`, {
        args: ['fast-import'],
        stderr: this.stderr,
      });
    }
    if (!this.child.stdin.write(data)) await drained(this.child.stdin);
  }
}

/** Resolves when `w` can take more data, or has failed or closed (the next write reports which). */
export function drained(w: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      w.off('drain', done);
      w.off('error', done);
      w.off('close', done);
      resolve();
    };
    w.on('drain', done);
    w.on('error', done);
    w.on('close', done);
  });
}
