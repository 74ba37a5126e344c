/**
 * Checksums embedded in token formats. GitHub's tokens (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`;
 * GitHub blog, "Behind GitHub's new authentication token formats", 2021) and npm's (`npm_`; GitHub
 * blog, "Announcing npm's new access token format", 2021) are a prefix, 30 random base62
 * characters, and the CRC32 of those 30 characters written as 6 base62 digits (0-9, A-Z, a-z,
 * most significant first, zero-padded). A checksum turns a shape match into near-certainty and
 * lets look-alikes (random strings with the right prefix) be ignored.
 */

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (IEEE 802.3, as zlib) of the ASCII characters of `text`. */
export function crc32(text: string): number {
  let crc = 0xffffffff;
  for (let i = 0; i < text.length; i++) crc = CRC_TABLE[(crc ^ text.charCodeAt(i)) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** The base62 alphabet of GitHub's and npm's token checksums. */
export const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** `n` in base62, left-padded with `0` to `width` digits. */
export function toBase62(n: number, width: number): string {
  let out = '';
  let v = n;
  while (v > 0) {
    out = BASE62[v % 62] + out;
    v = Math.floor(v / 62);
  }
  return out.padStart(width, '0');
}

/**
 * True when `token` (`<prefix>_<30 random><6 checksum>`) carries the CRC32 of its random part.
 * Works for every GitHub classic-format token and npm token: the prefix is whatever precedes the
 * last 36 characters.
 */
export function hasValidBase62Checksum(token: string): boolean {
  if (token.length < 37) return false;
  const body = token.slice(token.length - 36, token.length - 6);
  const check = token.slice(token.length - 6);
  return toBase62(crc32(body), 6) === check;
}
