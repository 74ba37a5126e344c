import { describe, expect, it } from '@jest/globals';
import { DEFAULT_MAX_TOKEN_TTL_SEC, parseDuration } from './duration';
import { AuthError } from './errors';

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof AuthError) return e.code;
    throw e;
  }
  return undefined;
}

describe('parseDuration', () => {
  it.each([
    ['45s', 45],
    ['30m', 1800],
    ['1h', 3600],
    ['7d', 604800],
    ['30d', DEFAULT_MAX_TOKEN_TTL_SEC],
    ['720h', DEFAULT_MAX_TOKEN_TTL_SEC],
  ])('reads %s as %i seconds', (text, seconds) => {
    expect(parseDuration(text)).toBe(seconds);
  });

  it.each(['', '1', 'h', '0s', '01h', '-1h', '1.5h', '1 h', ' 1h', '1h ', '1H', '1w', '1y', '1h30m', 'soon', '1e3s', '1234567890s'])(
    'refuses %j as AUTH_BAD_DURATION',
    (text) => {
      expect(codeOf(() => parseDuration(text))).toBe('AUTH_BAD_DURATION');
    },
  );

  it('refuses lifetimes above the maximum with AUTH_TTL_TOO_LONG and says both numbers', () => {
    expect(codeOf(() => parseDuration('31d'))).toBe('AUTH_TTL_TOO_LONG');
    expect(codeOf(() => parseDuration('2h', 3600))).toBe('AUTH_TTL_TOO_LONG');
    expect(parseDuration('1h', 3600)).toBe(3600);
    try {
      parseDuration('31d');
    } catch (e) {
      expect((e as AuthError).message).toBe('token lifetime 31d (2678400s) exceeds the maximum of 2592000s');
      expect((e as AuthError).data).toEqual({ actual: 2678400, max: DEFAULT_MAX_TOKEN_TTL_SEC });
    }
  });
});
