/**
 * Strict object checks: what git's fsck finds wrong in a commit, tree or tag, applied as
 * `receive.fsckObjects` applies them (git's fsck.c, in the strict mode index-pack --strict uses,
 * where warnings are errors). Each problem has one code, `OBJ_` + git's message id (git-fsck(1),
 * "FSCK MESSAGES"), so an operator can look it up and a client sees which rule its object broke.
 *
 * Differences from git 2.39, all stricter unless configured otherwise:
 * - badFilemode and badTagName are INFO in git (reported, not refused); pushgate refuses them: a
 *   gateway deciding what a file is must not guess at a mode, and a tag name that cannot be a ref
 *   only serves to confuse reviewers. missingTaggerEntry (INFO) and extraHeaderEntry (IGNORE)
 *   are tolerated as git does, because old history has them. `ignore` overrides all of this.
 * - An entry with an empty name is emptyName here; git's tree decoder reports it as badTree.
 * - Object ids of 64 hex digits or 32 bytes (SHA-256 repositories) are OBJ_SHA256_ID.
 * - The .gitmodules blob's contents (gitmodulesUrl, gitmodulesPath, ...) are not checked.
 *
 * These run for every commit, tree and tag of every push, so they scan bytes and allocate little.
 */
import type { Oid } from '@pushgate/core';
import type { ObjectType } from '@pushgate/pack';
import { isHfsDotgit, isHfsDotgitmodules, isNtfsDotgit, isNtfsDotgitmodules } from './dotgit';
import { ObjectError, type ObjectErrorCode, type ObjectErrorData } from './errors';
import { decodeName, displayName } from './names';
import { RawTree, S_IFDIR, S_IFGITLINK, S_IFLNK, S_IFMT } from './tree';

/** Options of checkObject. */
export interface CheckOptions {
  /** The object's id, for error messages and data. */
  readonly oid?: Oid;
  /** Codes not to refuse (default: DEFAULT_IGNORED_CHECKS). */
  readonly ignore?: ReadonlySet<ObjectErrorCode>;
}

/** What git itself tolerates in strict mode and pushgate tolerates too (see module comment). */
export const DEFAULT_IGNORED_CHECKS: ReadonlySet<ObjectErrorCode> = new Set<ObjectErrorCode>([
  'OBJ_MISSING_TAGGER_ENTRY',
  'OBJ_EXTRA_HEADER_ENTRY',
]);

/** Codes that describe an object's structure; they cannot be ignored (nothing after them can be read). */
const FATAL: ReadonlySet<ObjectErrorCode> = new Set<ObjectErrorCode>([
  'OBJ_NUL_IN_HEADER',
  'OBJ_UNTERMINATED_HEADER',
  'OBJ_BAD_TREE',
  'OBJ_EMPTY_NAME',
  'OBJ_SHA256_ID',
  'OBJ_UNKNOWN_TYPE',
]);

class Reporter {
  constructor(
    readonly oid: Oid | undefined,
    private readonly ignore: ReadonlySet<ObjectErrorCode>,
  ) {}

  /** Throws for `code` unless it is ignored; returns normally when it is. */
  report(code: ObjectErrorCode, message: string, data: ObjectErrorData = {}): void {
    if (this.ignore.has(code) && !FATAL.has(code)) return;
    const where = this.oid ? ` (object ${this.oid})` : '';
    throw new ObjectError(code, `${message}${where}`, { ...(this.oid ? { oid: this.oid } : {}), ...data });
  }
}

/**
 * Checks an object's content as git's strict fsck does; throws ObjectError with the first
 * problem found. Blobs have no structure to check.
 */
