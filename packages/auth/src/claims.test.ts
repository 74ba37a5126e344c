import { describe, expect, it } from '@jest/globals';
import { identityFromClaims, readAgentClaim, readEmailClaim, readGroupsClaim } from './claims';
import { AuthError } from './errors';

const NAMES = { emailClaim: 'email', groupsClaim: 'groups', agentClaim: 'agent' };

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof AuthError) return e.code;
    throw e;
  }
  return undefined;
}

describe('claims', () => {
  it('reads the agent flag from exactly true, "true", 1 and their opposites', () => {
    for (const v of [true, 'true', 1]) expect(readAgentClaim(v, 'agent')).toBe(true);
    for (const v of [false, 'false', 0, undefined, null]) expect(readAgentClaim(v, 'agent')).toBe(false);
    for (const v of ['yes', 'True', 'TRUE', '1', 2, -1, [], {}, [true], '']) {
      expect(codeOf(() => readAgentClaim(v, 'agent'))).toBe('AUTH_INVALID_CLAIM');
    }
  });

  it('reads groups from arrays and from space/comma separated strings', () => {
    expect(readGroupsClaim(['a', 'b', 'a'], 'g')).toEqual(['a', 'b']);
    expect(readGroupsClaim('a b,c, d\te', 'g')).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(readGroupsClaim(' ,, ', 'g')).toEqual([]);
    expect(readGroupsClaim(['', 'x'], 'g')).toEqual(['x']);
    expect(readGroupsClaim(undefined, 'g')).toEqual([]);
    expect(readGroupsClaim(null, 'g')).toEqual([]);
    for (const v of [1, true, {}, ['a', 1], [['a']]]) expect(codeOf(() => readGroupsClaim(v, 'g'))).toBe('AUTH_INVALID_CLAIM');
  });

  it('reads email as a non-empty string', () => {
    expect(readEmailClaim('a@example.com', 'email')).toBe('a@example.com');
    expect(readEmailClaim(undefined, 'email')).toBeUndefined();
    for (const v of ['', 5, ['a@example.com']]) expect(codeOf(() => readEmailClaim(v, 'email'))).toBe('AUTH_INVALID_CLAIM');
  });

  it('builds an identity, requiring sub and dropping an email marked unverified', () => {
    const claims = { sub: 'alice', email: 'alice@example.com', groups: 'dev ops', agent: 'true' };
    expect(identityFromClaims(claims, 'https://idp', NAMES)).toEqual({
      sub: 'alice',
      issuer: 'https://idp',
      email: 'alice@example.com',
      groups: ['dev', 'ops'],
      agent: true,
    });
    expect(identityFromClaims({ ...claims, email_verified: false }, 'https://idp', NAMES)).not.toHaveProperty('email');
    expect(identityFromClaims({ ...claims, email_verified: true }, 'https://idp', NAMES).email).toBe('alice@example.com');
    expect(codeOf(() => identityFromClaims({ email: 'x@y' }, 'i', NAMES))).toBe('AUTH_MISSING_CLAIM');
    expect(codeOf(() => identityFromClaims({ sub: '' }, 'i', NAMES))).toBe('AUTH_INVALID_CLAIM');
    expect(codeOf(() => identityFromClaims({ sub: 42 }, 'i', NAMES))).toBe('AUTH_INVALID_CLAIM');
  });

  it('names the claim and the kind of value it found, never a long value', () => {
    try {
      readAgentClaim('x'.repeat(500), 'https://example.com/agent');
      throw new Error('expected a throw');
    } catch (e) {
      const err = e as AuthError;
      expect(err.message).toContain('"https://example.com/agent"');
      expect(err.message.length).toBeLessThan(200);
    }
  });
});
