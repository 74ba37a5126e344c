/**
 * Why a policy configuration cannot be used. These are raised when the configuration is loaded,
 * never while a push is judged: a scanner that cannot be built must stop the gateway from starting
 * rather than let pushes through unscanned.
 */
import { PushgateError } from '@pushgate/core';

/** Codes of SecretsConfigError. */
export type SecretsConfigErrorCode =
  /** A user-supplied regular expression (custom detector, allowlist pattern) or path glob does not compile. */
  | 'SECRETS_PATTERN_INVALID'
  /** A custom detector is malformed: no id, an id used twice, no usable keyword, a capture group the pattern lacks. */
  | 'SECRETS_DETECTOR_INVALID';

/** What a SecretsConfigError says about where. */
export interface SecretsConfigErrorData {
  /** The detector concerned, when the problem is in a custom detector. */
  readonly detector?: string;
  /** The offending pattern or glob, as configured. */
  readonly pattern?: string;
  /** Which setting: `detectors`, `allow.paths`, `allow.patterns`, … */
  readonly setting: string;
  readonly reason: string;
}

/** The secret scanner's configuration cannot be used. */
export class SecretsConfigError extends PushgateError<SecretsConfigErrorCode, SecretsConfigErrorData> {
  constructor(code: SecretsConfigErrorCode, message: string, data: SecretsConfigErrorData, cause?: unknown) {
    super(code, message, { data, cause, delivery: { kind: 'http', status: 500 } });
  }
}
