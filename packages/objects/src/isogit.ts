/**
 * isomorphic-git over an ObjectStore. isomorphic-git reads objects through an `fs` client: loose
 * objects at `<gitdir>/objects/xx/<38 hex>` first, then every pack in `objects/pack`, which its
 * readObjectPacked loads whole into memory and checksums end to end on first use — unacceptable
 * for a 200 MB push or a large mirror. This adapter is a read-only `fs` whose `objects/pack` is
 * empty and whose loose-object reads are served from the store, deflated at level 0 (stored
 * blocks: a copy, no compression work), so isomorphic-git's readCommit, readTag, readTree,
 * walk/TREE, log and isDescendent run over pack ∪ mirror object by object.
 *
 * Cost (measured with objects/src/isogit.bench.ts, see README.md): isomorphic-git still inflates,
 * SHA-1-checks and parses each object it reads, tens of microseconds per object more than
 * reading the store and parsing with this package; the change set uses this package's parsers on
 * its hot paths for that reason.
 *
 * Refs, when given, are served as a `packed-refs` file so ref names resolve; HEAD is not.
 */
import { deflateSync } from 'node:zlib';
import type { Oid } from '@pushgate/core';
import type { ObjectStore } from './store';

/** The `fs` client shape isomorphic-git takes (its PromiseFsClient). */
export interface IsoGitFs {
  readonly promises: {
    readFile(path: string, options?: unknown): Promise<Buffer | string>;
    writeFile(path: string, data: unknown, options?: unknown): Promise<void>;
    unlink(path: string): Promise<void>;
    readdir(path: string): Promise<string[]>;
    mkdir(path: string, options?: unknown): Promise<void>;
    rmdir(path: string, options?: unknown): Promise<void>;
    stat(path: string): Promise<never>;
    lstat(path: string): Promise<never>;
    readlink(path: string): Promise<never>;
    symlink(target: string, path: string): Promise<void>;
    chmod(path: string, mode: number): Promise<void>;
  };
}

/** Options of isoGitOverStore. */
export interface IsoGitOptions {
  /** The virtual git directory; nothing on disk is touched. */
  readonly gitdir?: string;
  /** Ref name to id, served as `packed-refs` so isomorphic-git can resolve names. */
  readonly refs?: ReadonlyMap<string, Oid>;
}

/** What to pass to isomorphic-git: `{ fs, gitdir }` (plus `cache` if the caller wants one). */
export interface IsoGitContext {
  readonly fs: IsoGitFs;
  readonly gitdir: string;
}

function fsError(code: string, syscall: string, path: string): NodeJS.ErrnoException {
  const e: NodeJS.ErrnoException = new Error(`${code}: ${syscall} '${path}'`);
  e.code = code;
  e.syscall = syscall;
  e.path = path;
  return e;
}

const LOOSE = /^objects\/([0-9a-f]{2})\/([0-9a-f]{38})$/;

/** An isomorphic-git context whose objects come from `store`. */
export function isoGitOverStore(store: ObjectStore, options: IsoGitOptions = {}): IsoGitContext {
  const gitdir = (options.gitdir ?? '/pushgate-objects').replace(/\/+$/, '');
  const prefix = `${gitdir}/`;
  const packedRefs = options.refs
    ? `# pack-refs with: peeled\n${[...options.refs].map(([name, oid]) => `${oid} ${name}\n`).join('')}`
    : undefined;
  const rel = (path: string): string | undefined => (typeof path === 'string' && path.startsWith(prefix) ? path.slice(prefix.length) : undefined);
  const readOnly = (syscall: string) => async (path: string) => {
    throw fsError('EROFS', syscall, String(path));
  };
  const fs: IsoGitFs = {
    promises: {
      async readFile(path: string, opts?: unknown) {
        const r = rel(path);
        const encoding = typeof opts === 'string' ? opts : (opts as { encoding?: string } | undefined)?.encoding;
        if (r !== undefined) {
          const m = LOOSE.exec(r);
          if (m) {
            const obj = store.read((m[1] + m[2]) as Oid);
            if (obj) {
              const wrapped = Buffer.concat([Buffer.from(`${obj.type} ${obj.data.length}\0`, 'latin1'), obj.data]);
              return deflateSync(wrapped, { level: 0 });
            }
          } else if (r === 'packed-refs' && packedRefs !== undefined) {
            return encoding ? packedRefs : Buffer.from(packedRefs);
          }
        }
        throw fsError('ENOENT', 'open', String(path));
      },
      writeFile: readOnly('open'),
      unlink: readOnly('unlink'),
      async readdir(path: string) {
        // An empty pack directory keeps isomorphic-git from loading packs into memory.
        if (rel(path) === 'objects/pack') return [];
        throw fsError('ENOENT', 'scandir', String(path));
      },
      mkdir: readOnly('mkdir'),
      rmdir: readOnly('rmdir'),
      async stat(path: string) {
        throw fsError('ENOENT', 'stat', String(path));
      },
      async lstat(path: string) {
        throw fsError('ENOENT', 'lstat', String(path));
      },
      async readlink(path: string) {
        throw fsError('ENOENT', 'readlink', String(path));
      },
      symlink: readOnly('symlink'),
      chmod: readOnly('chmod'),
    },
  };
  return { fs, gitdir };
}
