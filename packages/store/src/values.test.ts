import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { StoreError } from './errors';
import { maskDatabaseUrl, parseDatabaseUrl } from './url';
import { parseArrayLiteral, parseBytea, parseTimestamp, timestampParam } from './values';

describe('parseTimestamp', () => {
  it.each([
    ['2024-01-02 03:04:05+00', '2024-01-02T03:04:05.000Z'],
    ['2024-01-02 03:04:05.123456+00', '2024-01-02T03:04:05.123Z'],
    ['2024-01-02 03:04:05.5+05:30', '2024-01-01T21:34:05.500Z'],
    ['2024-01-02 03:04:05-08', '2024-01-02T11:04:05.000Z'],
    ['1883-11-18 12:00:00+05:53:28', '1883-11-18T06:06:32.000Z'],
    ['0099-06-01 00:00:00+00', '0099-06-01T00:00:00.000Z'],
    ['0044-03-15 12:00:00+00 BC', '-000043-03-15T12:00:00.000Z'],
    ['10000-01-01 00:00:00+00', '+010000-01-01T00:00:00.000Z'],
    ['2024-01-02 03:04:05', '2024-01-02T03:04:05.000Z'],
  ])('reads %s', (text, iso) => {
    expect(parseTimestamp(text).toISOString()).toBe(iso);
  });

  it('maps the infinities to the extreme Dates', () => {
    expect(parseTimestamp('infinity').getTime()).toBe(8.64e15);
    expect(parseTimestamp('-infinity').getTime()).toBe(-8.64e15);
  });

  it.each(['01/02/2024 03:04:05.00 UTC', 'Tue Jan 02 03:04:05 2024 UTC'])('refuses the non-ISO DateStyle output %s with a code', (text) => {
    expect(() => parseTimestamp(text)).toThrow(expect.objectContaining({ code: 'STORE_BAD_VALUE' }));
  });

  it('reads back what timestampParam writes, for every millisecond PostgreSQL and Date share', () => {
    fc.assert(
      fc.property(fc.date({ min: new Date('-004000-01-01T00:00:00Z'), max: new Date('+200000-01-01T00:00:00Z'), noInvalidDate: true }), (d) => {
        // timestampParam uses 'T' and 'Z'; PostgreSQL prints ' ' and '+00'.
        const printed = timestampParam(d).replace('T', ' ').replace('Z', '+00');
        expect(parseTimestamp(printed).getTime()).toBe(d.getTime());
      }),
    );
  });
});

describe('parseArrayLiteral', () => {
  it.each([
    ['{}', []],
    ['{a,b}', ['a', 'b']],
    ['{"b c","x\\"y","back\\\\slash",NULL,""}', ['b c', 'x"y', 'back\\slash', null, '']],
    ['{"NULL",NULL}', ['NULL', null]],
    ['{{1,2},{3,4}}', [['1', '2'], ['3', '4']]],
    ['[0:1]={a,b}', ['a', 'b']],
  ])('reads %s', (text, expected) => {
    expect(parseArrayLiteral(text, (t) => t)).toEqual(expected);
  });

  it('applies the element parser to every non-NULL element', () => {
    expect(parseArrayLiteral('{1,NULL,3}', Number)).toEqual([1, null, 3]);
  });

  it('refuses text that is not an array with a code, whatever the bytes', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        try {
          parseArrayLiteral(s, (t) => t);
        } catch (e) {
          expect(e).toBeInstanceOf(StoreError);
          expect((e as StoreError).code).toBe('STORE_BAD_VALUE');
        }
      }),
    );
  });
});

describe('parseBytea', () => {
  it('reads hex and escape formats', () => {
    expect(parseBytea('\\x00ff10')).toEqual(Buffer.from([0, 255, 16]));
    expect(parseBytea('a\\000\\\\b\\377')).toEqual(Buffer.from([0x61, 0, 0x5c, 0x62, 255]));
  });
});

describe('database URL masking', () => {
  it.each([
    ['postgres://u:hunter2@db.example:5432/pg', 'postgres://u:***@db.example:5432/pg'],
    ['postgresql://u:p%40ss@h/db?sslmode=require', 'postgresql://u:***@h/db?sslmode=require'],
    ['postgres://u:p@ss@h/db', 'postgres://u:***@h/db'],
    ['postgres://h/db?user=u&password=hunter2&x=1', 'postgres://h/db?user=u&password=***&x=1'],
    ['postgres://u@h/db', 'postgres://u@h/db'],
    ['not a url :hunter2@', 'not a url :hunter2@'],
  ])('masks %s', (url, masked) => {
    expect(maskDatabaseUrl(url)).toBe(masked);
  });

  it('scrubs the password in raw and encoded forms from any text', () => {
    const u = parseDatabaseUrl('postgres://u:s%3Acr%2Fet@h/db');
    expect(u.scrub('auth failed for s:cr/et (s%3Acr%2Fet)')).toBe('auth failed for *** (***)');
  });

  it.each(['mysql://u:hunter2@h/db', 'postgres://u:hunter2@[::1/db', 'hunter2'])('refuses %s without showing its password', (url) => {
    let error: unknown;
    try {
      parseDatabaseUrl(url);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).code).toBe('STORE_BAD_URL');
    expect(JSON.stringify((error as StoreError).toJSON())).not.toContain('hunter2');
    expect((error as StoreError).message).not.toContain('hunter2');
  });
});
