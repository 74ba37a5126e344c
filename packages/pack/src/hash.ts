/** Object ids: SHA-1 of "<type> <size>\0" followed by the content (gitformat-pack(5), git's hash-object). */
import { createHash } from 'node:crypto';
import type { Oid } from '@pushgate/core';
import type { ObjectType } from './format';

/** The id of an object of `type` with content `data`. */
export function hashObject(type: ObjectType, data: Uint8Array): Oid {
  return createHash('sha1').update(`${type} ${data.length}\0`, 'latin1').update(data).digest('hex') as Oid;
}
