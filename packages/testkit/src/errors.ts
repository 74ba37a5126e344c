/** Errors of the test harness: each code names one way a harness operation can fail. */
import { PushgateError } from '@pushgate/core';

/** The codes of TestkitError. */
export type TestkitErrorCode =
  /** A git command run by the harness exited non-zero (or was killed). */
  | 'TESTKIT_GIT_FAILED'
  /** A repository name or path given to the harness is not a safe relative path. */
  | 'TESTKIT_BAD_REPO_PATH'
  /** An option given to a harness function is out of range. */
  | 'TESTKIT_BAD_OPTION';

/** A harness operation that failed; `data` carries the command, exit code and stderr where there is one. */
export class TestkitError extends PushgateError<TestkitErrorCode, Record<string, unknown>> {
  constructor(code: TestkitErrorCode, message: string, data: Record<string, unknown> = {}, cause?: unknown) {
    super(code, message, { data, cause, delivery: { kind: 'http', status: 500 } });
  }
}
