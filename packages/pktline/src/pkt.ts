/**
 * pkt-line framing (gitprotocol-common(5) "pkt-line Format"; gitprotocol-v2(5) for 0001/0002):
 *
 *   pkt-line     =  data-pkt / flush-pkt
 *   data-pkt     =  pkt-len pkt-payload
 *   pkt-len      =  4*(HEXDIG)          ; includes its own 4 bytes
 *   pkt-payload  =  (pkt-len - 4)*(OCTET)
 *   flush-pkt    = "0000"   delim-pkt = "0001"   response-end-pkt = "0002"
 *
 * "Implementations MUST NOT send pkt-line whose length exceeds 65520 (65516 bytes of payload + 4
 * bytes of length data)." An error packet is `PKT-LINE("ERR" SP explanation-text)`
 * (gitprotocol-pack(5)); it may be sent wherever a pkt-line is expected and ends the exchange.
 */
import { LimitError, MAX_PKT_LINE_BYTES } from '@pushgate/core';
import { REQUEST_PARSE_DELIVERY } from './errors';

/** One packet: a payload, or one of the three special packets. */
export type Pkt =
  | { readonly kind: 'data'; readonly payload: Buffer }
  | { readonly kind: 'flush' }
  | { readonly kind: 'delim' }
  | { readonly kind: 'response-end' };

/** Bytes of the length header. */
export const PKT_HEADER_BYTES = 4;

/** Largest payload of one pkt-line (65520 minus the header). */
export const MAX_PKT_PAYLOAD_BYTES = MAX_PKT_LINE_BYTES - PKT_HEADER_BYTES;

/** `0000`: end of a message (flush-pkt). */
export const FLUSH: Buffer = Buffer.from('0000', 'latin1');
/** `0001`: separates sections of a protocol v2 message (delim-pkt). */
export const DELIM: Buffer = Buffer.from('0001', 'latin1');
/** `0002`: end of a protocol v2 response on stateless connections (response-end-pkt). */
export const RESPONSE_END: Buffer = Buffer.from('0002', 'latin1');

const ERR_PREFIX = Buffer.from('ERR ', 'latin1');

/** Encodes one data packet; throws LIMIT_PKT_LINE when it would exceed 65520 bytes. */
export function encodePkt(payload: string | Uint8Array): Buffer {
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength;
  const total = size + PKT_HEADER_BYTES;
  if (total > MAX_PKT_LINE_BYTES) {
    throw new LimitError('pktLine', MAX_PKT_LINE_BYTES, total, 'pkt-line to encode', REQUEST_PARSE_DELIVERY);
  }
  const out = Buffer.allocUnsafe(total);
  out.write(total.toString(16).padStart(4, '0'), 0, 'latin1');
  if (typeof payload === 'string') out.write(payload, PKT_HEADER_BYTES, 'utf8');
  else out.set(payload, PKT_HEADER_BYTES);
  return out;
}

/** Encodes `ERR <message>\n`, the message made one line and cut to fit one packet. */
export function encodeErrPkt(message: string): Buffer {
  // "ERR " and the LF take 5 of the payload's bytes.
  return encodePkt(`ERR ${singleLine(message, MAX_PKT_PAYLOAD_BYTES - 5)}\n`);
}

/** The message of an `ERR <message>` data packet (trailing LF removed), or undefined for any other packet. */
export function errPacketMessage(pkt: Pkt): string | undefined {
  if (pkt.kind !== 'data' || !startsWith(pkt.payload, ERR_PREFIX)) return undefined;
  return chompLf(pkt.payload.subarray(ERR_PREFIX.length)).toString('utf8');
}

/** The payload without one trailing LF: receivers treat text lines alike with or without it. */
export function chompLf(payload: Buffer): Buffer {
  return payload.length > 0 && payload[payload.length - 1] === 0x0a ? payload.subarray(0, -1) : payload;
}

/**
 * `text` made safe for a one-line message inside a pkt-line: CR, LF and NUL runs become one space
 * (a peer would otherwise read a second line or cut the message short) and the result is cut to
 * at most `maxBytes` UTF-8 bytes without splitting a character.
 */
export function singleLine(text: string, maxBytes: number): string {
  const flat = text.replace(/[\r\n\0]+/g, ' ');
  if (Buffer.byteLength(flat) <= maxBytes) return flat;
  const bytes = Buffer.from(flat, 'utf8');
  let end = Math.max(0, maxBytes);
  // Back off continuation bytes (10xxxxxx) so the cut lands on a character boundary.
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString('utf8');
}

function startsWith(buf: Buffer, prefix: Buffer): boolean {
  return buf.length >= prefix.length && buf.compare(prefix, 0, prefix.length, 0, prefix.length) === 0;
}
