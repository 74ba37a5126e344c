import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { MASK, SecretMasker } from './masker';

describe('SecretMasker', () => {
  it('masks a secret in every form it travels in', () => {
    const m = new SecretMasker();
    m.addBasicCredential('x-access-token', 'p@ss w/rd+1');
    const basic = Buffer.from('x-access-token:p@ss w/rd+1').toString('base64');
    expect(m.mask('password p@ss w/rd+1 here')).toBe(`password ${MASK} here`);
    expect(m.mask(`url http://x:${encodeURIComponent('p@ss w/rd+1')}@h/`)).toBe(`url http://x:${MASK}@h/`);
    expect(m.mask(`Authorization: Basic ${basic}`)).toBe(`Authorization: Basic ${MASK}`);
  });

  it('replaces a longer secret whole even when it contains a shorter one', () => {
    const m = new SecretMasker(['abcdefgh', 'abcdefgh-longer']);
    expect(m.mask('x abcdefgh-longer y abcdefgh')).toBe(`x ${MASK} y ${MASK}`);
  });

  it('masks strings and keys deep inside values, keeps dates and numbers, survives cycles', () => {
    const m = new SecretMasker(['topsecret!']);
    const when = new Date(0);
    const cyclic: Record<string, unknown> = { a: 'topsecret!' };
    cyclic.self = cyclic;
    const out = m.maskValue({ s: 'is topsecret!', n: 5, when, list: ['topsecret!', { 'topsecret!': 1 }], err: new Error('bad topsecret!'), cyclic });
    expect(out).toEqual({
      s: `is ${MASK}`,
      n: 5,
      when,
      list: [MASK, { [MASK]: 1 }],
      err: { name: 'Error', message: `bad ${MASK}` },
      cyclic: { a: MASK, self: '[Circular]' },
    });
    expect(JSON.stringify(out)).not.toContain('topsecret!');
  });

  it('copies a value shared by several parents at each place, and cuts only true cycles', () => {
    const approvers = { groups: ['release-managers'], count: 1 };
    const decision = { kind: 'hold', reasons: [{ rule: 'r', approvers }], approvers: [approvers] };
    expect(new SecretMasker(['topsecret!']).maskValue(decision)).toEqual(decision);
  });

  it('reports weak secrets by count only', () => {
    expect(new SecretMasker(['short']).weakSecrets()).toBe(1);
    expect(new SecretMasker(['long-enough-secret']).weakSecrets()).toBe(0);
  });

  it('never leaves a secret in any text (property)', () => {
    fc.assert(
      // Credentials are tokens of URL-safe characters; none of them can combine with MASK's brackets.
      fc.property(fc.stringMatching(/^[a-z0-9_.~-]{1,24}$/), fc.array(fc.string()), (secret, parts) => {
        const m = new SecretMasker([secret]);
        const masked = m.mask(parts.join(secret) + secret);
        expect(masked.includes(secret)).toBe(false);
      }),
    );
  });
});
