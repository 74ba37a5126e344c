/**
 * Annotated tag objects (git-mktag(1)):
 *
 *   object <id> LF, type <commit|tree|blob|tag> LF, tag <name> LF, tagger <ident> LF (optional in
 *   very old tags), LF, message [signature]
 *
 * A tag's signature is appended to its message; git finds it as the last line starting with one
 * of the armor headers below (gpg-interface.c parse_signed_buffer).
 */
import type { Oid } from '@pushgate/core';
import type { ObjectType } from '@pushgate/pack';
import { parseHexOid, type ExtraHeader } from './commit';
import { ObjectError } from './errors';
import { headerValue, splitHeaders } from './headers';
import { parseIdent, type Ident } from './ident';
import { decodeText } from './text';

/** The signature formats git recognises by their armor line. */
export type SignatureFormat = 'openpgp' | 'x509' | 'ssh';

/** A signature found in a tag (present, not verified). */
export interface TagSignature {
  readonly format: SignatureFormat;
  /** The armored signature as stored. */
  readonly text: string;
}

/** A parsed annotated tag. */
export interface Tag {
  readonly object: Oid;
  readonly type: ObjectType;
  /** The tag's own name (not necessarily the ref it is pushed to). */
  readonly tag: string;
  readonly tagger?: Ident;
  /** The message without the signature. */
  readonly message: string;
  readonly signature?: TagSignature;
  readonly extraHeaders: readonly ExtraHeader[];
}

const ARMOR: readonly [string, SignatureFormat][] = [
  ['-----BEGIN PGP SIGNATURE-----', 'openpgp'],
  ['-----BEGIN PGP MESSAGE-----', 'openpgp'],
  ['-----BEGIN SIGNED MESSAGE-----', 'x509'],
  ['-----BEGIN SSH SIGNATURE-----', 'ssh'],
];

const TYPES: ReadonlySet<string> = new Set(['commit', 'tree', 'blob', 'tag']);

/** Parses tag bytes. `oid` only labels errors. */
export function parseTag(data: Uint8Array, oid?: Oid): Tag {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const { headers, messageStart } = splitHeaders(buf);
  let object: Oid | undefined;
  let type: ObjectType | undefined;
  let tag: string | undefined;
  let tagger: Ident | undefined;
  const extraHeaders: ExtraHeader[] = [];
  for (const h of headers) {
    const value = buf.toString('latin1', h.valueStart, h.valueEnd);
    if (h.key === 'object' && object === undefined) {
      object = parseHexOid(value, 'OBJ_BAD_OBJECT_SHA1', 'object', oid);
    } else if (h.key === 'type' && type === undefined) {
      if (!TYPES.has(value)) throw new ObjectError('OBJ_BAD_TYPE', `tag type ${JSON.stringify(value.slice(0, 40))} is not an object type`, { oid, field: 'type', actual: value.slice(0, 40) });
      type = value as ObjectType;
    } else if (h.key === 'tag' && tag === undefined) {
      tag = decodeText(buf, h.valueStart, h.valueEnd);
    } else if (h.key === 'tagger' && tagger === undefined) {
      tagger = parseIdent(buf, h.valueStart, h.valueEnd);
    } else {
      const v = headerValue(buf, h);
      extraHeaders.push({ name: h.key, value: decodeText(v, 0, v.length) });
    }
  }
  if (object === undefined) throw new ObjectError('OBJ_MISSING_OBJECT', 'tag has no object line', { oid, field: 'object' });
  if (type === undefined) throw new ObjectError('OBJ_MISSING_TYPE_ENTRY', 'tag has no type line', { oid, field: 'type' });
  if (tag === undefined) throw new ObjectError('OBJ_MISSING_TAG_ENTRY', 'tag has no tag line', { oid, field: 'tag' });
  const split = signatureStart(buf, messageStart);
  const message = decodeText(buf, messageStart, split ? split.at : buf.length);
  return {
    object,
    type,
    tag,
    ...(tagger ? { tagger } : {}),
    message,
    ...(split ? { signature: { format: split.format, text: decodeText(buf, split.at, buf.length) } } : {}),
    extraHeaders,
  };
}

/** Where the last armored signature line starts in the message, if any. */
function signatureStart(buf: Buffer, from: number): { at: number; format: SignatureFormat } | undefined {
  let found: { at: number; format: SignatureFormat } | undefined;
  let p = from;
  while (p < buf.length) {
    if (buf[p] === 0x2d) {
      for (const [armor, format] of ARMOR) {
        if (buf.toString('latin1', p, p + armor.length) === armor) found = { at: p, format };
      }
    }
    const eol = buf.indexOf(0x0a, p);
    if (eol < 0) break;
    p = eol + 1;
  }
  return found;
}
