/**
 * Shannon entropy of candidate secrets. A random string's entropy per character is bounded by its
 * alphabet (4 bits for hex, 6 for base64), so one threshold cannot serve every value: a random hex
 * key scores lower than a random base64 key of the same strength. Thresholds are therefore given
 * per character class, and the class is the narrowest alphabet the value fits in.
 */

/** The narrowest alphabet a value is written in. */
export type CharClass = 'hex' | 'base64' | 'other';

/** Minimum Shannon entropy (bits per character) per character class. */
export interface EntropyThreshold {
  readonly hex: number;
  readonly base64: number;
  readonly other: number;
}

const HEX_RE = /^[0-9a-fA-F]+$/;
const BASE64_RE = /^[A-Za-z0-9+/_=-]+$/;

/** The character class of `value`: hex, base64 (standard or URL-safe), or anything else. */
export function charClass(value: string): CharClass {
  if (HEX_RE.test(value)) return 'hex';
  if (BASE64_RE.test(value)) return 'base64';
  return 'other';
}

/** Shannon entropy of `value` in bits per character (0 for the empty string). */
export function shannonEntropy(value: string): number {
  const n = value.length;
  if (n === 0) return 0;
  const counts = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  let h = 0;
  for (const count of counts.values()) {
    const p = count / n;
    h -= p * Math.log2(p);
  }
  return h;
}

/** True when `value` reaches the threshold of its character class. */
export function meetsEntropy(value: string, threshold: EntropyThreshold): boolean {
  return shannonEntropy(value) >= threshold[charClass(value)];
}
