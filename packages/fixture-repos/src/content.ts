/**
 * File contents of fixture repositories: generated text of an exact size, binary noise, and fake
 * credentials made at build time. A fake credential is assembled from parts and derived from a
 * seed, so no string in the repository looks like a live key to a scanner (or to a reader), yet
 * every build produces the same bytes and therefore the same object ids.
 */
import { createHash } from 'node:crypto';

/** Kinds of fake credential a `{{fake:<kind>[:<seed>]}}` placeholder produces. */
export const FAKE_KINDS = ['aws-access-key-id', 'aws-secret-access-key', 'hex'] as const;

/** A kind of fake credential. */
export type FakeKind = (typeof FAKE_KINDS)[number];

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** `count` characters of `alphabet` chosen by a hash stream of `seed` (deterministic). */
function derive(seed: string, alphabet: string, count: number): string {
  let out = '';
  for (let block = 0; out.length < count; block++) {
    for (const byte of createHash('sha256').update(`${seed}\0${block}`).digest()) {
      if (out.length === count) break;
      out += alphabet[byte % alphabet.length];
    }
  }
  return out;
}

/** A fake credential of `kind`, derived from `seed`: same seed, same value. */
export function fakeCredential(kind: FakeKind, seed: string): string {
  switch (kind) {
    case 'aws-access-key-id':
      // The long-term key prefix, split so the source holds no key-shaped literal.
      return ['AK', 'IA'].join('') + derive(`aws-id:${seed}`, BASE32, 16);
    case 'aws-secret-access-key':
      return derive(`aws-secret:${seed}`, BASE64, 40);
    case 'hex':
      return derive(`hex:${seed}`, '0123456789abcdef', 40);
  }
}

const PLACEHOLDER = /\{\{fake:([a-z0-9-]+)(?::([^}]*))?\}\}/g;

/** Replaces `{{fake:<kind>[:<seed>]}}` in `text`; the seed defaults to `defaultSeed`. Throws on an unknown kind. */
export function expandPlaceholders(text: string, defaultSeed: string): string {
  return text.replace(PLACEHOLDER, (_, kind: string, seed: string | undefined) => {
    if (!(FAKE_KINDS as readonly string[]).includes(kind)) throw new Error(`unknown placeholder {{fake:${kind}}} (known: ${FAKE_KINDS.join(', ')})`);
    return fakeCredential(kind as FakeKind, seed ?? defaultSeed);
  });
}

/** How generated content is made (see the description's `generate`). */
export interface GenerateSpec {
  readonly bytes: number;
  readonly line?: string;
  readonly insert?: Readonly<Record<string, string>>;
  readonly binary?: boolean;
}

/**
 * Exactly `bytes` of content: lines from the template (`{n}` = line number) with the `insert`
 * lines in place, ending in a newline; or, for `binary`, hash-derived bytes with a NUL in every
 * 64 (git's binary heuristic looks for a NUL in the first 8000 bytes).
 */
export function generateContent(spec: GenerateSpec, seed: string): Buffer {
  if (spec.binary === true) {
    const out = Buffer.alloc(spec.bytes);
    for (let offset = 0, block = 0; offset < spec.bytes; block++) {
      const digest = createHash('sha256').update(`${seed}\0${block}`).digest();
      offset += digest.copy(out, offset);
    }
    for (let i = 0; i < spec.bytes; i += 64) out[i] = 0;
    return out;
  }
  const template = spec.line ?? 'line {n} of generated text';
  const chunks: Buffer[] = [];
  let size = 0;
  for (let n = 1; size < spec.bytes; n++) {
    const inserted = spec.insert?.[String(n)];
    const text = inserted === undefined ? template.replaceAll('{n}', String(n)) : expandPlaceholders(inserted, seed);
    const line = Buffer.from(`${text}\n`, 'utf8');
    chunks.push(line);
    size += line.length;
  }
  const all = Buffer.concat(chunks, size);
  if (size === spec.bytes || spec.bytes === 0) return all.subarray(0, spec.bytes);
  // Cut to the exact size and keep a final newline, so the last line is still a line.
  const out = all.subarray(0, spec.bytes);
  out[spec.bytes - 1] = 0x0a;
  return out;
}