export function checkObject(type: ObjectType, data: Uint8Array, options: CheckOptions = {}): void {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const r = new Reporter(options.oid, options.ignore ?? DEFAULT_IGNORED_CHECKS);
  switch (type) {
    case 'commit':
      return checkCommit(buf, r);
    case 'tree':
      return checkTree(buf, r);
    case 'tag':
      return checkTag(buf, r);
    case 'blob':
      return;
    default:
      r.report('OBJ_UNKNOWN_TYPE', `unknown object type ${JSON.stringify(String(type))}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Commits and tags

const LF = 0x0a;
const SP = 0x20;

function at(buf: Buffer, i: number): number {
  return i < buf.length ? buf[i] : 0;
}

function startsWith(buf: Buffer, p: number, prefix: string): boolean {
  if (p + prefix.length > buf.length) return false;
  for (let k = 0; k < prefix.length; k++) if (buf[p + k] !== prefix.charCodeAt(k)) return false;
  return true;
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** Number of hex digits at `p`. */
function hexRun(buf: Buffer, p: number): number {
  let k = 0;
  while (p + k < buf.length && isHex(buf[p + k])) k++;
  return k;
}

/** fsck.c verify_headers: no NUL before the blank line, and the last header line is terminated. */
function verifyHeaders(buf: Buffer, r: Reporter, what: string): void {
  const n = buf.length;
  for (let i = 0; i < n; i++) {
    const c = buf[i];
    if (c === 0) {
      r.report('OBJ_NUL_IN_HEADER', `${what} header has a NUL byte at offset ${i}`, { offset: i });
      return;
    }
    if (c === LF && i + 1 < n && buf[i + 1] === LF) return;
  }
  if (n > 0 && buf[n - 1] === LF) return;
  r.report('OBJ_UNTERMINATED_HEADER', `${what} header does not end with a newline`, { offset: n });
}

/**
 * Checks the id at `p` (40 hex digits then LF). Returns the offset after the LF, or -1 after
 * reporting (when the report is ignored the caller skips to the next line).
 */
function checkOidLine(buf: Buffer, p: number, r: Reporter, code: 'OBJ_BAD_TREE_SHA1' | 'OBJ_BAD_PARENT_SHA1' | 'OBJ_BAD_OBJECT_SHA1', field: string): number {
  const run = hexRun(buf, p);
  if (run === 40 && at(buf, p + 40) === LF) return p + 41;
  if (run === 64 && at(buf, p + 64) === LF) {
    r.report('OBJ_SHA256_ID', `${field} names a 64-digit (SHA-256) object id; only SHA-1 repositories are supported`, {
      field,
      expected: 'sha1',
      actual: 'sha256',
    });
  }
  const eol = buf.indexOf(LF, p);
  r.report(code, `invalid '${field}' line format - bad sha1: ${JSON.stringify(buf.toString('latin1', p, eol < 0 ? buf.length : eol).slice(0, 80))}`, {
    field,
    offset: p,
  });
  return -1;
}

function nextLine(buf: Buffer, p: number): number {
  const eol = buf.indexOf(LF, p);
  return eol < 0 ? buf.length : eol + 1;
}

/** Bytes at `p` up to the first of `<`, `>`, LF or the end (C strcspn on a NUL-terminated buffer). */
function skipToAngleOrLf(buf: Buffer, p: number): number {
  const n = buf.length;
  while (p < n) {
    const c = buf[p];
    if (c === 0x3c || c === 0x3e || c === LF || c === 0) return p;
    p++;
  }
  return p;
}

const TIMESTAMP_LIMIT = 2n ** 64n - 1n;

/** fsck.c fsck_ident: checks the identity starting at `start`; returns the offset of the next line. */
function checkIdent(buf: Buffer, start: number, r: Reporter, field: string): number {
  const next = nextLine(buf, start);
  const fail = (code: ObjectErrorCode, what: string, offset: number): number => {
    r.report(code, `invalid ${field} line - ${what}`, { field, offset });
    return next;
  };
  let p = start;
  if (at(buf, p) === 0x3c) return fail('OBJ_MISSING_NAME_BEFORE_EMAIL', 'missing name before email', p);
  p = skipToAngleOrLf(buf, p);
  if (at(buf, p) === 0x3e) return fail('OBJ_BAD_NAME', 'bad name', p);
  if (at(buf, p) !== 0x3c) return fail('OBJ_MISSING_EMAIL', 'missing email', p);
  if (at(buf, p - 1) !== SP) return fail('OBJ_MISSING_SPACE_BEFORE_EMAIL', 'missing space before email', p);
  p = skipToAngleOrLf(buf, p + 1);
  if (at(buf, p) !== 0x3e) return fail('OBJ_BAD_EMAIL', 'bad email', p);
  p++;
  if (at(buf, p) !== SP) return fail('OBJ_MISSING_SPACE_BEFORE_DATE', 'missing space before date', p);
  p++;
  if (at(buf, p) === 0x30 && at(buf, p + 1) !== SP) return fail('OBJ_ZERO_PADDED_DATE', 'zero-padded date', p);
  let q = p;
  while (isDigit(at(buf, q))) q++;
  if (q > p && BigInt(buf.toString('latin1', p, q)) >= TIMESTAMP_LIMIT) {
    return fail('OBJ_BAD_DATE_OVERFLOW', 'date causes integer overflow', p);
  }
  if (q === p || at(buf, q) !== SP) return fail('OBJ_BAD_DATE', 'bad date', p);
  p = q + 1;
  const sign = at(buf, p);
  if ((sign !== 0x2b && sign !== 0x2d) || !isDigit(at(buf, p + 1)) || !isDigit(at(buf, p + 2)) || !isDigit(at(buf, p + 3)) || !isDigit(at(buf, p + 4)) || at(buf, p + 5) !== LF) {
    return fail('OBJ_BAD_TIMEZONE', 'bad time zone', p);
  }
  return next;
}

/** fsck.c fsck_commit. */
function checkCommit(buf: Buffer, r: Reporter): void {
  verifyHeaders(buf, r, 'commit');
  let p = 0;
  if (!startsWith(buf, p, 'tree ')) {
    r.report('OBJ_MISSING_TREE', "invalid format - expected 'tree' line", { field: 'tree', offset: 0 });
    return;
  }
  let after = checkOidLine(buf, p + 5, r, 'OBJ_BAD_TREE_SHA1', 'tree');
  p = after < 0 ? nextLine(buf, p) : after;
  while (startsWith(buf, p, 'parent ')) {
    after = checkOidLine(buf, p + 7, r, 'OBJ_BAD_PARENT_SHA1', 'parent');
    p = after < 0 ? nextLine(buf, p) : after;
  }
  let authors = 0;
  while (startsWith(buf, p, 'author ')) {
    authors++;
    p = checkIdent(buf, p + 7, r, 'author');
  }
  if (authors < 1) r.report('OBJ_MISSING_AUTHOR', "invalid format - expected 'author' line", { field: 'author', offset: p });
  else if (authors > 1) r.report('OBJ_MULTIPLE_AUTHORS', "invalid format - multiple 'author' lines", { field: 'author', offset: p });
  if (!startsWith(buf, p, 'committer ')) {
    r.report('OBJ_MISSING_COMMITTER', "invalid format - expected 'committer' line", { field: 'committer', offset: p });
    return;
  }
  checkIdent(buf, p + 10, r, 'committer');
  const nul = buf.indexOf(0);
  if (nul >= 0) r.report('OBJ_NUL_IN_COMMIT', `NUL byte in the commit object body at offset ${nul}`, { offset: nul });
}

/** refs.c check_refname_format for `refs/tags/<name>` (no flags). */
export function isValidTagName(name: Uint8Array): boolean {
  const full = Buffer.concat([Buffer.from('refs/tags/'), name]);
  if (full.length === 1 && full[0] === 0x40) return false;
  let start = 0;
  const n = full.length;
  for (;;) {
    // One component: up to '/' or the end.
    let last = 0;
    let i = start;
    for (; i < n; i++) {
      const c = full[i];
      if (c === 0x2f) break;
      if (c === 0) return false;
      if (c === 0x2e && last === 0x2e) return false; // ".."
      if (c === 0x7b && last === 0x40) return false; // "@{"
      if (c < 0x20 || c === 0x7f || c === SP || c === 0x3a || c === 0x3f || c === 0x5b || c === 0x5c || c === 0x5e || c === 0x7e || c === 0x2a) {
        return false;
      }
      last = c;
    }
    const len = i - start;
    if (len === 0) return false;
    if (full[start] === 0x2e) return false;
    if (len >= 5 && full.toString('latin1', i - 5, i) === '.lock') return false;
    if (i >= n) {
      return full[n - 1] !== 0x2e;
    }
    start = i + 1;
  }
}

/** fsck.c fsck_tag_standalone. */
function checkTag(buf: Buffer, r: Reporter): void {
  verifyHeaders(buf, r, 'tag');
  let p = 0;
  if (!startsWith(buf, p, 'object ')) {
    r.report('OBJ_MISSING_OBJECT', "invalid format - expected 'object' line", { field: 'object', offset: 0 });
    return;
  }
  const after = checkOidLine(buf, p + 7, r, 'OBJ_BAD_OBJECT_SHA1', 'object');
  p = after < 0 ? nextLine(buf, p) : after;
  if (!startsWith(buf, p, 'type ')) {
    r.report('OBJ_MISSING_TYPE_ENTRY', "invalid format - expected 'type' line", { field: 'type', offset: p });
    return;
  }
  p += 5;
  let eol = buf.indexOf(LF, p);
  if (eol < 0) {
    r.report('OBJ_MISSING_TYPE', "invalid format - unexpected end after 'type' line", { field: 'type', offset: p });
    return;
  }
  const type = buf.toString('latin1', p, eol);
  if (type !== 'commit' && type !== 'tree' && type !== 'blob' && type !== 'tag') {
    r.report('OBJ_BAD_TYPE', `invalid 'type' value ${JSON.stringify(type.slice(0, 40))}`, { field: 'type', offset: p, actual: type.slice(0, 40) });
  }
  p = eol + 1;
  if (!startsWith(buf, p, 'tag ')) {
    r.report('OBJ_MISSING_TAG_ENTRY', "invalid format - expected 'tag' line", { field: 'tag', offset: p });
    return;
  }
  p += 4;
  eol = buf.indexOf(LF, p);
  if (eol < 0) {
    r.report('OBJ_MISSING_TAG', "invalid format - unexpected end after 'type' line", { field: 'tag', offset: p });
    return;
  }
  if (!isValidTagName(buf.subarray(p, eol))) {
    const name = displayName(decodeName(buf, p, eol));
    r.report('OBJ_BAD_TAG_NAME', `invalid 'tag' name: ${JSON.stringify(name.slice(0, 100))}`, { field: 'tag', offset: p, actual: name.slice(0, 100) });
  }
  p = eol + 1;
  if (!startsWith(buf, p, 'tagger ')) {
    r.report('OBJ_MISSING_TAGGER_ENTRY', "invalid format - expected 'tagger' line", { field: 'tagger', offset: p });
  } else {
    p = checkIdent(buf, p + 7, r, 'tagger');
  }
  if (p >= buf.length) return;
  if (buf[p] !== LF) {
    r.report('OBJ_EXTRA_HEADER_ENTRY', "invalid format - extra header(s) after 'tagger'", { offset: p });
  }
}

// ---------------------------------------------------------------------------------------------
// Trees

const TREE_UNORDERED = -1;
const TREE_HAS_DUPS = -2;

function isLessThanSlash(c: number): boolean {
  return c > 0 && c < 0x2f;
}

function isDirMode(mode: number): boolean {
  return (mode & S_IFMT) === S_IFDIR;
}

/** fsck.c verify_ordered, with the stack of file names a later directory could duplicate. */
function verifyOrdered(m1: number, n1: Buffer, m2: number, n2: Buffer, candidates: Buffer[]): number {
  const len = n1.length < n2.length ? n1.length : n2.length;
  const cmp = n1.compare(n2, 0, len, 0, len);
  if (cmp < 0) return 0;
  if (cmp > 0) return TREE_UNORDERED;
  let c1 = len < n1.length ? n1[len] : 0;
  let c2 = len < n2.length ? n2[len] : 0;
  if (!c1 && !c2) return TREE_HAS_DUPS;
  if (!c1 && isDirMode(m1)) c1 = 0x2f;
  if (!c2 && isDirMode(m2)) c2 = 0x2f;
  // Non-consecutive duplicates: "foo", "foo.bar", "foo/" (a file and a directory of one name).
  if (!c1 && isLessThanSlash(c2)) {
    candidates.push(n1);
  } else if (c2 === 0x2f && isLessThanSlash(c1)) {
    for (;;) {
      const f = candidates.pop();
      if (!f) break;
      if (f.length > n2.length || f.compare(n2, 0, f.length) !== 0) continue;
      const rest = f.length < n2.length ? n2[f.length] : 0;
      if (!rest) return TREE_HAS_DUPS;
      if (isLessThanSlash(rest)) {
        candidates.push(f);
        break;
      }
    }
  }
  return c1 < c2 ? 0 : TREE_UNORDERED;
}

const STANDARD_MODES: ReadonlySet<number> = new Set([0o100755, 0o100644, S_IFLNK, S_IFDIR, S_IFGITLINK]);

/** Per-problem first offender, reported in git's order after the scan. */
type TreeFlag =
  | 'OBJ_NULL_SHA1'
  | 'OBJ_FULL_PATHNAME'
  | 'OBJ_HAS_DOT'
  | 'OBJ_HAS_DOTDOT'
  | 'OBJ_HAS_DOTGIT'
  | 'OBJ_ZERO_PADDED_FILEMODE'
  | 'OBJ_BAD_FILEMODE'
  | 'OBJ_DUPLICATE_ENTRIES'
  | 'OBJ_TREE_NOT_SORTED';

const TREE_FLAG_ORDER: readonly [TreeFlag, string][] = [
  ['OBJ_NULL_SHA1', 'contains entries pointing to null sha1'],
  ['OBJ_FULL_PATHNAME', 'contains full pathnames'],
  ['OBJ_HAS_DOT', "contains '.'"],
  ['OBJ_HAS_DOTDOT', "contains '..'"],
  ['OBJ_HAS_DOTGIT', "contains '.git'"],
  ['OBJ_ZERO_PADDED_FILEMODE', 'contains zero-padded file modes'],
  ['OBJ_BAD_FILEMODE', 'contains bad file modes'],
  ['OBJ_DUPLICATE_ENTRIES', 'contains duplicate file entries'],
  ['OBJ_TREE_NOT_SORTED', 'not properly sorted'],
];

function isNullOid(buf: Buffer, at: number): boolean {
  for (let k = 0; k < 20; k++) if (buf[at + k] !== 0) return false;
  return true;
}

/** Whether a name could be a `.git` or `.gitmodules` variant at all (cheap filter for the hot path). */
function mayBeSpecial(c: number): boolean {
  // '.', 'g'/'G' (NTFS short names), and lead bytes of the HFS+-ignored code points (E2, EF).
  return c === 0x2e || c === 0x67 || c === 0x47 || c === 0xe2 || c === 0xef;
}

/** fsck.c fsck_tree. */
function checkTree(buf: Buffer, r: Reporter): void {
  const tree = RawTree.parse(buf, r.oid);
  const first = new Map<TreeFlag, string>();
  const flag = (f: TreeFlag, i: number) => {
    if (!first.has(f)) first.set(f, displayName(tree.name(i)));
  };
  const candidates: Buffer[] = [];
  let prevMode = 0;
  let prevName: Buffer | undefined;
  let entryStart = 0;
  for (let i = 0; i < tree.count; i++) {
    const mode = tree.mode(i);
    const ns = tree.nameOffset(i);
    const ne = ns + tree.nameLength(i);
    const name = buf.subarray(ns, ne);
    if (isNullOid(buf, tree.oidOffset(i))) flag('OBJ_NULL_SHA1', i);
    if (name.indexOf(0x2f) >= 0) flag('OBJ_FULL_PATHNAME', i);
    if (name.length === 1 && name[0] === 0x2e) flag('OBJ_HAS_DOT', i);
    if (name.length === 2 && name[0] === 0x2e && name[1] === 0x2e) flag('OBJ_HAS_DOTDOT', i);
    if (mayBeSpecial(buf[ns])) {
      if (isHfsDotgit(buf, ns, ne) || isNtfsDotgit(buf, ns, ne)) flag('OBJ_HAS_DOTGIT', i);
      if ((isHfsDotgitmodules(buf, ns, ne) || isNtfsDotgitmodules(buf, ns, ne)) && (mode & S_IFMT) === S_IFLNK) {
        r.report('OBJ_GITMODULES_SYMLINK', `.gitmodules is a symbolic link`, { path: displayName(tree.name(i)) });
      }
    }
    // NTFS takes a backslash as a directory separator: `a\.git` reaches `.git` there.
    let bs = name.indexOf(0x5c);
    while (bs >= 0) {
      const seg = ns + bs + 1;
      if (isNtfsDotgit(buf, seg, ne)) flag('OBJ_HAS_DOTGIT', i);
      if (isNtfsDotgitmodules(buf, seg, ne) && (mode & S_IFMT) === S_IFLNK) {
        r.report('OBJ_GITMODULES_SYMLINK', `.gitmodules is a symbolic link`, { path: displayName(tree.name(i)) });
      }
      bs = name.indexOf(0x5c, bs + 1);
    }
    if (buf[entryStart] === 0x30) flag('OBJ_ZERO_PADDED_FILEMODE', i);
    if (!STANDARD_MODES.has(mode)) flag('OBJ_BAD_FILEMODE', i);
    if (prevName) {
      const o = verifyOrdered(prevMode, prevName, mode, name, candidates);
      if (o === TREE_UNORDERED) flag('OBJ_TREE_NOT_SORTED', i);
      else if (o === TREE_HAS_DUPS) flag('OBJ_DUPLICATE_ENTRIES', i);
    }
    prevMode = mode;
    prevName = name;
    entryStart = tree.oidOffset(i) + 20;
  }
  for (const [f, what] of TREE_FLAG_ORDER) {
    const path = first.get(f);
    if (path !== undefined) r.report(f, `tree ${what}: ${JSON.stringify(path)}`, { path });
  }
}
