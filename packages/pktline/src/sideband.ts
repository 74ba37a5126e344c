/**
 * Side-band multiplexing (gitprotocol-pack(5) "Packfile Data", gitprotocol-capabilities(5)
 * "side-band, side-band-64k"): each pkt-line payload starts with a band byte.
 *
 *   1 - pack data (receive-pack: the report-status pkt-lines)
 *   2 - progress messages (shown by the client as `remote: ...`)
 *   3 - fatal error message just before the stream aborts
 *
 * "In side-band mode, it will send up to 999 data bytes plus 1 control code, for a total of up
 * to 1000 bytes in a pkt-line. In side-band-64k mode it will send up to 65519 data bytes plus 1
 * control code, for a total of up to 65520 bytes in a pkt-line."
 */
import { MAX_PKT_LINE_BYTES } from '@pushgate/core';
import { PktLineError } from './errors';
import { PKT_HEADER_BYTES, errPacketMessage, type Pkt } from './pkt';

/** The two side-band capabilities. */
export type SidebandMode = 'side-band' | 'side-band-64k';

/** A side-band channel. */
export type Band = 1 | 2 | 3;

/** Largest packet of each mode, length header and band byte included. */
export const SIDEBAND_MAX_PKT_BYTES: Readonly<Record<SidebandMode, number>> = Object.freeze({
  // DEFAULT_PACKET_MAX in git's sideband.h.
  'side-band': 1000,
  'side-band-64k': MAX_PKT_LINE_BYTES,
});

/** One demultiplexed packet: a band's payload (band byte removed), or the flush that ends the stream. */
export type SidebandPkt = { readonly kind: 'band'; readonly band: Band; readonly payload: Buffer } | { readonly kind: 'flush' };

/**
 * Encodes `bytes` on `band`, split into as many packets as the mode needs (none for empty input),
 * the way git's send_sideband() does.
 */
export function encodeSideband(band: Band, bytes: string | Uint8Array, mode: SidebandMode): Buffer {
  const data = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
  const perPacket = SIDEBAND_MAX_PKT_BYTES[mode] - PKT_HEADER_BYTES - 1;
  const packets = Math.ceil(data.byteLength / perPacket);
  const out = Buffer.allocUnsafe(data.byteLength + packets * (PKT_HEADER_BYTES + 1));
  let at = 0;
  for (let from = 0; from < data.byteLength; from += perPacket) {
    const chunk = data.subarray(from, Math.min(from + perPacket, data.byteLength));
    const length = chunk.byteLength + PKT_HEADER_BYTES + 1;
    out.write(length.toString(16).padStart(4, '0'), at, 'latin1');
    out[at + PKT_HEADER_BYTES] = band;
    out.set(chunk, at + PKT_HEADER_BYTES + 1);
    at += length;
  }
  return out;
}

/**
 * A progress or message text on band 2, carried as given: the caller formats it the way git does
 * (`"...: 41% (17000/42000)\r"` to redraw a line, a trailing LF to end one); the client prefixes
 * each line with `remote: `.
 */
export function encodeProgress(text: string, mode: SidebandMode): Buffer {
  return encodeSideband(2, text, mode);
}

/**
 * Demultiplexes a side-band pkt stream. Throws PKT_BAD_BAND on a packet without a valid band
 * byte, and PKT_ERR_PACKET on an `ERR` packet (never legal band data: it would be band 0x45).
 * Ends after the first flush, or when the packets end.
 */
export async function* demuxSideband(pkts: AsyncIterable<Pkt>): AsyncGenerator<SidebandPkt, void, undefined> {
  let index = 0;
  for await (const pkt of pkts) {
    if (pkt.kind === 'flush') {
      yield pkt;
      return;
    }
    if (pkt.kind !== 'data') {
      throw new PktLineError('PKT_BAD_BAND', `${pkt.kind} packet #${index} inside a side-band stream`, { packet: index, kind: pkt.kind });
    }
    const message = errPacketMessage(pkt);
    if (message !== undefined) {
      throw new PktLineError('PKT_ERR_PACKET', `the peer reported an error: ${message}`, { packet: index, message });
    }
    if (pkt.payload.length === 0) {
      throw new PktLineError('PKT_BAD_BAND', `side-band packet #${index} is empty and has no band byte`, { packet: index });
    }
    const band = pkt.payload[0];
    if (band !== 1 && band !== 2 && band !== 3) {
      throw new PktLineError('PKT_BAD_BAND', `side-band packet #${index} is on band ${band}; expected 1, 2 or 3`, {
        packet: index,
        expected: [1, 2, 3],
        actual: band,
      });
    }
    yield { kind: 'band', band, payload: pkt.payload.subarray(1) };
    index++;
  }
}
