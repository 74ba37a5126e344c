/**
 * Identity lines of commits and tags (`author`, `committer`, `tagger`), as git writes them
 * (git-commit-tree(1), "COMMIT INFORMATION"; parsed like git's ident.c split_ident_line):
 *
 *   <name> SP "<" <email> ">" SP <seconds since the epoch> SP <+|-><hhmm>
 */
import { decodeText } from './text';

/** Who and when, from an identity line. */
export interface Ident {
  readonly name: string;
  readonly email: string;
  /** Seconds since the epoch (0 when the line has no readable date). */
  readonly timestamp: number;
  /** The zone as written, e.g. `+0200`, `-0000` (git's "unknown zone"). */
  readonly timezone: string;
  /** The zone's offset from UTC in minutes (east positive). */
  readonly timezoneOffset: number;
}

/**
 * Parses the identity in `buf[start..end)` (the line without its key and newline). Lenient:
 * whatever the strict checks let through, or what old history in the mirror holds, gives a result.
 */
export function parseIdent(buf: Uint8Array, start: number, end: number, encoding?: string): Ident {
  const lt = indexOfByte(buf, 0x3c, start, end);
  if (lt < 0) {
    return { name: decodeText(buf, start, end, encoding).trim(), email: '', timestamp: 0, timezone: '+0000', timezoneOffset: 0 };
  }
  let gt = indexOfByte(buf, 0x3e, lt + 1, end);
  if (gt < 0) gt = end;
  const name = decodeText(buf, start, lt, encoding).trim();
  const email = decodeText(buf, lt + 1, gt, encoding);
  const rest = Buffer.from(buf.buffer, buf.byteOffset + Math.min(gt + 1, end), Math.max(0, end - gt - 1)).toString('latin1');
  const m = /^\s*(\d+)\s+([+-])(\d\d)(\d\d)\s*$/.exec(rest);
  if (!m) {
    const ts = /^\s*(\d+)/.exec(rest);
    return { name, email, timestamp: ts ? Number(ts[1]) : 0, timezone: '+0000', timezoneOffset: 0 };
  }
  const sign = m[2] === '-' ? -1 : 1;
  const offset = sign * (Number(m[3]) * 60 + Number(m[4]));
  return { name, email, timestamp: Number(m[1]), timezone: `${m[2]}${m[3]}${m[4]}`, timezoneOffset: offset === 0 ? 0 : offset };
}

function indexOfByte(buf: Uint8Array, byte: number, start: number, end: number): number {
  for (let i = start; i < end; i++) if (buf[i] === byte) return i;
  return -1;
}
