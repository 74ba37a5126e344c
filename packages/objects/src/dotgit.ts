/**
 * Names that would reach into a checkout's `.git` on some file system, as git's fsck finds them
 * (utf8.c is_hfs_dotgit, path.c is_ntfs_dotgit, is_ntfs_dotgitmodules; CVE-2014-9390,
 * CVE-2019-1353, CVE-2018-11235):
 *
 * - HFS+ ignores certain Unicode code points (zero-width joiners, direction marks, BOM) and case,
 *   so `.g\u200cit` is `.git` there;
 * - NTFS ignores trailing dots and spaces, stops a name at `:` (alternate data streams), treats
 *   `\` as a separator, and has 8.3 short names (`git~1` for `.git`, `GITMOD~1` or `gi7eba~N` for
 *   `.gitmodules`).
 *
 * All functions take the name's bytes `buf[start..end)`.
 */

/** Code points HFS+ ignores when comparing names (utf8.c next_hfs_char). */
function hfsIgnored(cp: number): boolean {
  return (
    (cp >= 0x200c && cp <= 0x200f) || (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x206a && cp <= 0x206f) || cp === 0xfeff
  );
}

/** Decodes one UTF-8 character at `i`: [code point, next index], or undefined when malformed. */
function utf8At(b: Uint8Array, i: number, end: number): [number, number] | undefined {
  const c = b[i];
  if (c < 0x80) return [c, i + 1];
  let n: number;
  let cp: number;
  let min: number;
  if ((c & 0xe0) === 0xc0) {
    n = 2;
    cp = c & 0x1f;
    min = 0x80;
  } else if ((c & 0xf0) === 0xe0) {
    n = 3;
    cp = c & 0x0f;
    min = 0x800;
  } else if ((c & 0xf8) === 0xf0) {
    n = 4;
    cp = c & 0x07;
    min = 0x10000;
  } else {
    return undefined;
  }
  if (i + n > end) return undefined;
  for (let k = 1; k < n; k++) {
    const cc = b[i + k];
    if ((cc & 0xc0) !== 0x80) return undefined;
    cp = (cp << 6) | (cc & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000)) return undefined;
  return [cp, i + n];
}

/** The next code point HFS+ would compare (0 at the end, -1 when the bytes are not UTF-8). */
function nextHfs(b: Uint8Array, pos: { i: number }, end: number): number {
  for (;;) {
    if (pos.i >= end) return 0;
    const r = utf8At(b, pos.i, end);
    if (!r) return -1;
    pos.i = r[1];
    if (!hfsIgnored(r[0])) return r[0];
  }
}

function isHfsDot(b: Uint8Array, start: number, end: number, needle: string): boolean {
  const pos = { i: start };
  if (nextHfs(b, pos, end) !== 0x2e) return false;
  for (let k = 0; k < needle.length; k++) {
    const c = nextHfs(b, pos, end);
    if (c <= 0 || c > 127) return false;
    if (String.fromCharCode(c).toLowerCase() !== needle[k]) return false;
  }
  const c = nextHfs(b, pos, end);
  return c === 0 || c === 0x2f;
}

/** `.git` as HFS+ would see it. */
export function isHfsDotgit(b: Uint8Array, start: number, end: number): boolean {
  return isHfsDot(b, start, end, 'git');
}

/** `.gitmodules` as HFS+ would see it. */
export function isHfsDotgitmodules(b: Uint8Array, start: number, end: number): boolean {
  return isHfsDot(b, start, end, 'gitmodules');
}

function lower(c: number): number {
  return c >= 0x41 && c <= 0x5a ? c + 0x20 : c;
}

/** `.git` or `git~1` as NTFS would see it (the name ends at NUL, `\`, `/` or `:`). */
export function isNtfsDotgit(b: Uint8Array, start: number, end: number): boolean {
  let i = start;
  const at = (k: number) => (k < end ? b[k] : 0);
  const c = at(i++);
  if (c === 0x2e) {
    if (lower(at(i++)) !== 0x67 || lower(at(i++)) !== 0x69 || lower(at(i++)) !== 0x74) return false;
  } else if (lower(c) === 0x67) {
    if (lower(at(i++)) !== 0x69 || lower(at(i++)) !== 0x74 || at(i++) !== 0x7e || at(i++) !== 0x31) return false;
  } else {
    return false;
  }
  for (;;) {
    const d = at(i++);
    if (d === 0 || d === 0x5c || d === 0x2f || d === 0x3a) return true;
    if (d !== 0x2e && d !== 0x20) return false;
  }
}

/**
 * `.<dotgitName>` as NTFS would see it, including 8.3 short names: the first six characters and
 * `~1`..`~4`, or git's fall-back `<shortPrefix>~N` (path.c is_ntfs_dot_generic).
 */
function isNtfsDotGeneric(b: Uint8Array, start: number, end: number, dotgitName: string, shortPrefix: string): boolean {
  const at = (k: number) => (k < end ? b[k] : 0);
  const len = dotgitName.length;
  const onlySpacesAndPeriods = (from: number): boolean => {
    for (let i = from; ; i++) {
      const c = at(i);
      if (c === 0 || c === 0x3a) return true;
      if (c !== 0x20 && c !== 0x2e) return false;
    }
  };
  if (at(start) === 0x2e) {
    let match = true;
    for (let k = 0; k < len; k++) {
      if (lower(at(start + 1 + k)) !== dotgitName.charCodeAt(k)) {
        match = false;
        break;
      }
    }
    if (match) return onlySpacesAndPeriods(start + len + 1);
  }
  let six = true;
  for (let k = 0; k < 6; k++) {
    if (lower(at(start + k)) !== dotgitName.charCodeAt(k)) {
      six = false;
      break;
    }
  }
  if (six && at(start + 6) === 0x7e && at(start + 7) >= 0x31 && at(start + 7) <= 0x34) return onlySpacesAndPeriods(start + 8);
  let sawTilde = false;
  let i = 0;
  for (; i < 8; i++) {
    const c = at(start + i);
    if (c === 0) return false;
    if (sawTilde) {
      if (c < 0x30 || c > 0x39) return false;
    } else if (c === 0x7e) {
      i++;
      const d = at(start + i);
      if (d < 0x31 || d > 0x39) return false;
      sawTilde = true;
    } else if (i >= 6) {
      return false;
    } else if (c & 0x80) {
      return false;
    } else if (lower(c) !== shortPrefix.charCodeAt(i)) {
      return false;
    }
  }
  return onlySpacesAndPeriods(start + i);
}

/** `.gitmodules` as NTFS would see it. */
export function isNtfsDotgitmodules(b: Uint8Array, start: number, end: number): boolean {
  return isNtfsDotGeneric(b, start, end, 'gitmodules', 'gi7eba');
}
