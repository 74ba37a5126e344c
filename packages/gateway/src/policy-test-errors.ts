/** Why `pushgate policy test` or `explain` could not judge a push (as opposed to judging it differently than expected). */
import { PushgateError } from '@pushgate/core';

/** Codes of PolicyTestError. */
export type PolicyTestErrorCode =
  /** The cases file is not valid YAML or breaks its schema (an unknown key, a missing `expect`, a ref not under `refs/`). */
  | 'POLICY_CASES_INVALID'
  /** A revision of a case or of `explain` names no object in the repository. */
  | 'POLICY_TEST_BAD_REVISION'
  /** A git command of the offline inspection (the upstream mirror's fetch, pack-objects) failed; the message has git's stderr. */
  | 'POLICY_TEST_GIT_FAILED';

/** A push that could not be set up for judging; the message names the file, case or command. */
export class PolicyTestError extends PushgateError<PolicyTestErrorCode, { readonly source: string }> {
  constructor(code: PolicyTestErrorCode, source: string, message: string, cause?: unknown) {
    super(code, message, { data: { source }, cause, delivery: { kind: 'http', status: 500 } });
  }
}
