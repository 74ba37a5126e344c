/**
 * Commit objects (git-commit-tree(1); the header order git writes and fsck.c requires):
 *
 *   tree <id> LF, parent <id> LF (zero or more), author <ident> LF, committer <ident> LF,
 *   optional headers (encoding, gpgsig, gpgsig-sha256, mergetag, others), LF, message
 *
 * parseCommit reads what the strict checks (check.ts) accept and what older history holds; it
 * refuses only what cannot be used at all (no tree, unreadable ids).
 */
import type { Oid } from '@pushgate/core';
import { ObjectError } from './errors';
import { headerValue, splitHeaders } from './headers';
import { parseIdent, type Ident } from './ident';
import { decodeText } from './text';

/** A header pushgate does not interpret, kept for policy and audit. */
export interface ExtraHeader {
  readonly name: string;
  readonly value: string;
}

/** A parsed commit. */
export interface Commit {
  readonly tree: Oid;
  readonly parents: readonly Oid[];
  readonly author: Ident;
  readonly committer: Ident;
  /** The `encoding` header: the message and identities were decoded with it. */
  readonly encoding?: string;
  /** The signature over the commit's SHA-1 form (`gpgsig`), armored as stored. */
  readonly gpgsig?: string;
  /** The signature over the commit's SHA-256 form (`gpgsig-sha256`). */
  readonly gpgsigSha256?: string;
  /** Tags merged by this commit (`mergetag`), each the tag object's text. */
  readonly mergetags: readonly string[];
  /** Every other header, in order. */
  readonly extraHeaders: readonly ExtraHeader[];
  readonly message: string;
}

const HEX40 = /^[0-9a-fA-F]{40}$/;
const HEX64 = /^[0-9a-fA-F]{64}$/;

/**
 * Reads an object id written as hex in a header value; throws `code` (or OBJ_SHA256_ID for a
 * 64-digit id) when it is not 40 hex digits. git accepts either case (hex.c); ids are lowercased.
 */
export function parseHexOid(text: string, code: 'OBJ_BAD_TREE_SHA1' | 'OBJ_BAD_PARENT_SHA1' | 'OBJ_BAD_OBJECT_SHA1', field: string, oid?: Oid): Oid {
  if (HEX40.test(text)) return text.toLowerCase() as Oid;
  if (HEX64.test(text)) {
    throw new ObjectError('OBJ_SHA256_ID', `${field} names a 64-digit (SHA-256) object id; only SHA-1 repositories are supported`, {
      oid,
      field,
      expected: 'sha1',
      actual: 'sha256',
    });
  }
  throw new ObjectError(code, `${field} line does not hold a 40-digit object id: ${JSON.stringify(text.slice(0, 80))}`, {
    oid,
    field,
    actual: text.slice(0, 80),
  });
}

const NO_IDENT: Ident = { name: '', email: '', timestamp: 0, timezone: '+0000', timezoneOffset: 0 };

/** Parses commit bytes. `oid` only labels errors. */
export function parseCommit(data: Uint8Array, oid?: Oid): Commit {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const { headers, messageStart } = splitHeaders(buf);
  let encoding: string | undefined;
  for (const h of headers) {
    if (h.key === 'encoding') {
      encoding = buf.toString('latin1', h.valueStart, h.valueEnd);
      break;
    }
  }
  let tree: Oid | undefined;
  const parents: Oid[] = [];
  let author: Ident | undefined;
  let committer: Ident | undefined;
  let gpgsig: string | undefined;
  let gpgsigSha256: string | undefined;
  const mergetags: string[] = [];
  const extraHeaders: ExtraHeader[] = [];
  headers.forEach((h, i) => {
    switch (h.key) {
      case 'tree':
        if (i === 0) tree = parseHexOid(buf.toString('latin1', h.valueStart, h.valueEnd), 'OBJ_BAD_TREE_SHA1', 'tree', oid);
        else extraHeaders.push({ name: h.key, value: text(buf, h) });
        return;
      case 'parent':
        parents.push(parseHexOid(buf.toString('latin1', h.valueStart, h.valueEnd), 'OBJ_BAD_PARENT_SHA1', 'parent', oid));
        return;
      case 'author':
        if (!author) author = parseIdent(buf, h.valueStart, h.valueEnd, encoding);
        else extraHeaders.push({ name: h.key, value: text(buf, h) });
        return;
      case 'committer':
        if (!committer) committer = parseIdent(buf, h.valueStart, h.valueEnd, encoding);
        else extraHeaders.push({ name: h.key, value: text(buf, h) });
        return;
      case 'encoding':
        return;
      case 'gpgsig':
        gpgsig = text(buf, h);
        return;
      case 'gpgsig-sha256':
        gpgsigSha256 = text(buf, h);
        return;
      case 'mergetag':
        mergetags.push(text(buf, h));
        return;
      default:
        extraHeaders.push({ name: h.key, value: text(buf, h) });
    }
  });
  if (!tree) throw new ObjectError('OBJ_MISSING_TREE', 'commit has no tree line first', { oid, field: 'tree' });
  return {
    tree,
    parents,
    author: author ?? NO_IDENT,
    committer: committer ?? NO_IDENT,
    ...(encoding !== undefined ? { encoding } : {}),
    ...(gpgsig !== undefined ? { gpgsig } : {}),
    ...(gpgsigSha256 !== undefined ? { gpgsigSha256 } : {}),
    mergetags,
    extraHeaders,
    message: decodeText(buf, messageStart, buf.length, encoding),
  };
}

function text(buf: Buffer, h: Parameters<typeof headerValue>[1]): string {
  const v = headerValue(buf, h);
  return decodeText(v, 0, v.length);
}

/** True when the commit carries a signature of either hash (present, not verified). */
export function isSignedCommit(c: Commit): boolean {
  return c.gpgsig !== undefined || c.gpgsigSha256 !== undefined;
}

/**
 * The tree and parents of a commit without parsing the rest: the history walk needs only these,
 * for many commits. Same errors as parseCommit for these two fields.
 */
export function commitLinks(data: Uint8Array, oid?: Oid): { tree: Oid; parents: Oid[] } {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  // Fast path for what git writes: "tree <40>\n" then "parent <40>\n" lines.
  if (buf.length >= 46 && buf.toString('latin1', 0, 5) === 'tree ' && buf[45] === 0x0a) {
    const tree = parseHexOid(buf.toString('latin1', 5, 45), 'OBJ_BAD_TREE_SHA1', 'tree', oid);
    const parents: Oid[] = [];
    let p = 46;
    while (p + 48 <= buf.length && buf.toString('latin1', p, p + 7) === 'parent ') {
      if (buf[p + 47] !== 0x0a) break;
      parents.push(parseHexOid(buf.toString('latin1', p + 7, p + 47), 'OBJ_BAD_PARENT_SHA1', 'parent', oid));
      p += 48;
    }
    if (buf.toString('latin1', p, p + 7) !== 'parent ') return { tree, parents };
  }
  const c = parseCommit(buf, oid);
  return { tree: c.tree, parents: [...c.parents] };
}
