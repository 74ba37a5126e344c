/** Errors in pack data sent by a client: each code names one way a pack can be wrong. */
import { PushgateError } from '@pushgate/core';

/** The codes of PackError (listed in docs/ERRORS.md). */
export type PackErrorCode =
  | 'PACK_TRUNCATED'
  | 'PACK_BAD_SIGNATURE'
  | 'PACK_UNSUPPORTED_VERSION'
  | 'PACK_BAD_ENTRY_TYPE'
  | 'PACK_BAD_ENTRY_HEADER'
  | 'PACK_ZLIB_CORRUPT'
  | 'PACK_SIZE_MISMATCH'
  | 'PACK_OBJECT_COUNT_MISMATCH'
  | 'PACK_BAD_TRAILER'
  | 'PACK_TRAILING_GARBAGE'
  | 'PACK_DELTA_BAD_OFFSET'
  | 'PACK_DELTA_BASE_MISSING'
  | 'PACK_DELTA_CYCLE'
  | 'PACK_DELTA_BAD_INSTRUCTION'
  | 'PACK_DELTA_OUT_OF_RANGE'
  | 'PACK_DELTA_SIZE_MISMATCH'
  | 'PACK_BAD_INDEX';

/** A pack (or pack index) that is malformed. `data.offset` is the byte offset in the pack. */
export class PackError extends PushgateError<PackErrorCode, Record<string, unknown>> {
  constructor(code: PackErrorCode, message: string, data: Record<string, unknown> = {}, cause?: unknown) {
    super(code, message, { data, cause, delivery: { kind: 'unpack' } });
  }
}
