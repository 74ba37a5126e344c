/**
 * Readable builders of pkt-line bytes for tests across the repository:
 *
 *   pkt('want 0a53…\n', FLUSH, 'done\n')          → 0032want 0a53…\n00000009done\n
 *   receivePackBody({ commands: [{ ref, oldOid, newOid }], caps: ['report-status'], pack })
 *
 * They write the framing themselves (rather than calling @pushgate/pktline's encoder) so tests of
 * the encoder compare against an independent construction, and so tests can build oversized
 * packets that the real encoder refuses.
 */
import { DELIM, FLUSH, RESPONSE_END } from '@pushgate/pktline';

export { DELIM, FLUSH, RESPONSE_END };

/** A payload (string as UTF-8, bytes as given), or pktline's FLUSH / DELIM / RESPONSE_END buffer for that packet. */
export type PktPart = string | Uint8Array;

/** One data packet of `payload`, with no size check beyond what four hex digits can express. */
export function pktLine(payload: string | Uint8Array): Buffer {
  const bytes = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : Buffer.from(payload);
  const length = bytes.length + 4;
  if (length > 0xffff) throw new RangeError(`pkt-line of ${length} bytes cannot be expressed in 4 hex digits`);
  return Buffer.concat([Buffer.from(length.toString(16).padStart(4, '0'), 'latin1'), bytes]);
}

/**
 * Pkt-line bytes from readable parts: each string or byte array becomes one data packet (no LF
 * is added), and the FLUSH / DELIM / RESPONSE_END buffers (compared by identity) become themselves.
 */
export function pkt(...parts: PktPart[]): Buffer {
  return Buffer.concat(parts.map((part) => (part === FLUSH || part === DELIM || part === RESPONSE_END ? Buffer.from(part) : pktLine(part))));
}

/** One command of a test push, ids as plain hex strings. */
export interface TestCommand {
  readonly ref: string;
  readonly oldOid: string;
  readonly newOid: string;
}

/** The parts of a receive-pack request body. */
export interface ReceivePackBodySpec {
  readonly commands: readonly TestCommand[];
  /** Capabilities as git's send-pack writes them (each preceded by a space), or a raw string put after the NUL verbatim. */
  readonly caps?: readonly string[] | string;
  readonly shallow?: readonly string[];
  /** When given, a push-options section (options then flush) follows the commands. */
  readonly pushOptions?: readonly string[];
  /** Raw bytes after the pkt-lines, normally a pack. */
  readonly pack?: Uint8Array;
  /** Appends LF to every command line (git sends none; other clients may). */
  readonly lf?: boolean;
}

/** A `git-receive-pack` POST body: shallow lines, commands (caps on the first), flush, push options, pack. */
export function receivePackBody(spec: ReceivePackBodySpec): Buffer {
  const caps = spec.caps ?? [];
  const capList = typeof caps === 'string' ? caps : caps.map((c) => ` ${c}`).join('');
  const lf = spec.lf ? '\n' : '';
  const parts: Buffer[] = [];
  for (const oid of spec.shallow ?? []) parts.push(pktLine(`shallow ${oid}\n`));
  spec.commands.forEach((c, i) => {
    const line = `${c.oldOid} ${c.newOid} ${c.ref}`;
    parts.push(pktLine(i === 0 ? `${line}\0${capList}${lf}` : `${line}${lf}`));
  });
  parts.push(Buffer.from(FLUSH));
  if (spec.pushOptions) {
    for (const option of spec.pushOptions) parts.push(pktLine(option));
    parts.push(Buffer.from(FLUSH));
  }
  if (spec.pack) parts.push(Buffer.from(spec.pack));
  return Buffer.concat(parts);
}

/** Splits `bytes` into chunks of `size` bytes (the last may be shorter), as a stream would deliver them. */
export async function* chunked(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, Math.min(at + size, bytes.length));
}
