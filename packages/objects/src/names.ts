/**
 * Tree entry names are bytes: git forbids only NUL and `/` in them, and says nothing about their
 * encoding. pushgate represents a name as a JavaScript string that is exactly the UTF-8 reading
 * when the bytes are valid UTF-8 (nearly always), and otherwise maps every byte that is not part
 * of a valid UTF-8 sequence to the lone surrogate U+DC80+byte ("surrogateescape", as Python's
 * PEP 383 does for file names). The mapping is injective and reversible (`nameToBytes`): valid
 * UTF-8 never decodes to a lone surrogate, so no two byte strings share a name, while globs and
 * prefixes on the readable parts keep working. Lone surrogates are not valid in every sink (a
 * PostgreSQL jsonb column rejects them), so text meant for people and storage uses
 * `displayName`, which writes escaped bytes as `\xNN`.
 */

const ESCAPE_BASE = 0xdc00;
const fatalUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The name for bytes `buf[start..end)`, UTF-8 with invalid bytes escaped (see module comment). */
export function decodeName(buf: Uint8Array, start = 0, end = buf.length): string {
  let ascii = true;
  for (let i = start; i < end; i++) {
    if (buf[i] >= 0x80) {
      ascii = false;
      break;
    }
  }
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (ascii) return b.toString('latin1', start, end);
  try {
    return fatalUtf8.decode(b.subarray(start, end));
  } catch {
    return decodeEscaping(b, start, end);
  }
}

/** Length of the valid UTF-8 sequence at `i`, or 0 (RFC 3629: no overlongs, surrogates, > U+10FFFF). */
function utf8SequenceLength(b: Uint8Array, i: number, end: number): number {
  const c = b[i];
  if (c < 0x80) return 1;
  let n: number;
  let min: number;
  let cp: number;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
    min = 0x80;
    cp = c & 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    min = 0x800;
    cp = c & 0x0f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    min = 0x10000;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > end) return 0;
  for (let k = 1; k < n; k++) {
    const cc = b[i + k];
    if ((cc & 0xc0) !== 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

function decodeEscaping(b: Buffer, start: number, end: number): string {
  let out = '';
  let i = start;
  while (i < end) {
    const n = utf8SequenceLength(b, i, end);
    if (n === 0) {
      out += String.fromCharCode(ESCAPE_BASE + b[i]);
      i++;
    } else {
      out += b.toString('utf8', i, i + n);
      i += n;
    }
  }
  return out;
}

const LONE_ESCAPE = /(?<![\uD800-\uDBFF])[\uDC80-\uDCFF]/;
const LONE_ESCAPE_G = /(?<![\uD800-\uDBFF])[\uDC80-\uDCFF]/g;

/** True when `name` holds escaped bytes, i.e. its bytes are not valid UTF-8. */
export function isEscapedName(name: string): boolean {
  return LONE_ESCAPE.test(name);
}

/** The bytes a name stands for (the inverse of `decodeName`). */
export function nameToBytes(name: string): Buffer {
  if (!isEscapedName(name)) return Buffer.from(name, 'utf8');
  const parts: Buffer[] = [];
  let last = 0;
  for (const m of name.matchAll(LONE_ESCAPE_G)) {
    const at = m.index;
    if (at > last) parts.push(Buffer.from(name.slice(last, at), 'utf8'));
    parts.push(Buffer.from([name.charCodeAt(at) - ESCAPE_BASE]));
    last = at + 1;
  }
  if (last < name.length) parts.push(Buffer.from(name.slice(last), 'utf8'));
  return Buffer.concat(parts);
}

/** `name` with escaped bytes written as `\xNN`: well-formed Unicode, for people and storage. */
export function displayName(name: string): string {
  if (!isEscapedName(name)) return name;
  return name.replace(LONE_ESCAPE_G, (ch) => `\\x${(ch.charCodeAt(0) - ESCAPE_BASE).toString(16).padStart(2, '0')}`);
}
