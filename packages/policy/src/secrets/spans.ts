/** The lines each finding of a scanned text covers. */
import type { SecretFinding } from './scanner';

/** The lines each finding covers (first and last, 1-based): a PEM key spans many. */
export function findingSpans(data: Uint8Array, findings: readonly SecretFinding[]): Array<readonly [number, number]> {
  if (findings.every((f) => f.length < 64)) return findings.map((f) => [f.line, f.line]);
  // Decoded as the scanner decodes it, so lines and columns agree.
  const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8');
  const starts = [0];
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return findings.map((f) => {
    const offset = (starts[f.line - 1] ?? 0) + f.column - 1;
    let last = f.line;
    for (let i = text.indexOf('\n', offset); i >= 0 && i < offset + f.length; i = text.indexOf('\n', i + 1)) last++;
    return [f.line, last];
  });
}
