import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { MAX_AUTHORIZATION_BYTES, parseAuthorization } from './header';

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const TOKEN = 'eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl';

describe('parseAuthorization', () => {
  it('takes the token from the password of Basic, whatever the username', () => {
    for (const user of ['x-access-token', 'alice', '', 'user with spaces', 'ünïcode']) {
      expect(parseAuthorization(`Basic ${b64(`${user}:${TOKEN}`)}`)).toEqual({ kind: 'token', token: TOKEN, scheme: 'basic' });
    }
  });

  it('keeps colons inside the password (only the first colon separates)', () => {
    expect(parseAuthorization(`Basic ${b64('u:a:b:c')}`)).toEqual({ kind: 'token', token: 'a:b:c', scheme: 'basic' });
  });

  it('accepts Bearer, schemes in any case, extra spaces and unpadded base64', () => {
    expect(parseAuthorization(`Bearer ${TOKEN}`)).toEqual({ kind: 'token', token: TOKEN, scheme: 'bearer' });
    expect(parseAuthorization(`bEaReR   ${TOKEN}  `)).toEqual({ kind: 'token', token: TOKEN, scheme: 'bearer' });
    expect(parseAuthorization(`BASIC ${b64(`x:${TOKEN}`)}`)).toMatchObject({ kind: 'token', token: TOKEN });
    const unpadded = b64('u:ab').replace(/=+$/, '');
    expect(unpadded.endsWith('=')).toBe(false);
    expect(parseAuthorization(`Basic ${unpadded}`)).toEqual({ kind: 'token', token: 'ab', scheme: 'basic' });
  });

  it('reports an absent or empty header as missing', () => {
    expect(parseAuthorization(undefined)).toEqual({ kind: 'missing' });
    expect(parseAuthorization('')).toEqual({ kind: 'missing' });
    expect(parseAuthorization('   ')).toEqual({ kind: 'missing' });
  });

  const malformed: Array<[string, string, RegExp]> = [
    ['a bare token with no scheme', TOKEN, /no scheme/],
    ['an unknown scheme', `Token ${TOKEN}`, /unsupported Authorization scheme/],
    ['Digest', `Digest username="a", response="${TOKEN}"`, /unsupported/],
    ['Basic without credentials', 'Basic', /no scheme/],
    ['Basic with non-base64', `Basic ${TOKEN}!`, /not valid base64/],
    ['Basic with impossible length', 'Basic abcde', /not valid base64/],
    ['Basic with padding in the middle', 'Basic ab=c', /not valid base64/],
    ['Basic with two words', `Basic ${b64('u:p')} ${b64('u:p')}`, /not valid base64/],
    ['Basic without a colon', `Basic ${b64(TOKEN)}`, /no ":"/],
    ['Basic with an empty password', `Basic ${b64(`${TOKEN}:`)}`, /empty password/],
    ['Basic with invalid UTF-8', `Basic ${Buffer.from([0x75, 0x3a, 0xff, 0xfe]).toString('base64')}`, /UTF-8/],
    ['Basic with a control character', `Basic ${b64(`u:${TOKEN}\n`)}`, /control characters/],
    ['Bearer with two tokens', `Bearer ${TOKEN} ${TOKEN}`, /single token/],
    ['Bearer with illegal characters', `Bearer ${TOKEN}"`, /single token/],
    ['a header over the size limit', `Bearer ${'a'.repeat(MAX_AUTHORIZATION_BYTES)}`, /longer than/],
  ];
  it.each(malformed)('rejects %s without repeating what was sent', (_what, header, reason) => {
    const parsed = parseAuthorization(header);
    expect(parsed.kind).toBe('malformed');
    if (parsed.kind !== 'malformed') return;
    expect(parsed.reason).toMatch(reason);
    expect(parsed.reason).not.toContain(TOKEN);
    expect(parsed.reason).not.toContain(TOKEN.slice(-10));
  });

  it('round-trips any password through Basic and never throws on arbitrary input', () => {
    fc.assert(
      fc.property(fc.string(), fc.string({ minLength: 1 }), (user, password) => {
        fc.pre(!user.includes(':') && !/[\u0000-\u001f\u007f]/.test(user + password));
        expect(parseAuthorization(`Basic ${b64(`${user}:${password}`)}`)).toEqual({ kind: 'token', token: password, scheme: 'basic' });
      }),
    );
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (header) => {
        const parsed = parseAuthorization(header);
        expect(['missing', 'token', 'malformed']).toContain(parsed.kind);
      }),
    );
  });
});
