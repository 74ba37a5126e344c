/**
 * Readable builders of raw git object contents (gitformat-loose(5) and git's object formats as
 * `git cat-file -p` shows them, byte for byte): trees from entry lists, commits and tags from
 * their headers. They validate nothing and keep entries in the order given, so a test can write
 * the objects `git mktree` and `git commit-tree` refuse to make (`.git` entries, unsorted trees,
 * commits without a tree) as easily as well-formed ones.
 *
 *   const tree = treeObject([{ mode: '100644', name: 'README.md', oid: blobId }]);
 *   const commit = commitObject({ tree: gitObjectId('tree', tree), parents: [], message: 'init\n' });
 */
import { createHash } from 'node:crypto';

/** The four object types. */
export type GitObjectType = 'commit' | 'tree' | 'blob' | 'tag';

/** The id git gives `data` as an object of `type` (SHA-1 of `<type> <size>\0<data>`). */
export function gitObjectId(type: GitObjectType, data: Uint8Array | string): string {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  return createHash('sha1').update(`${type} ${bytes.length}\0`, 'latin1').update(bytes).digest('hex');
}

/** One tree entry as written: the mode's text exactly (`100644`, `40000`, or a broken one), the name's bytes, and the id. */
export interface RawTreeEntry {
  readonly mode: string;
  /** A string is written as UTF-8; bytes as given (names that are not UTF-8, or contain NUL or `/`). */
  readonly name: string | Uint8Array;
  /** 40 hex digits (written as 20 bytes). */
  readonly oid: string;
}

/** A tree's contents with `entries` in the order given: `<mode> SP <name> NUL <20-byte id>` each. */
export function treeObject(entries: readonly RawTreeEntry[]): Buffer {
  return Buffer.concat(
    entries.map((e) => Buffer.concat([Buffer.from(`${e.mode} `, 'latin1'), typeof e.name === 'string' ? Buffer.from(e.name, 'utf8') : Buffer.from(e.name), Buffer.from([0]), Buffer.from(e.oid, 'hex')])),
  );
}

/** The mode of a directory entry as git writes it (no leading zero). */
export const TREE_MODE = '40000';

/**
 * `entries` sorted the way git sorts a tree (by name bytes, a directory compared as if its name
 * ended with `/`), for building well-formed trees from unordered lists.
 */
export function sortTreeEntries(entries: readonly RawTreeEntry[]): RawTreeEntry[] {
  const key = (e: RawTreeEntry) => {
    const name = typeof e.name === 'string' ? Buffer.from(e.name, 'utf8') : Buffer.from(e.name);
    return e.mode === TREE_MODE ? Buffer.concat([name, Buffer.from('/')]) : name;
  };
  return [...entries].sort((a, b) => Buffer.compare(key(a), key(b)));
}

/** An identity line's value: `Name <email> <seconds> <±hhmm>`. */
export interface GitIdent {
  readonly name: string;
  readonly email: string;
  /** Seconds since the epoch. */
  readonly time: number;
  /** `+0000` when omitted. */
  readonly tz?: string;
}

/** The identity the builders use when none is given (a fixed date, so ids are reproducible). */
export const BUILDER_IDENT: GitIdent = Object.freeze({ name: 'Hostile Tester', email: 'hostile@pushgate.invalid', time: 1_700_000_000, tz: '+0000' });

/** `Name <email> 1700000000 +0000`. */
export function identLine(ident: GitIdent): string {
  return `${ident.name} <${ident.email}> ${ident.time} ${ident.tz ?? '+0000'}`;
}

/** The parts of a commit. */
export interface CommitSpec {
  readonly tree: string;
  readonly parents?: readonly string[];
  readonly author?: GitIdent;
  readonly committer?: GitIdent;
  /** The message, written after the blank line as given (git's end with LF). */
  readonly message: string;
}

/** A well-formed commit's contents. */
export function commitObject(spec: CommitSpec): Buffer {
  const lines = [`tree ${spec.tree}`, ...(spec.parents ?? []).map((p) => `parent ${p}`)];
  lines.push(`author ${identLine(spec.author ?? BUILDER_IDENT)}`, `committer ${identLine(spec.committer ?? BUILDER_IDENT)}`);
  return Buffer.from(`${lines.join('\n')}\n\n${spec.message}`, 'utf8');
}

/** The parts of an annotated tag. */
export interface TagSpec {
  readonly object: string;
  readonly type: GitObjectType;
  readonly tag: string;
  readonly tagger?: GitIdent;
  readonly message: string;
}

/** A well-formed annotated tag's contents. */
export function tagObject(spec: TagSpec): Buffer {
  return Buffer.from(`object ${spec.object}\ntype ${spec.type}\ntag ${spec.tag}\ntagger ${identLine(spec.tagger ?? BUILDER_IDENT)}\n\n${spec.message}`, 'utf8');
}

/** An object whose header lines are written exactly as given (one per line), then a blank line and the message. */
export function rawHeaderObject(headers: readonly (string | Uint8Array)[], message: string): Buffer {
  const parts: Buffer[] = [];
  for (const h of headers) parts.push(typeof h === 'string' ? Buffer.from(h, 'utf8') : Buffer.from(h), Buffer.from('\n'));
  parts.push(Buffer.from(`\n${message}`, 'utf8'));
  return Buffer.concat(parts);
}
