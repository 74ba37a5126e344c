/**
 * The hold engine's errors. Failures (a bad key, a corrupt or oversized pack) are thrown as
 * HoldError; refusals of a caller's action (approve, reject, cancel) are returned as data
 * (`HoldRefusal`, types.ts), and carry the same codes so that the API, the log and docs/ERRORS.md
 * name them alike (`refusalError` turns one into a HoldError when it must travel as an error).
 */
import { PushgateError, type ClientDelivery } from '@pushgate/core';
import type { HoldRefusal, HoldRefusalCode } from './types';

/** Codes of failures of the hold store itself. */
export type HoldFailureCode =
  /** The hold key (config/env or `<dataDir>/hold-key`) is not the base64 of 32 bytes. */
  | 'HOLD_KEY_INVALID'
  /** A hold's pack was encrypted with another key than the one configured. */
  | 'HOLD_KEY_MISMATCH'
  /** The pack exceeds `maxHeldPackBytes`: nothing was kept. */
  | 'HOLD_PACK_TOO_LARGE'
  /** A stored chunk does not authenticate, one is missing, or the whole does not match its digest. */
  | 'HOLD_PACK_CORRUPT'
  /** What was given to `create` cannot be a hold (no commands, a malformed id). */
  | 'HOLD_BAD_INPUT';

/** Every code of the hold engine. */
export type HoldErrorCode = HoldFailureCode | HoldRefusalCode;

const DELIVERY: Record<HoldFailureCode, ClientDelivery> = {
  HOLD_KEY_INVALID: { kind: 'http', status: 500 },
  HOLD_KEY_MISMATCH: { kind: 'http', status: 500 },
  // The push cannot be held: git is told inside its report, nothing reaches the upstream.
  HOLD_PACK_TOO_LARGE: { kind: 'unpack' },
  HOLD_PACK_CORRUPT: { kind: 'http', status: 500 },
  HOLD_BAD_INPUT: { kind: 'http', status: 500 },
};

/** A failure of the hold engine (or a refusal carried as an error). */
export class HoldError extends PushgateError<HoldErrorCode, Record<string, unknown>> {
  constructor(code: HoldErrorCode, message: string, data: Record<string, unknown> = {}, cause?: unknown, delivery?: ClientDelivery) {
    super(code, message, { data, cause, delivery: delivery ?? (code in DELIVERY ? DELIVERY[code as HoldFailureCode] : { kind: 'http', status: 409 }) });
  }
}

/** A refusal as an error, for callers that answer through errors (its HTTP status kept). */
export function refusalError(refusal: HoldRefusal): HoldError {
  return new HoldError(refusal.code, refusal.message, {}, undefined, { kind: 'http', status: refusal.status });
}
