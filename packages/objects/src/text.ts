/**
 * Decoding the text of commits and tags. Git stores it as bytes, in UTF-8 unless an `encoding`
 * header names another encoding (git-commit(1), "DISCUSSION"); bytes that do not decode become
 * U+FFFD, so a broken message is still shown rather than refused here (the strict checks decide
 * what is refused).
 */
import { TextDecoder } from 'node:util';

const decoders = new Map<string, TextDecoder>();
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

/** The decoder for a git `encoding` header value, falling back to UTF-8 for labels Node does not know. */
function decoderFor(encoding: string | undefined): TextDecoder {
  if (!encoding) return utf8;
  const key = encoding.trim().toLowerCase();
  let d = decoders.get(key);
  if (!d) {
    try {
      d = new TextDecoder(key, { ignoreBOM: true });
    } catch {
      d = utf8;
    }
    // Labels come from objects clients send; keep the cache small whatever they send.
    if (decoders.size < 64) decoders.set(key, d);
  }
  return d;
}

/** Decodes `buf[start..end)` as text in `encoding` (UTF-8 when absent). */
export function decodeText(buf: Uint8Array, start: number, end: number, encoding?: string): string {
  if (end <= start) return '';
  return decoderFor(encoding).decode(buf.subarray(start, end));
}
