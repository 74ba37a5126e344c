/**
 * How values cross between JavaScript and SQL, decided once for both backends. `pg` and PGlite
 * disagree out of the box (PGlite returns int8 as number or BigInt and bytea as Uint8Array; `pg`
 * returns int8 as string, bytea as Buffer, numeric[] as numbers), so both are given this one
 * table of text-format parsers and every other type comes back as PostgreSQL's text.
 *
 * | SQL                               | JavaScript                                              |
 * |-----------------------------------|---------------------------------------------------------|
 * | int2, int4, oid, float4, float8   | number                                                  |
 * | int8, numeric                     | string (decimal; ids exceed 2^53 long before disks do)  |
 * | bool                              | boolean                                                 |
 * | text, varchar, uuid, …            | string                                                  |
 * | json, jsonb                       | parsed value (objects, arrays; numbers beyond 2^53 lose precision) |
 * | bytea                             | Buffer                                                  |
 * | timestamptz                       | Date (microseconds truncated to milliseconds)           |
 * | timestamp (avoid: use timestamptz)| Date, read as UTC                                       |
 * | date                              | string 'YYYY-MM-DD' (a calendar day, not an instant)    |
 * | arrays of the above               | arrays (NULL elements as null)                          |
 *
 * Parameters are normalised the same way before either driver sees them: Date → ISO-8601 text,
 * Uint8Array → Buffer, bigint → decimal string. Pass jsonb parameters as JSON text
 * (`JSON.stringify(v)` with a `$n::jsonb` cast): `pg` would turn a JS array into a PostgreSQL
 * array literal, PGlite into JSON. One statement per query: PGlite runs every query with the
 * extended protocol, which refuses several statements.
 */
import { StoreError } from './errors';

/** Parses the text form of one SQL value. */
export type TextParser = (text: string) => unknown;

const parseNumber: TextParser = (t) => Number(t);
const parseString: TextParser = (t) => t;
const parseBool: TextParser = (t) => t === 't' || t === 'true';
const parseJson: TextParser = (t) => JSON.parse(t);

/** bytea in hex (`\x0102`, the default since PostgreSQL 9.0) or the older escape format. */
export function parseBytea(t: string): Buffer {
  if (t.startsWith('\\x')) return Buffer.from(t.slice(2), 'hex');
  const out: number[] = [];
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (c !== 0x5c) {
      out.push(c);
    } else if (t[i + 1] === '\\') {
      out.push(0x5c);
      i++;
    } else {
      out.push(parseInt(t.slice(i + 1, i + 4), 8));
      i += 3;
    }
  }
  return Buffer.from(out);
}

// DateStyle ISO output: `2024-01-02 03:04:05.123456+05:30`, years beyond 9999, ` BC` suffix,
// offsets with seconds for historical zones (`+05:53:28`).
const TIMESTAMP_RE =
  /^(\d{4,})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?(?:([+-])(\d\d)(?::?(\d\d))?(?::?(\d\d))?)?( BC)?$/;

/** The largest instant a Date can hold (ECMA-262: ±8.64e15 ms); PostgreSQL's infinities map to it. */
const DATE_MAX_MS = 8.64e15;

/** Parses a timestamptz (or a timestamp, read as UTC) in DateStyle ISO. */
export function parseTimestamp(t: string): Date {
  if (t === 'infinity') return new Date(DATE_MAX_MS);
  if (t === '-infinity') return new Date(-DATE_MAX_MS);
  const m = TIMESTAMP_RE.exec(t);
  if (m === null) {
    throw new StoreError('STORE_BAD_VALUE', `cannot read timestamp "${t}": the server must use DateStyle ISO`, {
      value: t,
    });
  }
  const [, y, mo, d, h, mi, s, frac, sign, oh, om, os, bc] = m;
  const year = bc === undefined ? Number(y) : 1 - Number(y);
  const date = new Date(0);
  // setUTCFullYear, not Date.UTC: Date.UTC maps years 0..99 to 1900..1999.
  date.setUTCFullYear(year, Number(mo) - 1, Number(d));
  date.setUTCHours(Number(h), Number(mi), Number(s), frac === undefined ? 0 : Number(frac.slice(0, 3).padEnd(3, '0')));
  if (sign !== undefined) {
    const offsetSeconds = Number(oh) * 3600 + Number(om ?? 0) * 60 + Number(os ?? 0);
    date.setTime(date.getTime() - (sign === '+' ? 1 : -1) * offsetSeconds * 1000);
  }
  return date;
}

