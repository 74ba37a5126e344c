/** Errors in pkt-line framing: each code names one way a pkt-line stream can be wrong. */
import { PushgateError, type ClientDelivery } from '@pushgate/core';

/** The codes of PktLineError (listed in docs/ERRORS.md). */
export type PktLineErrorCode =
  /** A length header that is not four hex digits, or the reserved lengths 0003. */
  | 'PKT_INVALID_LENGTH'
  /** The stream ended inside a packet. */
  | 'PKT_TRUNCATED'
  /** The peer sent `ERR <message>` instead of normal output. */
  | 'PKT_ERR_PACKET'
  /** A side-band packet on a band other than 1, 2 or 3 (or with no band byte). */
  | 'PKT_BAD_BAND';

/**
 * How wire errors reach the client: they happen while the request body is parsed, before any git
 * protocol output exists, so an HTTP status is the only channel. Limits that fire while parsing
 * (LIMIT_PKT_LINE, LIMIT_COMMANDS, LIMIT_SHALLOW, LIMIT_PUSH_OPTIONS) are LimitErrors given this delivery.
 */
export const REQUEST_PARSE_DELIVERY: ClientDelivery = Object.freeze({ kind: 'http', status: 400 });

/** A malformed pkt-line stream. `data.offset` is the byte offset in the stream where it went wrong. */
export class PktLineError extends PushgateError<PktLineErrorCode, Record<string, unknown>> {
  constructor(code: PktLineErrorCode, message: string, data: Record<string, unknown> = {}, cause?: unknown) {
    super(code, message, { data, cause, delivery: REQUEST_PARSE_DELIVERY });
  }
}
