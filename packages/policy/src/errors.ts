/**
 * Why a policy configuration cannot be used. These are raised when the configuration is loaded,
 * never while a push is judged (a push's decision is a value, never an error): a scanner or a rule
 * that cannot be built must stop the gateway from starting rather than let pushes through unjudged.
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

/** Codes of PolicyConfigError. */
export type PolicyConfigErrorCode =
  /** The `policy:` section does not parse: an unknown key, a hold without approvers, an id used twice, a pattern that does not compile. */
  'POLICY_CONFIG_INVALID';

/** The policy configuration cannot be used; `data.errors` names each problem by rule id and key. */
export class PolicyConfigError extends PushgateError<PolicyConfigErrorCode, { readonly errors: readonly string[] }> {
  constructor(errors: readonly string[]) {
    super('POLICY_CONFIG_INVALID', `policy configuration is invalid: ${errors.join('; ')}`, { data: { errors }, delivery: { kind: 'http', status: 500 } });
  }
}
