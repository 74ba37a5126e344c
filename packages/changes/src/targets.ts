/**
 * What a ref's value is: the object's type, the annotated tags on the way (a tag may point at a
 * tag), and the object they finally point at ("peeled", gitrevisions(7) `<rev>^{}`).
 */
import type { Oid } from '@pushgate/core';
import { parseTag, type ObjectStore } from '@pushgate/objects';
import type { ObjectType } from '@pushgate/pack';
import { ChangesError } from './errors';
import type { AnnotatedTag, RefTarget } from './types';

/** A ref value resolved: its target description, or 'missing' when the object is not available. */
export type ResolvedTarget = { readonly kind: 'found'; readonly target: RefTarget } | { readonly kind: 'missing'; readonly oid: Oid; readonly referencedBy: string };

/** Resolves `oid` through any annotated tags; a missing object is reported, not thrown. */
export function resolveTarget(store: ObjectStore, oid: Oid, ref: string): ResolvedTarget {
  const tags: AnnotatedTag[] = [];
  let current = oid;
  let referencedBy = ref;
  let declared: ObjectType | undefined;
  let firstType: ObjectType | undefined;
  const seen = new Set<Oid>();
  for (;;) {
    const header = store.header(current);
    if (!header) return { kind: 'missing', oid: current, referencedBy };
    if (declared !== undefined && header.type !== declared) {
      throw new ChangesError('CHANGES_WRONG_OBJECT_TYPE', `${current} is a ${header.type}, but ${referencedBy} says it is a ${declared}`, {
        oid: current,
        referencedBy,
        expected: declared,
        actual: header.type,
        ref,
      });
    }
    firstType ??= header.type;
    if (header.type !== 'tag') return { kind: 'found', target: { type: firstType, tags, peeled: { oid: current, type: header.type } } };
    // A tag cycle would need a SHA-1 collision; refuse rather than loop.
    if (seen.has(current)) throw new ChangesError('CHANGES_WRONG_OBJECT_TYPE', `tag ${current} points back at itself`, { oid: current, ref });
    seen.add(current);
    const obj = store.read(current);
    if (!obj) return { kind: 'missing', oid: current, referencedBy };
    const tag = parseTag(obj.data, current);
    tags.push({
      oid: current,
      name: tag.tag,
      ...(tag.tagger ? { tagger: tag.tagger } : {}),
      message: tag.message,
      target: tag.object,
      targetType: tag.type,
      signature: tag.signature ? { kind: 'signed', format: tag.signature.format } : { kind: 'unsigned' },
    });
    referencedBy = `tag ${current}`;
    declared = tag.type;
    current = tag.object;
  }
}