/**
 * Parses a one- or multi-dimensional array literal (`{a,"b c",NULL,{1,2}}`), the text output of
 * every array type except box[] (which uses `;`, and which pushgate does not use).
 */
export function parseArrayLiteral(t: string, element: TextParser): unknown[] {
  let i = 0;
  // Dimension decorations (`[0:1]={…}`) appear only for arrays with non-default bounds.
  if (t.startsWith('[')) i = t.indexOf('=') + 1;
  const parseLevel = (): unknown[] => {
    if (t[i] !== '{') throw new StoreError('STORE_BAD_VALUE', `cannot read array "${t}" at offset ${i}`, { value: t });
    i++;
    const out: unknown[] = [];
    if (t[i] === '}') {
      i++;
      return out;
    }
    for (;;) {
      if (t[i] === '{') {
        out.push(parseLevel());
      } else if (t[i] === '"') {
        i++;
        let s = '';
        while (i < t.length && t[i] !== '"') {
          if (t[i] === '\\') i++;
          s += t[i];
          i++;
        }
        i++;
        out.push(element(s));
      } else {
        let j = i;
        while (j < t.length && t[j] !== ',' && t[j] !== '}') j++;
        const raw = t.slice(i, j);
        i = j;
        out.push(raw === 'NULL' ? null : element(raw));
      }
      if (t[i] === ',') {
        i++;
      } else if (t[i] === '}') {
        i++;
        return out;
      } else {
        throw new StoreError('STORE_BAD_VALUE', `cannot read array "${t}" at offset ${i}`, { value: t });
      }
    }
  };
  return parseLevel();
}

const SCALARS: Record<number, TextParser> = {
  16: parseBool, // bool
  17: parseBytea, // bytea
  20: parseString, // int8
  21: parseNumber, // int2
  23: parseNumber, // int4
  26: parseNumber, // oid
  114: parseJson, // json
  700: parseNumber, // float4 ('NaN', 'Infinity' read by Number too)
  701: parseNumber, // float8
  1082: parseString, // date
  1114: (t) => parseTimestamp(t), // timestamp
  1184: (t) => parseTimestamp(t), // timestamptz
  1700: parseString, // numeric
  3802: parseJson, // jsonb
};

// Array type oid → element type oid (pg_type.typarray), for the element types above and text.
const ARRAYS: Record<number, number> = {
  1000: 16,
  1001: 17,
  1016: 20,
  1005: 21,
  1007: 23,
  1028: 26,
  199: 114,
  1021: 700,
  1022: 701,
  1182: 1082,
  1115: 1114,
  1185: 1184,
  1231: 1700,
  3807: 3802,
  1009: 25, // text[]
  1015: 1043, // varchar[]
  1014: 1042, // bpchar[]
  2951: 2950, // uuid[]
};

/** The parsers both backends use, by type oid; types not listed come back as text. */
export const TEXT_PARSERS: Readonly<Record<number, TextParser>> = Object.freeze({
  ...SCALARS,
  ...Object.fromEntries(
    Object.entries(ARRAYS).map(([arrayOid, elementOid]) => {
      const element = SCALARS[elementOid] ?? parseString;
      return [Number(arrayOid), (t: string) => parseArrayLiteral(t, element)];
    }),
  ),
});

/** The parser for a type oid: the table's, or the text itself. */
export function textParser(oid: number): TextParser {
  return TEXT_PARSERS[oid] ?? parseString;
}

/**
 * A Date as PostgreSQL timestamp input. Not toISOString(): its extended years (`+010000-…`,
 * `-000001-…`) are not PostgreSQL syntax, which writes years before 1 with a ` BC` suffix.
 */
export function timestampParam(d: Date): string {
  const iso = d.toISOString();
  const year = d.getUTCFullYear();
  const rest = iso.slice(iso.indexOf('-', 1));
  if (year >= 1) return `${String(year).padStart(4, '0')}${rest}`;
  return `${String(1 - year).padStart(4, '0')}${rest} BC`;
}

/** Normalises one query parameter so both drivers send the same text. */
export function normaliseParam(v: unknown): unknown {
  if (v === undefined) return null;
  if (v instanceof Date) return timestampParam(v);
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Uint8Array && !Buffer.isBuffer(v)) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (Array.isArray(v)) return v.map(normaliseParam);
  return v;
}
