/** The push digest: stable, and different for any difference in what an approval binds to. */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { Oid } from '@pushgate/core';
import { holdDigest } from './digest';

const A = 'a'.repeat(40) as Oid;
const B = 'b'.repeat(40) as Oid;
const PACK = '0'.repeat(64);

describe('holdDigest', () => {
  const base = holdDigest('github', 'acme/widgets', [{ ref: 'refs/heads/main', oldOid: A, newOid: B }], PACK);

  it('is SHA-256 hex and stable', () => {
    expect(base).toMatch(/^[0-9a-f]{64}$/);
    expect(holdDigest('github', 'acme/widgets', [{ ref: 'refs/heads/main', oldOid: A, newOid: B }], PACK)).toBe(base);
  });

  it.each([
    ['upstream', holdDigest('gitlab', 'acme/widgets', [{ ref: 'refs/heads/main', oldOid: A, newOid: B }], PACK)],
    ['repo', holdDigest('github', 'acme/gadgets', [{ ref: 'refs/heads/main', oldOid: A, newOid: B }], PACK)],
    ['ref', holdDigest('github', 'acme/widgets', [{ ref: 'refs/heads/dev', oldOid: A, newOid: B }], PACK)],
    ['old id', holdDigest('github', 'acme/widgets', [{ ref: 'refs/heads/main', oldOid: B, newOid: B }], PACK)],
    ['new id', holdDigest('github', 'acme/widgets', [{ ref: 'refs/heads/main', oldOid: A, newOid: A }], PACK)],
    ['pack', holdDigest('github', 'acme/widgets', [{ ref: 'refs/heads/main', oldOid: A, newOid: B }], '1'.repeat(64))],
    ['no pack', holdDigest('github', 'acme/widgets', [{ ref: 'refs/heads/main', oldOid: A, newOid: B }], undefined)],
    ['a command more', holdDigest('github', 'acme/widgets', [{ ref: 'refs/heads/main', oldOid: A, newOid: B }, { ref: 'refs/heads/x', oldOid: A, newOid: B }], PACK)],
    ['text moved between fields', holdDigest('githu', 'bacme/widgets', [{ ref: 'refs/heads/main', oldOid: A, newOid: B }], PACK)],
  ])('changes with the %s', (_what, other) => {
    expect(other).not.toBe(base);
  });

  it('never encodes two different field lists alike', () => {
    fc.assert(
      fc.property(fc.array(fc.string(), { minLength: 3, maxLength: 3 }), fc.array(fc.string(), { minLength: 3, maxLength: 3 }), (x, y) => {
        fc.pre(JSON.stringify(x) !== JSON.stringify(y));
        const d = (f: string[]) => holdDigest(f[0]!, f[1]!, [{ ref: f[2]!, oldOid: A, newOid: B }], PACK);
        expect(d(x)).not.toBe(d(y));
      }),
    );
  });
});
