import { describe, expect, it } from '@jest/globals';
import { DEFAULT_LIMITS, LIMIT_CODES, LimitError, PushgateError, checkLimit, isOid, refCategory, refUpdateKind, ZERO_OID, type Limits, type Oid } from './index';

const A = 'a'.repeat(40) as Oid;

describe('core', () => {
  it('recognises only lowercase 40-hex ids', () => {
    expect(isOid(A)).toBe(true);
    expect(isOid('A'.repeat(40))).toBe(false);
    expect(isOid('a'.repeat(39))).toBe(false);
    expect(isOid('a'.repeat(64))).toBe(false);
  });

  it('classifies ref updates by zero ids and names', () => {
    expect(refUpdateKind({ ref: 'refs/heads/x', oldOid: ZERO_OID, newOid: A })).toBe('create');
    expect(refUpdateKind({ ref: 'refs/heads/x', oldOid: A, newOid: ZERO_OID })).toBe('delete');
    expect(refUpdateKind({ ref: 'refs/heads/x', oldOid: A, newOid: A })).toBe('update');
    // `git push origin :refs/heads/x` when the remote has no x: a delete of a ref that does not exist.
    expect(refUpdateKind({ ref: 'refs/heads/x', oldOid: ZERO_OID, newOid: ZERO_OID })).toBe('delete');
    expect(refCategory('refs/tags/v1')).toBe('tag');
    expect(refCategory('refs/heads/main')).toBe('branch');
    expect(refCategory('refs/notes/commits')).toBe('other');
  });

  it('names the limit that fired', () => {
    expect(() => checkLimit(DEFAULT_LIMITS, 'maxDeltaDepth', 4096, 'delta chain')).toThrow(LimitError);
    try {
      checkLimit(DEFAULT_LIMITS, 'maxDeltaDepth', 4096, 'delta chain');
    } catch (e) {
      expect((e as LimitError).code).toBe('LIMIT_DELTA_DEPTH');
      expect((e as LimitError).toJSON().data).toEqual({ limit: 'maxDeltaDepth', max: 4095, actual: 4096 });
      expect((e as LimitError).delivery).toEqual({ kind: 'unpack' });
    }
    expect(() => checkLimit(DEFAULT_LIMITS, 'maxDeltaDepth', 4095, 'delta chain')).not.toThrow();
  });

  it('delivers a limit as the caller says, keeping its code and data', () => {
    const e = new LimitError('maxShallow', DEFAULT_LIMITS.maxShallow, 100_001, 'shallow lines', { kind: 'http', status: 400 });
    expect(e).toBeInstanceOf(PushgateError);
    expect(e.code).toBe('LIMIT_SHALLOW');
    expect(e.delivery).toEqual({ kind: 'http', status: 400 });
    expect(e.data).toEqual({ limit: 'maxShallow', max: 100_000, actual: 100_001 });
    expect(() => checkLimit({ ...DEFAULT_LIMITS, maxShallow: 2 }, 'maxShallow', 3, 'shallow lines', { kind: 'http', status: 400 })).toThrow(
      expect.objectContaining({ code: 'LIMIT_SHALLOW', delivery: { kind: 'http', status: 400 } }),
    );
  });

  it('has a code and a positive default for every configurable limit', () => {
    for (const [key, value] of Object.entries(DEFAULT_LIMITS)) {
      expect({ key, code: LIMIT_CODES[key as keyof Limits] }).toEqual({ key, code: expect.stringMatching(/^LIMIT_[A-Z_]+$/) });
      expect(Number.isSafeInteger(value) && value > 0).toBe(true);
    }
  });
});
